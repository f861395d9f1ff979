/**
 * Deterministic random numbers for the synthetic dataset. Every quantity is drawn from a stream keyed by
 * (seed, identity, clip, purpose), so a clip's content never depends on which other clips exist, on the order in
 * which clips are made, or on the number of workers.
 */

/** 32-bit FNV-1a over the key's parts, then mixed (murmur3 finaliser). */
function hashKey(parts: readonly (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = `${typeof p}:${p}|`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface Rng {
  /** Uniform in [0, 1). */
  (): number;
  /** Uniform in [a, b). */
  uniform(a: number, b: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** One element of a list. */
  pick<T>(items: readonly T[]): T;
}

/** A mulberry32 stream for the key. */
export function rngFor(...key: (number | string)[]): Rng {
  let s = hashKey(key);
  const next = (() => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as Rng;
  next.uniform = (a, b) => a + (b - a) * next();
  next.normal = () => {
    const u = 1 - next(), v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  next.int = (n) => Math.min(n - 1, Math.floor(next() * n));
  next.pick = (items) => items[next.int(items.length)]!;
  return next;
}

/**
 * Procedural backdrops of the synthetic clips: a spec drawn from the clip's random stream (small JSON, stored in
 * flame.npz and meta.json) and the pixels it describes at any size. Everything is in normalised coordinates
 * (0–1 across the image) so a spec looks the same at 64² and 512²; the pixels are a pure function of (spec, size).
 */
import type { Rng } from '../rng';

type RGB = [number, number, number];

export type BackgroundSpec =
  | { kind: 'gradient'; a: RGB; b: RGB; angle: number }
  | { kind: 'radial'; a: RGB; b: RGB; cx: number; cy: number; radius: number }
  | { kind: 'noise'; a: RGB; b: RGB; scale: number; octaves: number; seed: number }
  | { kind: 'stripes'; a: RGB; b: RGB; angle: number; period: number; softness: number }
  | { kind: 'checker'; a: RGB; b: RGB; angle: number; cell: number }
  | { kind: 'shapes'; a: RGB; b: RGB; angle: number; shapes: { type: 'circle' | 'rect'; x: number; y: number; r: number; colour: RGB; alpha: number }[] };

export const BACKGROUND_KINDS = ['gradient', 'radial', 'noise', 'stripes', 'checker', 'shapes'] as const;

/** A colour from hue / saturation / value (0–1), as 0–255 integers. */
function hsv(h: number, s: number, v: number): RGB {
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][((i % 6) + 6) % 6]!;
  return rgb.map((x) => Math.round(255 * x)) as RGB;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Draws a backdrop spec from a random stream. */
export function randomBackground(r: Rng): BackgroundSpec {
  const kind = r.pick(BACKGROUND_KINDS);
  const hue = r();
  const a = hsv(hue, r.uniform(0.05, 0.6), r.uniform(0.25, 0.95));
  const b = hsv((hue + r.uniform(-0.25, 0.25) + 1) % 1, r.uniform(0.05, 0.6), r.uniform(0.2, 0.95));
  const angle = round3(r.uniform(0, Math.PI));
  switch (kind) {
    case 'gradient':
      return { kind, a, b, angle };
    case 'radial':
      return { kind, a, b, cx: round3(r.uniform(0.2, 0.8)), cy: round3(r.uniform(0.1, 0.6)), radius: round3(r.uniform(0.5, 1.2)) };
    case 'noise':
      return { kind, a, b, scale: round3(r.uniform(3, 12)), octaves: 1 + r.int(3), seed: r.int(1 << 30) };
    case 'stripes':
      return { kind, a, b, angle, period: round3(r.uniform(0.04, 0.2)), softness: round3(r.uniform(0, 0.5)) };
    case 'checker':
      return { kind, a, b, angle, cell: round3(r.uniform(0.05, 0.2)) };
    case 'shapes': {
      const n = 3 + r.int(8);
      const shapes = Array.from({ length: n }, () => ({
        type: r.pick(['circle', 'rect'] as const), x: round3(r()), y: round3(r()), r: round3(r.uniform(0.04, 0.25)),
        colour: hsv(r(), r.uniform(0.1, 0.8), r.uniform(0.2, 1)), alpha: round3(r.uniform(0.4, 1)),
      }));
      return { kind, a, b, angle, shapes };
    }
  }
}

/** Integer lattice hash → [0, 1). */
function lattice(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 374761393) + Math.imul(y, 668265263) + Math.imul(seed, 2147483647);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

function valueNoise(x: number, y: number, seed: number): number {
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  const sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
  const v00 = lattice(x0, y0, seed), v10 = lattice(x0 + 1, y0, seed), v01 = lattice(x0, y0 + 1, seed), v11 = lattice(x0 + 1, y0 + 1, seed);
  return (v00 * (1 - sx) + v10 * sx) * (1 - sy) + (v01 * (1 - sx) + v11 * sx) * sy;
}

/** The backdrop at size × size, RGB interleaved. */
export function drawBackground(spec: BackgroundSpec, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const { a, b } = spec;
  const put = (i: number, t: number) => {
    const u = Math.min(1, Math.max(0, t));
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(a[c]! + (b[c]! - a[c]!) * u);
  };
  const ca = 'angle' in spec ? Math.cos(spec.angle) : 1, sa = 'angle' in spec ? Math.sin(spec.angle) : 0;
  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) / size;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size, i = y * size + x;
      const along = (u - 0.5) * ca + (v - 0.5) * sa, across = -(u - 0.5) * sa + (v - 0.5) * ca;
      switch (spec.kind) {
        case 'gradient':
        case 'shapes':
          put(i, along / Math.SQRT2 + 0.5);
          break;
        case 'radial':
          put(i, Math.hypot(u - spec.cx, v - spec.cy) / spec.radius);
          break;
        case 'noise': {
          let n = 0, w = 0, amp = 1, f = spec.scale;
          for (let o = 0; o < spec.octaves; o++) {
            n += amp * valueNoise(u * f, v * f, spec.seed + 101 * o);
            w += amp;
            amp *= 0.5;
            f *= 2;
          }
          put(i, n / w);
          break;
        }
        case 'stripes': {
          const s = Math.sin((2 * Math.PI * along) / spec.period);
          put(i, spec.softness > 0 ? 0.5 + 0.5 * Math.max(-1, Math.min(1, s / spec.softness)) : s >= 0 ? 1 : 0);
          break;
        }
        case 'checker':
          put(i, (Math.floor(along / spec.cell) + Math.floor(across / spec.cell)) & 1);
          break;
      }
    }
  }
  if (spec.kind === 'shapes') {
    for (const s of spec.shapes) {
      const x0 = Math.max(0, Math.floor((s.x - s.r) * size)), x1 = Math.min(size - 1, Math.ceil((s.x + s.r) * size));
      const y0 = Math.max(0, Math.floor((s.y - s.r) * size)), y1 = Math.min(size - 1, Math.ceil((s.y + s.r) * size));
      for (let y = y0; y <= y1; y++) {
        const v = (y + 0.5) / size;
        for (let x = x0; x <= x1; x++) {
          const u = (x + 0.5) / size;
          const inside = s.type === 'circle' ? Math.hypot(u - s.x, v - s.y) <= s.r : Math.abs(u - s.x) <= s.r && Math.abs(v - s.y) <= 0.6 * s.r;
          if (!inside) continue;
          const i = 3 * (y * size + x);
          for (let c = 0; c < 3; c++) out[i + c] = Math.round(out[i + c]! * (1 - s.alpha) + s.colour[c]! * s.alpha);
        }
      }
    }
  }
  return out;
}

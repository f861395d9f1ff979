/**
 * A deterministic, UNTRAINED demo Geometric Guidance Encoder: the exact §6 architecture with seeded random weights
 * generated here (no user files). conv_out is not zero (the reference zero-initialises it), so the features are
 * visible. Everything built from it carries the label "untrained demo weights".
 */
import type { StateDict } from '../onnx/blocks';
import { stateDictFromArrays } from '../onnx/blocks';
import { type EncoderWeights, type GGEBundle, writeGGEBundle } from './bundle';
import { GGE_CONFIG, GUIDANCE_TYPES, type GGEConfig, ggeRequiredKeys } from './model';
import { type GuidanceType } from '../../shared/attention';

export const DEMO_LABEL = 'untrained demo weights';

/** Small fast PRNG (splitmix32-style); the same seed gives the same weights on every platform. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return (z + 0.5) / 4294967296; // (0, 1)
  };
}

function normalFill(out: Float32Array, rand: () => number, mean: number, std: number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rand()));
    const t = 2 * Math.PI * rand();
    out[i] = mean + std * r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(t);
  }
  return out;
}

/**
 * Seeded weights for one encoder with scales that keep activations O(1) (so features and attention maps show
 * structure): He-like convs, norm weights ≈ 1, q/k scaled so attention is neither uniform nor one-hot.
 */
export function demoGGEStateDict(seed: number, cfg: GGEConfig = GGE_CONFIG): StateDict {
  const rand = seededRandom(seed);
  const entries: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const { key, shape } of ggeRequiredKeys(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    let mean = 0;
    let std: number;
    if (key.endsWith('.bias')) std = 0.02;
    else if (shape.length === 1) (mean = 1), (std = 0.1);
    else if (/to_[qk]\./.test(key)) std = 8 / Math.sqrt(fanIn);
    else if (key.startsWith('conv_in') || key.startsWith('blocks.')) std = 2.2 / Math.sqrt(fanIn);
    else std = 1 / Math.sqrt(fanIn);
    entries.push([key, { shape, data: normalFill(new Float32Array(n), rand, mean, std) }]);
  }
  return stateDictFromArrays(entries);
}

/** Seeds per guidance type: each encoder has its own weights, as in the reference. */
export const DEMO_SEEDS: Record<GuidanceType, number> = { depth: 0x6d70_0001, normal: 0x6d70_0002, render: 0x6d70_0003 };

export function demoGGEStateDicts(): Record<GuidanceType, StateDict> {
  return Object.fromEntries(GUIDANCE_TYPES.map((t) => [t, demoGGEStateDict(DEMO_SEEDS[t])])) as Record<GuidanceType, StateDict>;
}

/**
 * Writes the demo bundle (all three encoders, seeded weights) to `outDir`. Its manifest, every graph's metadata and
 * every result computed from it carry the label "untrained demo weights".
 */
export function createDemoGGE(outDir: string, opts: { log?: (text: string) => void } = {}): GGEBundle {
  const sds = demoGGEStateDicts();
  const weights = Object.fromEntries(
    GUIDANCE_TYPES.map((t) => [
      t,
      { stateDict: sds[t], name: `demo:${t}`, source: { kind: 'generated', generator: 'demoGGEStateDict', seed: DEMO_SEEDS[t] } },
    ]),
  ) as Record<GuidanceType, EncoderWeights>;
  return writeGGEBundle(weights, outDir, { label: DEMO_LABEL, createdBy: 'createDemoGGE', log: opts.log ?? (() => {}) });
}

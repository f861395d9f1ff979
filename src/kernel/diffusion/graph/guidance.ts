/**
 * STAND-IN for the Geometric Guidance Encoder (reference-pipeline.md §6) until the GGE module lands on main: one
 * graph holding the three encoders (weights under `depth.`, `normal.`, `render.` + the §6.4 keys), inputs
 * `depth`, `normal`, `render` (N, 3, H, W) in [0, 1], output `guidance` (N, C0, H/8, W/8) = the per-type features
 * summed in the order depth + normal + render (§6.3). Per type: conv_in · SiLU → blocks.0…5 (3×3, stride 2 at 1, 3,
 * 5) · SiLU → attentions.5 (the only transformer that runs: GN(eps 1e-6) → 1×1 proj_in → x + attn1(LN x) →
 * x + GEGLU(LN x) → 1×1 proj_out → + input; no cross-attention, no positional encoding) → conv_out.
 */
import { type BlockContext, conv2d, silu } from './ops';
import { spatialTransformer } from './unet';
import type { DiffusionArch } from './config';

export const GUIDANCE_IO = { out: 'guidance' } as const;

export function guidanceEncoder(ctx: BlockContext, x: string, prefix: string, arch: DiffusionArch): string {
  const { g } = ctx;
  const a = arch.guidance;
  const [b0, b1, b2, b3] = a.blockOutChannels as [number, number, number, number];
  let h = silu(g, conv2d(ctx, x, `${prefix}conv_in`, { inCh: a.inChannels, outCh: b0, kernel: 3 }));
  const plan: [number, number, number][] = [
    [b0, b0, 1],
    [b0, b1, 2],
    [b1, b1, 1],
    [b1, b2, 2],
    [b2, b2, 1],
    [b2, b3, 2],
  ];
  plan.forEach(([i, o, s], k) => (h = silu(g, conv2d(ctx, h, `${prefix}blocks.${k}`, { inCh: i, outCh: o, kernel: 3, stride: s, pad: 1 }))));
  h = spatialTransformer(ctx, h, `${prefix}attentions.5`, { channels: b3, heads: a.heads, groups: a.normGroups, eps: 1e-6, bank: { mode: 'none' } });
  return conv2d(ctx, h, `${prefix}conv_out`, { inCh: b3, outCh: arch.unet.blockOutChannels[0]!, kernel: 3 });
}

/** The fused graph: one input per guidance type, the summed features out. */
export function buildGuidanceEncoder(arch: DiffusionArch, ctx: BlockContext): void {
  const { g } = ctx;
  const S = arch.imageSize;
  let sum: string | null = null;
  for (const t of arch.guidance.types) {
    const x = g.input(t, 'float32', ['N', arch.guidance.inChannels, S, S]);
    const f = guidanceEncoder(ctx, x, `${t}.`, arch);
    sum = sum ? g.op('Add', [sum, f]) : f;
  }
  g.op('Identity', [sum!], {}, GUIDANCE_IO.out);
  g.output(GUIDANCE_IO.out, 'float32', ['N', arch.unet.blockOutChannels[0]!, S / 8, S / 8]);
}

/**
 * The Geometric Guidance Encoders inside the diffusion bundle (reference-pipeline.md §6): one graph holding the
 * three encoders (weights under `depth.`, `normal.`, `render.` + the §6.4 keys), inputs `depth`, `normal`, `render`
 * (N, 3, H, W) in [0, 1], output `guidance` (N, C0, H/8, W/8) = the per-type features summed in the order
 * depth + normal + render (§6.3). Each encoder is the GGE module's own `ggeEncoder` (src/kernel/gge/model.ts) with
 * ONNX Runtime's fused attention, at the bundle architecture's widths.
 */
import type { BlockContext } from './ops';
import type { DiffusionArch } from './config';
import { ggeEncoder, type GGEConfig } from '../../gge/model';

export const GUIDANCE_IO = { out: 'guidance' } as const;

/** The GGE configuration of a diffusion architecture (the tiny bundle uses small widths). */
export function ggeConfigOf(arch: DiffusionArch): GGEConfig {
  const a = arch.guidance;
  return {
    guidanceInputChannels: a.inChannels,
    blockOutChannels: a.blockOutChannels,
    guidanceEmbeddingChannels: arch.unet.blockOutChannels[0]!,
    attentionHeads: a.heads,
    normGroups: a.normGroups,
    normEps: 1e-6,
  };
}

export function guidanceEncoder(ctx: BlockContext, x: string, prefix: string, arch: DiffusionArch): string {
  return ggeEncoder(ctx, x, { prefix, cfg: ggeConfigOf(arch), attention: { fused: true } }).feature;
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

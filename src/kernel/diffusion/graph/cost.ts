/**
 * Analytic cost of one network call (multiply-accumulates of convolutions, linear layers and attention products;
 * norms, softmax and element-wise ops are memory-bound and left out), walking the same structure the graph
 * builders build. Used by the benchmark to extrapolate from the tiny bundle to the full-size models.
 */
import { type DiffusionArch, bankSites, latentSize } from './config';

export interface CallCost {
  /** Multiply-accumulates (1 MAC = 2 FLOPs). */
  macs: number;
  /** Of which attention score/value products (the part that grows with tokens²). */
  attentionMacs: number;
  /** Largest attention score tensor of the call, in float32 bytes, if materialised at once. */
  peakScoresBytes: number;
}

interface Acc extends CallCost {}

function conv(a: Acc, frames: number, side: number, cin: number, cout: number, k: number): void {
  a.macs += frames * side * side * cin * cout * k * k;
}

function attention(a: Acc, batch: number, heads: number, lq: number, lk: number, c: number): void {
  const m = 2 * batch * lq * lk * c;
  a.macs += m;
  a.attentionMacs += m;
  a.peakScoresBytes = Math.max(a.peakScoresBytes, 4 * batch * heads * lq * lk);
}

function resnet(a: Acc, f: number, side: number, cin: number, cout: number, tdim: number): void {
  conv(a, f, side, cin, cout, 3);
  conv(a, f, side, cout, cout, 3);
  if (cin !== cout) conv(a, f, side, cin, cout, 1);
  a.macs += tdim * cout;
}

function transformer(a: Acc, f: number, side: number, c: number, heads: number, text: { tokens: number; dim: number } | null, refTokens: number): void {
  const L = side * side;
  conv(a, f, side, c, c, 1); // proj_in
  a.macs += f * L * c * c; // to_q
  a.macs += 2 * f * L * c * c + 2 * refTokens * c * c; // to_k, to_v (the bank is projected once)
  attention(a, f, heads, L, L + refTokens, c);
  a.macs += f * L * c * c; // to_out
  if (text) {
    a.macs += 2 * f * L * c * c + 2 * text.tokens * text.dim * c;
    attention(a, f, heads, L, text.tokens, c);
  }
  a.macs += f * L * (c * 8 * c + 4 * c * c); // GEGLU FF
  conv(a, f, side, c, c, 1); // proj_out
}

function motion(a: Acc, f: number, side: number, c: number, heads: number): void {
  const L = side * side;
  a.macs += 2 * f * L * c * c; // proj_in, proj_out
  for (let i = 0; i < 2; i++) {
    a.macs += 4 * f * L * c * c;
    attention(a, L, heads, f, f, c);
  }
  a.macs += f * L * 12 * c * c;
}

/**
 * One call of the denoising UNet on `frames` frames (with the reference bank when `withBank`), or of the reference
 * UNet (`kind: 'reference'`, one image, up to its last bank tap).
 */
export function unetCallCost(arch: DiffusionArch, frames: number, opts: { kind?: 'denoising' | 'reference'; withBank?: boolean } = {}): CallCost {
  const a: Acc = { macs: 0, attentionMacs: 0, peakScoresBytes: 0 };
  const u = arch.unet;
  const ch = u.blockOutChannels;
  const n = ch.length;
  const s0 = latentSize(arch);
  const ref = opts.kind === 'reference';
  const f = ref ? 1 : frames;
  const T = 4 * u.timeEmbedDim;
  const sites = bankSites(arch);
  const bankLen = new Map(sites.map((s) => [s.path, !ref && opts.withBank ? s.side * s.side : 0]));
  const tr = (path: string, side: number, c: number) => transformer(a, f, side, c, u.heads, arch.text, bankLen.get(path) ?? 0);
  a.macs += u.timeEmbedDim * T + T * T;
  conv(a, f, s0, u.inChannels, ch[0]!, 3);
  const skips: number[] = [ch[0]!];
  let c = ch[0]!;
  for (let i = 0; i < n; i++) {
    const side = s0 >> i;
    for (let j = 0; j < u.layersPerBlock; j++) {
      resnet(a, f, side, c, ch[i]!, T);
      c = ch[i]!;
      if (u.crossAttnLevels[i]) tr(`down_blocks.${i}.attentions.${j}`, side, c);
      if (!ref) motion(a, f, side, c, u.motion.heads);
      skips.push(c);
    }
    if (i < n - 1) {
      conv(a, f, side >> 1, c, c, 3);
      skips.push(c);
    }
  }
  const sm = s0 >> (n - 1);
  resnet(a, f, sm, c, c, T);
  tr('mid_block.attentions.0', sm, c);
  if (!ref) motion(a, f, sm, c, u.motion.heads);
  resnet(a, f, sm, c, c, T);
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const side = s0 >> level;
    for (let j = 0; j <= u.layersPerBlock; j++) {
      resnet(a, f, side, c + skips.pop()!, ch[level]!, T);
      c = ch[level]!;
      if (u.crossAttnLevels[level]) tr(`up_blocks.${i}.attentions.${j}`, side, c);
      if (!ref) motion(a, f, side, c, u.motion.heads);
    }
    if (i < n - 1) conv(a, f, side * 2, c, c, 3);
  }
  if (!ref) conv(a, f, s0, ch[0]!, u.outChannels, 3);
  return a;
}

/** One VAE decode of `frames` frames. */
export function vaeDecodeCost(arch: DiffusionArch, frames = 1): CallCost {
  const a: Acc = { macs: 0, attentionMacs: 0, peakScoresBytes: 0 };
  const v = arch.vae;
  const rev = [...v.blockOutChannels].reverse();
  let side = latentSize(arch);
  let c = rev[0]!;
  conv(a, frames, side, v.latentChannels, c, 3);
  const mid = () => {
    resnet(a, frames, side, c, c, 0);
    a.macs += 4 * frames * side * side * c * c;
    attention(a, frames, 1, side * side, side * side, c);
    resnet(a, frames, side, c, c, 0);
  };
  mid();
  for (let i = 0; i < rev.length; i++) {
    for (let j = 0; j <= v.layersPerBlock; j++) {
      resnet(a, frames, side, c, rev[i]!, 0);
      c = rev[i]!;
    }
    if (i < rev.length - 1) {
      side *= 2;
      conv(a, frames, side, c, c, 3);
    }
  }
  conv(a, frames, side, c, 3, 3);
  return a;
}

/**
 * FVD feature network: Inception-I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?") as the common PyTorch
 * FVD code runs it, up to the 400 Kinetics logits, as an ONNX graph built from the user's weights through the safe
 * readers.
 *
 * Accepted weights: a state dict in the layout of piergiaj/pytorch-i3d `InceptionI3d(400)` — VideoGPT's and
 * common_metrics_on_video_quality's `i3d_pretrained_400.pt` (.pt/.pth, .safetensors, or gzip of either). Keys:
 *   <unit>.conv3d.weight [Cout, Cin, k, k, k] (no bias) and <unit>.bn.{weight,bias,running_mean,running_var} for the
 *   units Conv3d_1a_7x7, Conv3d_2b_1x1, Conv3d_2c_3x3 and Mixed_{3b,3c,4b,4c,4d,4e,4f,5b,5c}.{b0,b1a,b1b,b2a,b2b,b3b};
 *   logits.conv3d.{weight [400, 1024, 1, 1, 1], bias}. `num_batches_tracked` is ignored. The import is strict, as
 *   the reference's `load_state_dict` (strict=True): a missing, misshaped or unknown key is an error naming it.
 * NOT accepted: StyleGAN-V's `i3d_torchscript.pt` (also used by common_metrics_on_video_quality's "styleganv" mode).
 *   A TorchScript archive contains code (code/, constants.pkl) and is never evaluated here; its parameters are not in
 *   the pytorch-i3d layout either. Use `i3d_pretrained_400.pt`, or save a pytorch-i3d model's weights with
 *   `torch.save(model.state_dict(), 'i3d.pt')`. Numbers from the two networks are not interchangeable.
 *
 * Architecture (every Unit3D = TF-"SAME" zero padding → Conv3d → BatchNorm → ReLU; SAME per dim of size n, kernel k,
 * stride s: pad = max(k − s, 0) if n % s == 0 else max(k − n % s, 0), front = ⌊pad/2⌋, back = the rest):
 *   Conv3d_1a_7x7 (64, k7, s2) → MaxPool (k 1,3,3, s 1,2,2) → Conv3d_2b_1x1 (64) → Conv3d_2c_3x3 (192) →
 *   MaxPool (k 1,3,3, s 1,2,2) → Mixed_3b, 3c → MaxPool (k3, s2) → Mixed_4b–4f → MaxPool (k2, s2) → Mixed_5b, 5c →
 *   AvgPool (2, 7, 7), stride 1, unpadded → logits (1×1×1 conv + bias). Inception module: b0 1³ | b1a 1³ → b1b 3³ |
 *   b2a 1³ → b2b 3³ | MaxPool 3³ s1 → b3b 1³, concatenated. The max pools pad with zeros in the reference; here the
 *   pads are MaxPool's own (−∞), which gives the same values because every pooled tensor is a ReLU output (≥ 0) and
 *   SAME padding never makes a window of padding only.
 * Variants (the BN eps and how the logits' time axis is reduced differ between the two codes that load the file):
 *   'videogpt' (default): VideoGPT's fvd/pytorch_i3d.py, used by VideoGPT, TATS and common_metrics_on_video_quality's
 *     "videogpt" FVD with i3d_pretrained_400.pt: BatchNorm eps 1e-5, logits averaged over time → 400-d.
 *   'pytorch-i3d': piergiaj's original: eps 1e-3, logits (400 × T') flattened (T' = 1 for clips of 9–16 frames).
 * Input (both FVD codes): uint8/255, bilinear resize (align_corners=False, no antialias) of the shorter side to 224 and
 * the longer to ⌈side·224/shorter⌉, centre crop 224² (start ⌊(n − 224)/2⌋), (x − 0.5)·2; clips of T ≥ 9 frames
 * (16 in FVD): the time axis must still be ≥ 2 at the final 2×7×7 average pool.
 */
import { createHash } from 'node:crypto';
import { MagicPortraitError } from '../../errors';
import type { Image } from '../../io/image';
import { toSource, type SourceLike, type TensorStore } from '../../io';
import { ZipReader } from '../../io/zip';
import { GraphBuilder, floatAttr } from '../../onnx/graph';
import { createSession, ort } from '../../onnx/session';
import type { ClipFeatureNetwork } from '../evaluate';
import { WeightLookup, param, type BlockContext, type KeyCoverage, type StateDict } from './blocks';
import { loadStateDict, openWeights } from './weights';

export const I3D_SIZE = 224;
/** Frames per clip in FVD. */
export const I3D_CLIP = 16;
/** The shortest clip the network takes (the time axis must be ≥ 2 at the final average pool). */
export const I3D_MIN_CLIP = 9;
export const I3D_CLASSES = 400;

export type I3dVariant = 'videogpt' | 'pytorch-i3d';

export interface I3dOptions {
  /** Frames per clip (default 16). */
  clipLength?: number;
  /** Default 'videogpt' (see the file comment). */
  variant?: I3dVariant;
}

/** [b0, b1a, b1b, b2a, b2b, b3b] output channels of each inception module. */
const MIXED: readonly [string, readonly number[]][] = [
  ['Mixed_3b', [64, 96, 128, 16, 32, 32]],
  ['Mixed_3c', [128, 128, 192, 32, 96, 64]],
  ['Mixed_4b', [192, 96, 208, 16, 48, 64]],
  ['Mixed_4c', [160, 112, 224, 24, 64, 64]],
  ['Mixed_4d', [128, 128, 256, 24, 64, 64]],
  ['Mixed_4e', [112, 144, 288, 32, 64, 64]],
  ['Mixed_4f', [256, 160, 320, 32, 128, 128]],
  ['Mixed_5b', [256, 160, 320, 32, 128, 128]],
  ['Mixed_5c', [384, 192, 384, 48, 128, 128]],
];

type Dims3 = [number, number, number];
interface Act {
  y: string;
  ch: number;
  /** (T, H, W): SAME padding depends on the input size, which is fixed per graph. */
  size: Dims3;
}

/** TF-"SAME" padding of one dim: ONNX pads [begins…, ends…] and the output sizes. */
function samePads(size: Dims3, k: Dims3, s: Dims3): { pads: number[]; out: Dims3 } {
  const begin: number[] = [], end: number[] = [];
  const out = size.map((n, i) => {
    const p = n % s[i]! === 0 ? Math.max(k[i]! - s[i]!, 0) : Math.max(k[i]! - (n % s[i]!), 0);
    begin.push(Math.floor(p / 2));
    end.push(p - Math.floor(p / 2));
    return Math.floor((n + p - k[i]!) / s[i]!) + 1;
  }) as Dims3;
  return { pads: [...begin, ...end], out };
}

function unit3d(ctx: BlockContext, x: Act, name: string, outCh: number, k: number, eps: number, stride = 1): Act {
  const { g } = ctx;
  const kk: Dims3 = [k, k, k], ss: Dims3 = [stride, stride, stride];
  const { pads, out } = samePads(x.size, kk, ss);
  const conv = g.op('Conv', [x.y, param(ctx, `${name}.conv3d.weight`, [outCh, x.ch, k, k, k])], { kernel_shape: kk, strides: ss, pads, dilations: [1, 1, 1], group: 1 });
  const bn = (n: string) => param(ctx, `${name}.bn.${n}`, [outCh]);
  const y = g.op('BatchNormalization', [conv, bn('weight'), bn('bias'), bn('running_mean'), bn('running_var')], { epsilon: floatAttr(eps) });
  return { y: g.op('Relu', [y]), ch: outCh, size: out };
}

function maxPool(g: GraphBuilder, x: Act, k: Dims3, s: Dims3): Act {
  const { pads, out } = samePads(x.size, k, s);
  return { y: g.op('MaxPool', [x.y], { kernel_shape: k, strides: s, pads }), ch: x.ch, size: out };
}

function mixed(ctx: BlockContext, x: Act, n: string, o: readonly number[], eps: number): Act {
  const u = (from: Act, key: string, ch: number, k: number) => unit3d(ctx, from, `${n}.${key}`, ch, k, eps);
  const parts = [
    u(x, 'b0', o[0]!, 1),
    u(u(x, 'b1a', o[1]!, 1), 'b1b', o[2]!, 3),
    u(u(x, 'b2a', o[3]!, 1), 'b2b', o[4]!, 3),
    u(maxPool(ctx.g, x, [3, 3, 3], [1, 1, 1]), 'b3b', o[5]!, 1),
  ];
  return { y: ctx.g.op('Concat', parts.map((p) => p.y), { axis: 1 }), ch: parts.reduce((s, p) => s + p.ch, 0), size: x.size };
}

/**
 * Builds the graph. Inputs: `frames` (N·T, 3, H, W) RGB in [0, 1], consecutive T frames per clip; `sizes` int64 [4]
 * (N·T, 3, resized H, resized W); `crop` int64 [4] (top, left, top + 224, left + 224). Output `logits` (N, dim).
 */
export function buildI3dGraph(stateDict: StateDict, source: string, options: I3dOptions = {}): { bytes: Uint8Array; coverage: KeyCoverage; dim: number } {
  const T = options.clipLength ?? I3D_CLIP;
  const variant = options.variant ?? 'videogpt';
  if (!Number.isInteger(T) || T < I3D_MIN_CLIP) throw new MagicPortraitError(`I3D: clips need at least ${I3D_MIN_CLIP} frames (got ${T}).`, 'bad-argument');
  if (variant !== 'videogpt' && variant !== 'pytorch-i3d') throw new MagicPortraitError(`I3D: unknown variant '${variant}' (videogpt or pytorch-i3d).`, 'bad-argument');
  const eps = variant === 'videogpt' ? 1e-5 : 1e-3;
  const g = new GraphBuilder('fvd_i3d', 17);
  const w = new WeightLookup(stateDict, source);
  w.ignore(/\.num_batches_tracked$/, 'BatchNorm bookkeeping');
  const ctx: BlockContext = { g, w };
  const S = I3D_SIZE;
  const frames = g.input('frames', 'float32', ['F', 3, 'H', 'W']);
  const sizes = g.input('sizes', 'int64', [4]);
  const crop = g.input('crop', 'int64', [4]);
  const resized = g.op('Resize', [frames, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const starts = g.op('Slice', [crop, g.constI64('c0', [0]), g.constI64('c2', [2])]);
  const ends = g.op('Slice', [crop, g.constI64('c2', [2]), g.constI64('c4', [4])]);
  const cropped = g.op('Slice', [resized, starts, ends, g.constI64('hw_axes', [2, 3])]);
  const scaled = g.op('Mul', [g.op('Sub', [cropped, g.constF32('half', [0.5], [])]), g.constF32('two', [2], [])]);
  const clips = g.op('Transpose', [g.op('Reshape', [scaled, g.constI64('clip_shape', [-1, T, 3, S, S])])], { perm: [0, 2, 1, 3, 4] });
  let h: Act = { y: clips, ch: 3, size: [T, S, S] };
  h = unit3d(ctx, h, 'Conv3d_1a_7x7', 64, 7, eps, 2);
  h = maxPool(g, h, [1, 3, 3], [1, 2, 2]);
  h = unit3d(ctx, h, 'Conv3d_2b_1x1', 64, 1, eps);
  h = unit3d(ctx, h, 'Conv3d_2c_3x3', 192, 3, eps);
  h = maxPool(g, h, [1, 3, 3], [1, 2, 2]);
  for (const [n, o] of MIXED) {
    if (n === 'Mixed_4b') h = maxPool(g, h, [3, 3, 3], [2, 2, 2]);
    if (n === 'Mixed_5b') h = maxPool(g, h, [2, 2, 2], [2, 2, 2]);
    h = mixed(ctx, h, n, o, eps);
  }
  const [t5, h5, w5] = h.size;
  if (t5 < 2 || h5 !== 7 || w5 !== 7) throw new Error(`I3D: unexpected final size ${h.size.join('×')}`);
  const pooled = g.op('AveragePool', [h.y], { kernel_shape: [2, 7, 7], strides: [1, 1, 1] });
  const logits = g.op('Conv', [pooled, param(ctx, 'logits.conv3d.weight', [I3D_CLASSES, h.ch, 1, 1, 1]), param(ctx, 'logits.conv3d.bias', [I3D_CLASSES])], { kernel_shape: [1, 1, 1] });
  const tOut = t5 - 1;
  if (variant === 'videogpt') g.op('ReduceMean', [logits], { axes: [2, 3, 4], keepdims: 0 }, 'logits');
  else g.op('Flatten', [logits], { axis: 1 }, 'logits');
  const dim = variant === 'videogpt' ? I3D_CLASSES : I3D_CLASSES * tOut;
  g.output('logits', 'float32', ['N', dim]);
  const coverage = w.coverage();
  if (coverage.unexpected.length) {
    const list = coverage.unexpected.slice(0, 8).map((k) => `'${k}'`).join(', ');
    throw new MagicPortraitError(
      `${source}: ${coverage.unexpected.length} key(s) are not part of pytorch-i3d's InceptionI3d(400): ${list}${coverage.unexpected.length > 8 ? ', …' : ''}. ` +
        'The reference loads this file with strict=True and would refuse it too.',
      'unexpected-key',
    );
  }
  return { bytes: g.toBytes({ producer: 'magicportrait.metrics.i3d' }), coverage, dim };
}

/** The VideoGPT / StyleGAN-V resize: shorter side → 224, longer → ⌈side·224/shorter⌉, then the centre 224² crop. */
export function i3dResize(width: number, height: number): { height: number; width: number; top: number; left: number } {
  const scale = I3D_SIZE / Math.min(width, height);
  const [h, w] = height < width ? [I3D_SIZE, Math.ceil(width * scale)] : [Math.ceil(height * scale), I3D_SIZE];
  return { height: h, width: w, top: Math.floor((h - I3D_SIZE) / 2), left: Math.floor((w - I3D_SIZE) / 2) };
}

/** uint8 RGB(A) frames → (N, 3, H, W) float32 in [0, 1]. */
function framesInput(frames: readonly Image[]): { data: Float32Array; dims: number[] } {
  const { width: W, height: H } = frames[0]!;
  const n = W * H;
  const data = new Float32Array(frames.length * 3 * n);
  frames.forEach((im, f) => {
    if (im.width !== W || im.height !== H) throw new MagicPortraitError(`I3D: frames of a clip differ in size (${im.width}×${im.height} vs ${W}×${H}).`, 'bad-argument');
    const c = im.channels, d = im.data, o = f * 3 * n;
    for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) data[o + ch * n + i] = d[i * c + ch]! / 255;
  });
  return { data, dims: [frames.length, 3, H, W] };
}

/** Rejects TorchScript archives (they contain code) with the way out, before any pickle is read. */
async function rejectTorchScript(weights: SourceLike | TensorStore, label: string): Promise<void> {
  if (typeof weights !== 'string' && !(weights instanceof Uint8Array)) return;
  if (typeof weights === 'string' && !/\.(pt|pth|ckpt|bin)$/i.test(weights)) return;
  const src = await toSource(weights, label);
  try {
    const head = await src.read(0, Math.min(4, src.size));
    if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return;
    const names = [...(await ZipReader.open(src)).entries.keys()];
    if (names.some((n) => /^[^/]*\/?(code\/|constants\.pkl$)/.test(n)))
      throw new MagicPortraitError(
        `${label} is a TorchScript archive (it contains code/ and constants.pkl), e.g. StyleGAN-V's i3d_torchscript.pt: ` +
          'TorchScript is code and is never run here, and its parameters are not in the pytorch-i3d layout. Give the ' +
          "pytorch-i3d state dict i3d_pretrained_400.pt (VideoGPT / common_metrics_on_video_quality), or save one with " +
          "torch.save(InceptionI3d(400).state_dict(), 'i3d.pt') after loading your weights into piergiaj/pytorch-i3d's model.",
        'bad-file',
      );
  } finally {
    if (src !== (weights as unknown)) await src.close();
  }
}

/** The FVD feature network (400 Kinetics logits per clip) from the user's pytorch-i3d weights. */
export class I3dFeatures implements ClipFeatureNetwork {
  readonly name: string;
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly clipLength: number,
    readonly variant: I3dVariant,
    readonly key: string,
    readonly coverage: KeyCoverage,
    source: string,
  ) {
    this.name = `I3D logits (${variant} variant, ${clipLength}-frame clips, ${source})`;
  }

  /** `weights`: i3d_pretrained_400.pt (or any pytorch-i3d InceptionI3d(400) state dict), .safetensors, or a store. */
  static async load(weights: SourceLike | TensorStore, options: I3dOptions = {}): Promise<I3dFeatures> {
    const label = typeof weights === 'string' ? weights : 'I3D weights';
    await rejectTorchScript(weights, label);
    const opened = await openWeights(weights);
    try {
      const { stateDict } = await loadStateDict(opened.store, (k) => !k.endsWith('.num_batches_tracked'));
      return await I3dFeatures.build(stateDict, opened.store.file, options);
    } finally {
      await opened.close();
    }
  }

  /** Built from an in-memory state dict (tests, converters). */
  static async fromStateDict(stateDict: StateDict, source = 'state dict', options: I3dOptions = {}): Promise<I3dFeatures> {
    return I3dFeatures.build(stateDict, source, options);
  }

  private static async build(stateDict: StateDict, source: string, options: I3dOptions): Promise<I3dFeatures> {
    const T = options.clipLength ?? I3D_CLIP, variant = options.variant ?? 'videogpt';
    const built = buildI3dGraph(stateDict, source, { clipLength: T, variant });
    const session = await createSession(built.bytes, { label: `FVD I3D from ${source}` });
    return new I3dFeatures(session, built.dim, T, variant, createHash('sha256').update(built.bytes).digest('hex'), built.coverage, source);
  }

  /** `frames`: k·clipLength consecutive frames (k clips) → row-major (k × dim). */
  async features(frames: readonly Image[]): Promise<Float32Array> {
    const T = this.clipLength;
    if (frames.length % T !== 0) throw new MagicPortraitError(`I3D: ${frames.length} frames do not split into ${T}-frame clips.`, 'bad-argument');
    const out = new Float32Array((frames.length / T) * this.dim);
    for (let c = 0; c < frames.length / T; c++) {
      const clip = frames.slice(c * T, (c + 1) * T);
      const { data, dims } = framesInput(clip);
      const r = i3dResize(dims[3]!, dims[2]!);
      const i64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [v.length]);
      const res = await this.session.run({
        frames: new ort.Tensor('float32', data, dims),
        sizes: i64([T, 3, r.height, r.width]),
        crop: i64([r.top, r.left, r.top + I3D_SIZE, r.left + I3D_SIZE]),
      });
      out.set(res.logits!.data as Float32Array, c * this.dim);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

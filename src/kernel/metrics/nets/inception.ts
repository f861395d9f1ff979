/**
 * FID feature network: Inception-v3 as pytorch-fid runs it (the "FID Inception" with the TF-ported weights
 * `pt_inception-2015-12-05-6726825d.pth`), up to the 2048-d pool3 features, as an ONNX graph built from the user's
 * checkpoint through the safe readers.
 *
 * Architecture (torchvision Inception3 module names, which are the checkpoint keys):
 *   BasicConv2d = conv (no bias) → BatchNorm(eps 0.001) → ReLU; keys <name>.conv.weight, <name>.bn.{weight,bias,
 *   running_mean,running_var}.
 *   stem Conv2d_1a_3x3 (s2) → 2a_3x3 → 2b_3x3 (pad 1) → maxpool 3/2 → 3b_1x1 → 4a_3x3 → maxpool 3/2;
 *   Mixed_5b/5c/5d (A: 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avgpool→1x1), Mixed_6a (B: reduction), Mixed_6b–6e (C: factorised
 *   7x7), Mixed_7a (D: reduction), Mixed_7b (E, avgpool branch), Mixed_7c (E, **max**pool branch); global average
 *   pool. pytorch-fid's FID blocks (FIDInceptionA/C/E_1) use average pooling with count_include_pad=False, which is
 *   ONNX AveragePool's default; E_2 (Mixed_7c) pools with max. `fc.*` (1008 classes) is not used.
 * Input (pytorch-fid defaults resize_input=True, normalize_input=True): RGB in [0, 1] (uint8/255), resized to
 * 299×299 with bilinear interpolation (align_corners=False, no antialias), then 2x − 1.
 */
import { createHash } from 'node:crypto';
import { MagicPortraitError } from '../../errors';
import type { Image } from '../../io/image';
import type { SourceLike, TensorStore } from '../../io';
import { GraphBuilder, floatAttr } from '../../onnx/graph';
import { createSession, ort } from '../../onnx/session';
import type { FeatureNetwork } from '../evaluate';
import { WeightLookup, param, type BlockContext, type KeyCoverage, type StateDict } from './blocks';
import { loadStateDict, openWeights } from './weights';

export const INCEPTION_SIZE = 299;
export const INCEPTION_DIM = 2048;

type Conv = { name: string; k: [number, number]; stride?: number; pad?: [number, number] };

function basicConv(ctx: BlockContext, x: string, inCh: number, c: Conv): { y: string; ch: number } {
  const { g, w } = ctx;
  const key = `${c.name}.conv.weight`;
  const t = w.stateDict.get(key);
  if (!t) w.tensor(key, [0, inCh, c.k[0], c.k[1]]); // throws the missing-key error with the expected shape
  const [out, ci, kh, kw] = t!.shape as number[];
  if (t!.shape.length !== 4 || ci !== inCh || kh !== c.k[0] || kw !== c.k[1])
    throw new MagicPortraitError(`${w.source}: key '${key}' has shape [${t!.shape.join(', ')}], expected [C, ${inCh}, ${c.k[0]}, ${c.k[1]}].`, 'bad-shape');
  const s = c.stride ?? 1;
  const [ph, pw] = c.pad ?? [0, 0];
  const conv = g.op('Conv', [x, param(ctx, key, [out!, inCh, kh!, kw!])], { kernel_shape: [kh!, kw!], strides: [s, s], pads: [ph, pw, ph, pw], dilations: [1, 1], group: 1 });
  const bn = (n: string) => param(ctx, `${c.name}.bn.${n}`, [out!]);
  const y = g.op('BatchNormalization', [conv, bn('weight'), bn('bias'), bn('running_mean'), bn('running_var')], { epsilon: floatAttr(0.001) });
  return { y: g.op('Relu', [y]), ch: out! };
}

const k1: [number, number] = [1, 1];
const k3: [number, number] = [3, 3];
const p1: [number, number] = [1, 1];

function chain(ctx: BlockContext, x: string, inCh: number, convs: Conv[]): { y: string; ch: number } {
  let cur = { y: x, ch: inCh };
  for (const c of convs) cur = basicConv(ctx, cur.y, cur.ch, c);
  return cur;
}

function concat(g: GraphBuilder, parts: { y: string; ch: number }[]): { y: string; ch: number } {
  return { y: g.op('Concat', parts.map((p) => p.y), { axis: 1 }), ch: parts.reduce((s, p) => s + p.ch, 0) };
}

const avgPool3 = (g: GraphBuilder, x: string) => g.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 0 });
const maxPool = (g: GraphBuilder, x: string, s: number, p: number) => g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [s, s], pads: [p, p, p, p] });

function blockA(ctx: BlockContext, x: string, inCh: number, n: string) {
  return concat(ctx.g, [
    basicConv(ctx, x, inCh, { name: `${n}.branch1x1`, k: k1 }),
    chain(ctx, x, inCh, [{ name: `${n}.branch5x5_1`, k: k1 }, { name: `${n}.branch5x5_2`, k: [5, 5], pad: [2, 2] }]),
    chain(ctx, x, inCh, [{ name: `${n}.branch3x3dbl_1`, k: k1 }, { name: `${n}.branch3x3dbl_2`, k: k3, pad: p1 }, { name: `${n}.branch3x3dbl_3`, k: k3, pad: p1 }]),
    basicConv(ctx, avgPool3(ctx.g, x), inCh, { name: `${n}.branch_pool`, k: k1 }),
  ]);
}

function blockB(ctx: BlockContext, x: string, inCh: number, n: string) {
  return concat(ctx.g, [
    basicConv(ctx, x, inCh, { name: `${n}.branch3x3`, k: k3, stride: 2 }),
    chain(ctx, x, inCh, [{ name: `${n}.branch3x3dbl_1`, k: k1 }, { name: `${n}.branch3x3dbl_2`, k: k3, pad: p1 }, { name: `${n}.branch3x3dbl_3`, k: k3, stride: 2 }]),
    { y: maxPool(ctx.g, x, 2, 0), ch: inCh },
  ]);
}

function blockC(ctx: BlockContext, x: string, inCh: number, n: string) {
  const r: [number, number] = [1, 7], c: [number, number] = [7, 1];
  const pr: [number, number] = [0, 3], pc: [number, number] = [3, 0];
  return concat(ctx.g, [
    basicConv(ctx, x, inCh, { name: `${n}.branch1x1`, k: k1 }),
    chain(ctx, x, inCh, [{ name: `${n}.branch7x7_1`, k: k1 }, { name: `${n}.branch7x7_2`, k: r, pad: pr }, { name: `${n}.branch7x7_3`, k: c, pad: pc }]),
    chain(ctx, x, inCh, [
      { name: `${n}.branch7x7dbl_1`, k: k1 },
      { name: `${n}.branch7x7dbl_2`, k: c, pad: pc },
      { name: `${n}.branch7x7dbl_3`, k: r, pad: pr },
      { name: `${n}.branch7x7dbl_4`, k: c, pad: pc },
      { name: `${n}.branch7x7dbl_5`, k: r, pad: pr },
    ]),
    basicConv(ctx, avgPool3(ctx.g, x), inCh, { name: `${n}.branch_pool`, k: k1 }),
  ]);
}

function blockD(ctx: BlockContext, x: string, inCh: number, n: string) {
  return concat(ctx.g, [
    chain(ctx, x, inCh, [{ name: `${n}.branch3x3_1`, k: k1 }, { name: `${n}.branch3x3_2`, k: k3, stride: 2 }]),
    chain(ctx, x, inCh, [
      { name: `${n}.branch7x7x3_1`, k: k1 },
      { name: `${n}.branch7x7x3_2`, k: [1, 7], pad: [0, 3] },
      { name: `${n}.branch7x7x3_3`, k: [7, 1], pad: [3, 0] },
      { name: `${n}.branch7x7x3_4`, k: k3, stride: 2 },
    ]),
    { y: maxPool(ctx.g, x, 2, 0), ch: inCh },
  ]);
}

function blockE(ctx: BlockContext, x: string, inCh: number, n: string, pool: 'avg' | 'max') {
  const { g } = ctx;
  const split = (from: { y: string; ch: number }, base: string) =>
    concat(g, [basicConv(ctx, from.y, from.ch, { name: `${base}a`, k: [1, 3], pad: [0, 1] }), basicConv(ctx, from.y, from.ch, { name: `${base}b`, k: [3, 1], pad: [1, 0] })]);
  const b3 = basicConv(ctx, x, inCh, { name: `${n}.branch3x3_1`, k: k1 });
  const bd = chain(ctx, x, inCh, [{ name: `${n}.branch3x3dbl_1`, k: k1 }, { name: `${n}.branch3x3dbl_2`, k: k3, pad: p1 }]);
  const pooled = pool === 'avg' ? avgPool3(g, x) : maxPool(g, x, 1, 1);
  return concat(g, [
    basicConv(ctx, x, inCh, { name: `${n}.branch1x1`, k: k1 }),
    split(b3, `${n}.branch3x3_2`),
    split(bd, `${n}.branch3x3dbl_3`),
    basicConv(ctx, pooled, inCh, { name: `${n}.branch_pool`, k: k1 }),
  ]);
}

/** Builds the graph: input `images` (N, 3, H, W) RGB in [0, 1]; output `pool3` (N, 2048). */
export function buildInceptionGraph(stateDict: StateDict, source: string): { bytes: Uint8Array; coverage: KeyCoverage; dim: number } {
  const g = new GraphBuilder('fid_inception_v3', 17);
  const w = new WeightLookup(stateDict, source);
  w.ignore('fc.', 'classifier (FID uses the pool3 features)');
  w.ignore('AuxLogits.', 'auxiliary classifier (not on the FID path)');
  w.ignore(/\.num_batches_tracked$/, 'BatchNorm bookkeeping');
  const ctx: BlockContext = { g, w };
  const x = g.input('images', 'float32', ['N', 3, 'H', 'W']);
  const shape = g.op('Shape', [x]);
  const nc = g.op('Slice', [shape, g.constI64('s0', [0]), g.constI64('s2', [2])]);
  const sizes = g.op('Concat', [nc, g.constI64('hw', [INCEPTION_SIZE, INCEPTION_SIZE])], { axis: 0 });
  const resized = g.op('Resize', [x, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  let h = { y: g.op('Sub', [g.op('Mul', [resized, g.constF32('two', [2], [])]), g.constF32('one', [1], [])]), ch: 3 };
  h = basicConv(ctx, h.y, h.ch, { name: 'Conv2d_1a_3x3', k: k3, stride: 2 });
  h = basicConv(ctx, h.y, h.ch, { name: 'Conv2d_2a_3x3', k: k3 });
  h = basicConv(ctx, h.y, h.ch, { name: 'Conv2d_2b_3x3', k: k3, pad: p1 });
  h = { y: maxPool(g, h.y, 2, 0), ch: h.ch };
  h = basicConv(ctx, h.y, h.ch, { name: 'Conv2d_3b_1x1', k: k1 });
  h = basicConv(ctx, h.y, h.ch, { name: 'Conv2d_4a_3x3', k: k3 });
  h = { y: maxPool(g, h.y, 2, 0), ch: h.ch };
  for (const n of ['Mixed_5b', 'Mixed_5c', 'Mixed_5d']) h = blockA(ctx, h.y, h.ch, n);
  h = blockB(ctx, h.y, h.ch, 'Mixed_6a');
  for (const n of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) h = blockC(ctx, h.y, h.ch, n);
  h = blockD(ctx, h.y, h.ch, 'Mixed_7a');
  h = blockE(ctx, h.y, h.ch, 'Mixed_7b', 'avg');
  h = blockE(ctx, h.y, h.ch, 'Mixed_7c', 'max');
  const pooled = g.op('GlobalAveragePool', [h.y]);
  g.op('Flatten', [pooled], { axis: 1 }, 'pool3');
  g.output('pool3', 'float32', ['N', h.ch]);
  const coverage = w.coverage();
  return { bytes: g.toBytes({ producer: 'magicportrait.metrics.inception' }), coverage, dim: h.ch };
}

/** uint8 RGB(A) frames → (N, 3, H, W) float32 in [0, 1] (torchvision ToTensor). */
export function inceptionInput(frames: readonly Image[]): { data: Float32Array; dims: number[] } {
  const { width: W, height: H } = frames[0]!;
  const n = W * H;
  const data = new Float32Array(frames.length * 3 * n);
  frames.forEach((im, f) => {
    if (im.width !== W || im.height !== H) throw new MagicPortraitError(`Inception: frames differ in size (${im.width}×${im.height} vs ${W}×${H}).`, 'bad-argument');
    const c = im.channels, d = im.data, o = f * 3 * n;
    for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) data[o + ch * n + i] = d[i * c + ch]! / 255;
  });
  return { data, dims: [frames.length, 3, H, W] };
}

/** The FID feature network (pool3, 2048-d) from the user's pytorch-fid Inception weights. */
export class InceptionFeatures implements FeatureNetwork {
  readonly name: string;
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly key: string,
    readonly coverage: KeyCoverage,
    source: string,
  ) {
    this.name = `Inception-v3 pool3 (pytorch-fid layout, ${source})`;
  }

  /** `weights`: pt_inception-2015-12-05-*.pth (or any torchvision Inception3 state dict), .safetensors, or a store. */
  static async load(weights: SourceLike | TensorStore): Promise<InceptionFeatures> {
    const opened = await openWeights(weights);
    try {
      const { stateDict } = await loadStateDict(opened.store, (k) => !k.startsWith('fc.') && !k.startsWith('AuxLogits.'));
      const built = buildInceptionGraph(stateDict, opened.store.file);
      const session = await createSession(built.bytes, { label: `FID Inception from ${opened.store.file}` });
      return new InceptionFeatures(session, built.dim, createHash('sha256').update(built.bytes).digest('hex'), built.coverage, opened.store.file);
    } finally {
      await opened.close();
    }
  }

  /** Built from an in-memory state dict (tests, converters). */
  static async fromStateDict(stateDict: StateDict, source = 'state dict'): Promise<InceptionFeatures> {
    const built = buildInceptionGraph(stateDict, source);
    const session = await createSession(built.bytes, { label: `FID Inception (${source})` });
    return new InceptionFeatures(session, built.dim, createHash('sha256').update(built.bytes).digest('hex'), built.coverage, source);
  }

  async features(frames: readonly Image[]): Promise<Float32Array> {
    if (!frames.length) return new Float32Array(0);
    const { data, dims } = inceptionInput(frames);
    const out = await this.session.run({ images: new ort.Tensor('float32', data, dims) });
    return out.pool3!.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

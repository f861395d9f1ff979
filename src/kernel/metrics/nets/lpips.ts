/**
 * LPIPS (Zhang et al. 2018, the `lpips` package v0.1: lpips=True, spatial=False, eval mode) as an ONNX graph built
 * from the user's weights through the safe readers.
 *
 * Weights: the backbone as torchvision saves it (`alexnet-owt-7be5be79.pth` / `vgg16-397923af.pth`:
 * `features.<i>.{weight,bias}`; `classifier.*` is ignored) and the linear layers as the lpips package ships them
 * (`weights/v0.1/alex.pth` / `vgg.pth`: `lin<k>.model.1.weight`, shape (1, C, 1, 1)); or one whole
 * `lpips.LPIPS(...).state_dict()` (`net.slice<s>.<i>.*`, `lin<k>.*` and the duplicate `lins.<k>.*`,
 * `scaling_layer.{shift,scale}`). Channel counts are taken from the weights and checked along the chain.
 *
 * Forward (per image pair): x = uint8/127.5 − 1 (lpips.im2tensor); x ← (x − shift)/scale; backbone taps
 * (alex: the ReLU after convs 0, 3, 6, 8, 10; vgg16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3); per tap
 * f/(‖f‖₂ over channels + 1e-10), squared difference, 1×1 linear (no bias), mean over H×W; sum over the taps.
 */
import { createHash } from 'node:crypto';
import { MagicPortraitError } from '../../errors';
import type { Image } from '../../io/image';
import { GraphBuilder } from '../../onnx/graph';
import { createSession, ort } from '../../onnx/session';
import { WeightLookup, param, type BlockContext, type KeyCoverage, type StateDict } from './blocks';
import { loadStateDict, openWeights } from './weights';
import type { SourceLike, TensorStore } from '../../io';

export type LpipsNet = 'alex' | 'vgg';

export const LPIPS_SHIFT = [-0.03, -0.088, -0.188] as const;
export const LPIPS_SCALE = [0.458, 0.448, 0.45] as const;

type Layer = { conv: number; k: number; stride: number; pad: number } | { pool: number; k: number; stride: number };

const ALEX: Layer[] = [
  { conv: 0, k: 11, stride: 4, pad: 2 },
  { pool: 2, k: 3, stride: 2 },
  { conv: 3, k: 5, stride: 1, pad: 2 },
  { pool: 5, k: 3, stride: 2 },
  { conv: 6, k: 3, stride: 1, pad: 1 },
  { conv: 8, k: 3, stride: 1, pad: 1 },
  { conv: 10, k: 3, stride: 1, pad: 1 },
];
const ALEX_TAPS = [0, 3, 6, 8, 10];
const ALEX_SLICE_END = [2, 5, 8, 10, 12]; // slice s holds features[end(s−1) .. end(s))

function vggLayers(): Layer[] {
  const cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512];
  const out: Layer[] = [];
  let i = 0;
  for (const v of cfg) {
    if (v === 'M') out.push({ pool: i++, k: 2, stride: 2 });
    else {
      out.push({ conv: i, k: 3, stride: 1, pad: 1 });
      i += 2;
    }
  }
  return out;
}
const VGG = vggLayers();
const VGG_TAPS = [2, 7, 14, 21, 28];
const VGG_SLICE_END = [4, 9, 16, 23, 30];

const ARCH: Record<LpipsNet, { layers: Layer[]; taps: number[]; sliceEnd: number[] }> = {
  alex: { layers: ALEX, taps: ALEX_TAPS, sliceEnd: ALEX_SLICE_END },
  vgg: { layers: VGG, taps: VGG_TAPS, sliceEnd: VGG_SLICE_END },
};

/** Where the user's LPIPS weights are. */
export interface LpipsWeights {
  /** Default: inferred from the backbone keys (a conv at feature index 28 means VGG16). */
  net?: LpipsNet;
  /** The lpips linear-layer file (weights/v0.1/<net>.pth), or a whole LPIPS state dict (then `backbone` may be omitted). */
  linear: SourceLike | TensorStore;
  /** The torchvision backbone checkpoint (features.* keys); omit when `linear` is a whole LPIPS state dict. */
  backbone?: SourceLike | TensorStore;
}

function sliceOf(arch: { sliceEnd: number[] }, i: number): number {
  return arch.sliceEnd.findIndex((end) => i < end) + 1;
}

/** Builds the LPIPS graph: inputs a, b (N, 3, H, W) in [−1, 1]; outputs distance (N) and layers (N, 5). */
export function buildLpipsGraph(stateDict: StateDict, source: string, opts: { net?: LpipsNet } = {}): { bytes: Uint8Array; coverage: KeyCoverage; net: LpipsNet; channels: number[] } {
  const keys = [...stateDict.keys()];
  const moduleLayout = keys.some((k) => k.startsWith('net.slice'));
  const tvLayout = keys.some((k) => k.startsWith('features.'));
  if (!moduleLayout && !tvLayout)
    throw new MagicPortraitError(
      `${source}: no LPIPS backbone weights (expected torchvision 'features.<i>.weight' or lpips 'net.slice<s>.<i>.weight' keys; it has ${keys.slice(0, 4).join(', ') || 'no keys'}). ` +
        'Give the torchvision AlexNet/VGG16 checkpoint as the backbone.',
      'missing-key',
    );
  const hasConv = (i: number) => keys.some((k) => k === `features.${i}.weight` || new RegExp(`^net\\.slice\\d\\.${i}\\.weight$`).test(k));
  const net: LpipsNet = opts.net ?? (hasConv(28) ? 'vgg' : 'alex');
  const arch = ARCH[net];
  const convKey = (i: number) => (moduleLayout ? `net.slice${sliceOf(arch, i)}.${i}` : `features.${i}`);
  const linKey = (k: number) => (stateDict.has(`lin${k}.model.1.weight`) ? `lin${k}.model.1.weight` : `lins.${k}.model.1.weight`);

  const g = new GraphBuilder(`lpips_${net}`, 17);
  const w = new WeightLookup(stateDict, source);
  const ctx: BlockContext = { g, w };
  w.ignore('classifier.', 'torchvision classifier head (LPIPS uses the convolutional features only)');
  w.ignore(/^lins\.\d+\.model\.1\.weight$/, 'duplicate of lin<k> (LPIPS registers the linear layers twice)');

  const a = g.input('a', 'float32', ['N', 3, 'H', 'W']);
  const b = g.input('b', 'float32', ['N', 3, 'H', 'W']);
  let shift: string, scale: string;
  if (stateDict.has('scaling_layer.shift')) {
    shift = param(ctx, 'scaling_layer.shift', [1, 3, 1, 1]);
    scale = param(ctx, 'scaling_layer.scale', [1, 3, 1, 1]);
  } else {
    shift = g.constF32('shift', LPIPS_SHIFT, [1, 3, 1, 1]);
    scale = g.constF32('scale', LPIPS_SCALE, [1, 3, 1, 1]);
  }

  // Channel counts from the weights, checked along the chain.
  const channels: number[] = [];
  const convShape = new Map<number, number[]>();
  let cin = 3;
  for (const l of arch.layers) {
    if (!('conv' in l)) continue;
    const key = `${convKey(l.conv)}.weight`;
    const t = stateDict.get(key);
    if (!t) w.tensor(key, [0, cin, l.k, l.k]); // throws the missing-key error with the expected shape
    const [cout, ci, kh, kw] = t!.shape as number[];
    if (t!.shape.length !== 4 || ci !== cin || kh !== l.k || kw !== l.k)
      throw new MagicPortraitError(`${source}: key '${key}' has shape [${t!.shape.join(', ')}], expected [C, ${cin}, ${l.k}, ${l.k}] for ${net}.`, 'bad-shape');
    convShape.set(l.conv, [cout!, cin, l.k, l.k]);
    if (arch.taps.includes(l.conv)) channels.push(cout!);
    cin = cout!;
  }

  const backbone = (x: string): string[] => {
    let h = g.op('Div', [g.op('Sub', [x, shift]), scale]);
    const taps: string[] = [];
    for (const l of arch.layers) {
      if ('pool' in l) {
        h = g.op('MaxPool', [h], { kernel_shape: [l.k, l.k], strides: [l.stride, l.stride], pads: [0, 0, 0, 0], ceil_mode: 0 });
        continue;
      }
      const shape = convShape.get(l.conv)!;
      const key = convKey(l.conv);
      h = g.op('Relu', [
        g.op('Conv', [h, param(ctx, `${key}.weight`, shape), param(ctx, `${key}.bias`, [shape[0]!])], {
          kernel_shape: [l.k, l.k],
          strides: [l.stride, l.stride],
          pads: [l.pad, l.pad, l.pad, l.pad],
          dilations: [1, 1],
          group: 1,
        }),
      ]);
      if (arch.taps.includes(l.conv)) taps.push(h);
    }
    return taps;
  };
  const fa = backbone(a);
  const fb = backbone(b);
  const eps = g.constF32('eps', [1e-10], []);
  const axis1 = g.constI64('axis1', [1]);
  const unit = (f: string) => g.op('Div', [f, g.op('Add', [g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [f, f]), axis1], { keepdims: 1 })]), eps])]);
  const terms: string[] = [];
  for (let k = 0; k < fa.length; k++) {
    const d = g.op('Sub', [unit(fa[k]!), unit(fb[k]!)]);
    const lin = param(ctx, linKey(k), [1, channels[k]!, 1, 1]);
    const l = g.op('Conv', [g.op('Mul', [d, d]), lin], { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 });
    terms.push(g.op('Reshape', [g.op('ReduceMean', [l], { axes: [2, 3], keepdims: 0 }), g.constI64('n1', [-1, 1])]));
  }
  const layers = g.op('Concat', terms, { axis: 1 }, 'layers');
  g.op('ReduceSum', [layers, axis1], { keepdims: 0 }, 'distance');
  g.output('distance', 'float32', ['N']);
  g.output('layers', 'float32', ['N', terms.length]);
  return { bytes: g.toBytes({ producer: 'magicportrait.metrics.lpips', net }), coverage: w.coverage(), net, channels };
}

/** uint8 RGB(A) → (1, 3, H, W) float32 in [−1, 1] as lpips.im2tensor computes it (x/127.5 − 1 in float64). */
export function lpipsInput(image: Image, out = new Float32Array(3 * image.width * image.height), offset = 0): Float32Array {
  const n = image.width * image.height, c = image.channels, d = image.data;
  for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) out[offset + ch * n + i] = d[i * c + ch]! / 127.5 - 1;
  return out;
}

/** An LPIPS network ready to run (one ONNX Runtime session). */
export class Lpips {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly net: LpipsNet,
    /** Which checkpoint keys were used / ignored (printable with the blocks' formatCoverage). */
    readonly coverage: KeyCoverage,
    readonly channels: number[],
    /** SHA-256 of the built model (architecture + every weight): the cache key of results computed with it. */
    readonly key: string,
  ) {}

  /** Builds the graph from the user's weights (see LpipsWeights) and opens a session. */
  static async load(weights: LpipsWeights): Promise<Lpips> {
    const opened = [await openWeights(weights.linear)];
    if (weights.backbone) opened.push(await openWeights(weights.backbone));
    try {
      const merged = new Map<string, { dtype: string; shape: readonly number[]; float32(): Float32Array }>();
      const sources: string[] = [];
      for (const { store } of opened) {
        sources.push(store.file);
        // The classifier of a torchvision checkpoint is ~95 % of its bytes and never used: not read.
        const { stateDict } = await loadStateDict(store, (k) => !k.startsWith('classifier.'));
        for (const [k, v] of stateDict) {
          if (merged.has(k)) throw new MagicPortraitError(`LPIPS weights: key '${k}' is in both ${sources.join(' and ')}.`, 'bad-file');
          merged.set(k, v);
        }
        for (const k of store.keys()) if (k.startsWith('classifier.')) merged.set(k, { dtype: 'float32', shape: store.info(k).shape, float32: () => new Float32Array(0) });
      }
      const source = sources.join(' + ');
      const built = buildLpipsGraph(merged, source, { net: weights.net });
      const missingLin = built.channels.length !== 5;
      if (missingLin) throw new MagicPortraitError(`${source}: expected 5 LPIPS taps, found ${built.channels.length}.`, 'bad-file');
      const session = await createSession(built.bytes, { label: `LPIPS (${built.net}) from ${source}` });
      return new Lpips(session, built.net, built.coverage, built.channels, createHash('sha256').update(built.bytes).digest('hex'));
    } finally {
      for (const o of opened) await o.close();
    }
  }

  /** Distances for pairs of equally sized frames (one batch), with the five per-tap terms. */
  async run(a: readonly Image[], b: readonly Image[]): Promise<{ distance: Float32Array; layers: Float32Array }> {
    if (a.length !== b.length || !a.length) throw new MagicPortraitError(`LPIPS needs pairs: got ${a.length} and ${b.length} frames.`, 'bad-argument');
    const { width: W, height: H } = a[0]!;
    for (const im of [...a, ...b])
      if (im.width !== W || im.height !== H) throw new MagicPortraitError(`LPIPS: frames differ in size (${im.width}×${im.height} vs ${W}×${H}).`, 'bad-argument');
    const per = 3 * W * H;
    const xa = new Float32Array(a.length * per), xb = new Float32Array(a.length * per);
    a.forEach((im, i) => lpipsInput(im, xa, i * per));
    b.forEach((im, i) => lpipsInput(im, xb, i * per));
    const dims = [a.length, 3, H, W];
    const out = await this.session.run({ a: new ort.Tensor('float32', xa, dims), b: new ort.Tensor('float32', xb, dims) });
    return { distance: out.distance!.data as Float32Array, layers: out.layers!.data as Float32Array };
  }

  async distance(a: Image, b: Image): Promise<number> {
    return (await this.run([a], [b])).distance[0]!;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

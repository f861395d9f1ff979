/**
 * DECA's coarse encoder `E_flame` (reference-pipeline.md §2.2) as an ONNX graph, imported from the user's
 * `deca_model.tar` (the `E_flame` state dict inside it): a torchvision-style ResNet-50 (stride on each bottleneck's
 * 3×3 conv, BatchNorm in eval mode, eps 1e-5) → AvgPool2d(7, 1) → Linear(2048→1024) → ReLU → Linear(1024→236).
 * Input `image` (N, 3, 224, 224) RGB in [0, 1] without normalisation; output `code` (N, 236) (§2.2 table).
 * Key coverage: every E_flame key used except BatchNorm's `num_batches_tracked` (ignored); E_detail / D_detail are
 * other modules of the same file (not part of this graph).
 */
import { basename } from 'node:path';
import { MagicPortraitError } from '../errors';
import { GraphBuilder, floatAttr } from '../onnx/graph';
import { type BlockContext, type KeyCoverage, WeightLookup, conv2d, formatCoverage, linear, loadStateDict, param } from '../onnx/blocks';
import { openTorchCheckpoint } from '../io/torch-checkpoint';
import { toFloat32 } from '../io/ndarray';

export interface DecaEncoderArch {
  stem: number;
  widths: [number, number, number, number];
  blocks: [number, number, number, number];
  hidden: number;
  outDim: number;
  imageSize: number;
}

export const DECA_E_FLAME_ARCH: DecaEncoderArch = { stem: 64, widths: [64, 128, 256, 512], blocks: [3, 4, 6, 3], hidden: 1024, outDim: 236, imageSize: 224 };

/** The file name `magicportrait import-deca … --out DIR` writes (and the fit's encoder folder expects). */
export const DECA_ENCODER_FILE = 'deca_e_flame.onnx';

export interface DecaCode {
  shape: Float32Array;
  tex: Float32Array;
  exp: Float32Array;
  /** [global (3), jaw (3)], axis-angle. */
  pose: Float32Array;
  /** Orthographic [s, tx, ty] for the crop. */
  cam: Float32Array;
  /** (9, 3) row-major: band k, colour c. */
  light: Float32Array;
}

/** The §2.2 code layout: shape 100 | tex 50 | exp 50 | pose 6 | cam 3 | light 27. */
export function splitDecaCode(code: ArrayLike<number>): DecaCode {
  if (code.length !== 236) throw new MagicPortraitError(`A DECA code has 236 values, got ${code.length}.`, 'bad-shape');
  const at = (a: number, b: number) => Float32Array.from({ length: b - a }, (_, i) => code[a + i]!);
  return { shape: at(0, 100), tex: at(100, 150), exp: at(150, 200), pose: at(200, 206), cam: at(206, 209), light: at(209, 236) };
}

function batchNorm(ctx: BlockContext, x: string, key: string, c: number): string {
  const p = (n: string) => param(ctx, `${key}.${n}`, [c]);
  return ctx.g.op('BatchNormalization', [x, p('weight'), p('bias'), p('running_mean'), p('running_var')], { epsilon: floatAttr(1e-5) });
}

const relu = (ctx: BlockContext, x: string) => ctx.g.op('Relu', [x]);

function bottleneck(ctx: BlockContext, x: string, key: string, cin: number, w: number, stride: number): string {
  let h = relu(ctx, batchNorm(ctx, conv2d(ctx, x, `${key}.conv1`, { inCh: cin, outCh: w, kernel: 1, bias: false }), `${key}.bn1`, w));
  h = relu(ctx, batchNorm(ctx, conv2d(ctx, h, `${key}.conv2`, { inCh: w, outCh: w, kernel: 3, stride, bias: false }), `${key}.bn2`, w));
  h = batchNorm(ctx, conv2d(ctx, h, `${key}.conv3`, { inCh: w, outCh: 4 * w, kernel: 1, bias: false }), `${key}.bn3`, 4 * w);
  const skip =
    stride !== 1 || cin !== 4 * w
      ? batchNorm(ctx, conv2d(ctx, x, `${key}.downsample.0`, { inCh: cin, outCh: 4 * w, kernel: 1, stride, pad: 0, bias: false }), `${key}.downsample.1`, 4 * w)
      : x;
  return relu(ctx, ctx.g.op('Add', [h, skip]));
}

/** Builds `image` → `code` into `ctx.g` from E_flame keys (`encoder.*`, `layers.{0,2}.*`). */
export function buildDecaEncoder(ctx: BlockContext, a: DecaEncoderArch = DECA_E_FLAME_ARCH): void {
  const { g } = ctx;
  const x = g.input('image', 'float32', ['N', 3, a.imageSize, a.imageSize]);
  let h = relu(ctx, batchNorm(ctx, conv2d(ctx, x, 'encoder.conv1', { inCh: 3, outCh: a.stem, kernel: 7, stride: 2, pad: 3, bias: false }), 'encoder.bn1', a.stem));
  h = g.op('MaxPool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let cin = a.stem;
  a.widths.forEach((w, k) => {
    for (let i = 0; i < a.blocks[k]!; i++) {
      h = bottleneck(ctx, h, `encoder.layer${k + 1}.${i}`, cin, w, i === 0 && k > 0 ? 2 : 1);
      cin = 4 * w;
    }
  });
  h = g.op('AveragePool', [h], { kernel_shape: [7, 7], strides: [1, 1] });
  h = g.op('Flatten', [h], { axis: 1 });
  h = relu(ctx, linear(ctx, h, 'layers.0', cin, a.hidden));
  g.op('Identity', [linear(ctx, h, 'layers.2', a.hidden, a.outDim)], {}, 'code');
  g.output('code', 'float32', ['N', a.outDim]);
}

export interface DecaImportResult {
  coverage: KeyCoverage;
  report: string;
}

/**
 * Writes `outPath` (ONNX) from `deca_model.tar` (or any torch checkpoint holding an `E_flame` dict, or the bare
 * E_flame state dict). Throws MagicPortraitError naming the file and key on a missing or mis-shaped key.
 */
export async function importDecaEncoder(tarPath: string, outPath: string, arch: DecaEncoderArch = DECA_E_FLAME_ARCH): Promise<DecaImportResult> {
  const ck = await openTorchCheckpoint(tarPath);
  try {
    const store = ck.keys().some((k) => k.startsWith('E_flame.')) ? ck.scope('E_flame') : ck;
    if (!store.keys().some((k) => k.startsWith('encoder.conv1')))
      throw new MagicPortraitError(`${tarPath} has no E_flame encoder (no 'E_flame.encoder.conv1.weight'); top-level keys: ${[...new Set(ck.keys().map((k) => k.split('.')[0]))].slice(0, 6).join(', ')}.`, 'missing-key');
    const sd = await loadStateDict(store, (k) => !k.endsWith('num_batches_tracked'), toFloat32);
    const w = new WeightLookup(sd, `${basename(tarPath)}:E_flame`);
    w.ignore(/num_batches_tracked$/, 'BatchNorm step counter (training only)');
    const g = new GraphBuilder('deca_e_flame', 17);
    buildDecaEncoder({ g, w }, arch);
    g.save(outPath, { 'magicportrait.role': 'deca_e_flame' });
    const coverage = w.coverage();
    return { coverage, report: formatCoverage(coverage) };
  } finally {
    await ck.close();
  }
}

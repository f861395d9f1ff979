/**
 * SMIRK's encoder (reference-pipeline.md §3) as one ONNX graph, imported from the user's `SMIRK_em1.pt`:
 * three timm backbones with features_only (mobilenetv3.ts), each → global average pool → one Linear:
 *   pose_encoder        tf_mobilenetv3_small_minimal_100 → Linear(576→6):   pose [0:3], cam [3:6]
 *   shape_encoder       tf_mobilenetv3_large_minimal_100 → Linear(960→300): shape
 *   expression_encoder  tf_mobilenetv3_large_minimal_100 → Linear(960→55):  expression [0:50],
 *                       eyelid clamp([50:52], 0, 1), jaw [ReLU([52]), clamp([53:55], −0.2, 0.2)]
 * Input `image` (N, 3, 224, 224) RGB in [0, 1], not normalised (the §1.3 crop, `smirkCrop`).
 *
 * The checkpoint is a flat state dict; keys with `smirk_encoder.` have it removed and are loaded strictly, as the
 * reference does (load_state_dict strict=True): a missing, unexpected or mis-shaped encoder key is an error, listed
 * before any tensor is read. `smirk_generator.*` (and anything else outside the encoder) is not loaded.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { GraphBuilder } from '../onnx/graph';
import { type BlockContext, type KeyCoverage, type StateDict, WeightLookup, formatCoverage, linear, loadStateDict } from '../onnx/blocks';
import { openTorchCheckpoint, type TensorStore, type TorchCheckpoint } from '../io/torch-checkpoint';
import { toFloat32 } from '../io/ndarray';
import { type MobileNetV3Arch, TF_MOBILENETV3_LARGE_MINIMAL_100, TF_MOBILENETV3_SMALL_MINIMAL_100, buildMobileNetV3Features } from './mobilenetv3';

export interface SmirkArch {
  pose: MobileNetV3Arch;
  shape: MobileNetV3Arch;
  expression: MobileNetV3Arch;
  imageSize: number;
  numShape: number;
  numExpression: number;
}

export const SMIRK_ARCH: SmirkArch = {
  pose: TF_MOBILENETV3_SMALL_MINIMAL_100,
  shape: TF_MOBILENETV3_LARGE_MINIMAL_100,
  expression: TF_MOBILENETV3_LARGE_MINIMAL_100,
  imageSize: 224,
  numShape: 300,
  numExpression: 50,
};

/** The file importSmirk writes into its output folder. */
export const SMIRK_ENCODER_FILE = 'smirk_encoder.onnx';
export const SMIRK_PREFIX = 'smirk_encoder.';

/** Graph outputs and their widths. */
export const SMIRK_OUTPUTS = { pose: 3, cam: 3, shape: 300, expression: 50, eyelid: 2, jaw: 3 } as const;
export type SmirkOutputName = keyof typeof SMIRK_OUTPUTS;

function pooledHead(ctx: BlockContext, x: string, encoder: string, headKey: string, a: MobileNetV3Arch, outDim: number): string {
  const { out, channels } = buildMobileNetV3Features(ctx, x, `${encoder}.encoder.`, a);
  const pooled = ctx.g.op('Flatten', [ctx.g.op('GlobalAveragePool', [out])], { axis: 1 });
  return linear(ctx, pooled, `${encoder}.${headKey}.0`, channels, outDim);
}

function columns(ctx: BlockContext, x: string, from: number, to: number): string {
  const { g } = ctx;
  return g.op('Slice', [x, g.constI64('start', [from]), g.constI64('end', [to]), g.constI64('axis', [1])]);
}

function clip(ctx: BlockContext, x: string, lo: number, hi: number): string {
  return ctx.g.op('Clip', [x, ctx.g.constF32('lo', [lo], []), ctx.g.constF32('hi', [hi], [])]);
}

/** Builds `image` → pose, cam, shape, expression, eyelid, jaw into `ctx.g` (keys without the smirk_encoder. prefix). */
export function buildSmirkEncoder(ctx: BlockContext, a: SmirkArch = SMIRK_ARCH): void {
  const { g } = ctx;
  const x = g.input('image', 'float32', ['N', 3, a.imageSize, a.imageSize]);
  const out = (name: SmirkOutputName, v: string, width: number) => {
    g.op('Identity', [v], {}, name);
    g.output(name, 'float32', ['N', width]);
  };
  const poseCam = pooledHead(ctx, x, 'pose_encoder', 'pose_cam_layers', a.pose, 6);
  out('pose', columns(ctx, poseCam, 0, 3), 3);
  out('cam', columns(ctx, poseCam, 3, 6), 3);
  out('shape', pooledHead(ctx, x, 'shape_encoder', 'shape_layers', a.shape, a.numShape), a.numShape);
  const n = a.numExpression;
  const p = pooledHead(ctx, x, 'expression_encoder', 'expression_layers', a.expression, n + 5);
  out('expression', columns(ctx, p, 0, n), n);
  out('eyelid', clip(ctx, columns(ctx, p, n, n + 2), 0, 1), 2);
  const jaw = g.op('Concat', [g.op('Relu', [columns(ctx, p, n + 2, n + 3)]), clip(ctx, columns(ctx, p, n + 3, n + 5), -0.2, 0.2)], { axis: 1 });
  out('jaw', jaw, 3);
}

/** Records the keys and shapes a builder reads (zeros are handed back; the graph is thrown away). */
class KeyRecorder extends WeightLookup {
  readonly wanted = new Map<string, number[]>();
  constructor() {
    super(new Map(), 'key recorder');
  }
  override tensor(key: string, shape: readonly number[]): Float32Array {
    this.wanted.set(key, [...shape]);
    return new Float32Array(shape.reduce((a, b) => a * b, 1));
  }
}

/** The encoder's state-dict keys (without the smirk_encoder. prefix) and shapes, BatchNorm step counters excluded. */
export function smirkEncoderKeys(a: SmirkArch = SMIRK_ARCH): Map<string, number[]> {
  const w = new KeyRecorder();
  buildSmirkEncoder({ g: new GraphBuilder('keys'), w }, a);
  return w.wanted;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const list = (xs: string[], n = 8) => xs.slice(0, n).join(', ') + (xs.length > n ? `, … (${xs.length} in all)` : '');

/** The checkpoint's encoder keys, prefix removed → file key (the reference's `k.replace('smirk_encoder.', '')`). */
function encoderKeyMap(ck: TensorStore, path: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of ck.keys()) if (k.includes(SMIRK_PREFIX)) m.set(k.replace(SMIRK_PREFIX, ''), k);
  if (!m.size) {
    const tops = [...new Set(ck.keys().map((k) => k.split('.')[0]))].slice(0, 6);
    throw new MagicPortraitError(`${path} is not a SMIRK checkpoint: it has no '${SMIRK_PREFIX}*' keys (top-level names: ${tops.join(', ') || 'none'}).`, 'missing-key');
  }
  return m;
}

/** Strict key check from the headers alone: every missing, unexpected and mis-shaped encoder key, in one error. */
function checkKeys(ck: TensorStore, keys: Map<string, string>, want: Map<string, number[]>, path: string): void {
  const missing = [...want.keys()].filter((k) => !keys.has(k)).map((k) => `${SMIRK_PREFIX}${k} ${fmt(want.get(k)!)}`);
  const unexpected = [...keys.keys()].filter((k) => !want.has(k) && !k.endsWith('num_batches_tracked')).map((k) => keys.get(k)!);
  const misshaped: string[] = [];
  for (const [k, shape] of want) {
    const fk = keys.get(k);
    if (!fk) continue;
    const got = ck.info(fk).shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) misshaped.push(`${fk} has ${fmt(got)}, expected ${fmt(shape)}`);
  }
  if (!missing.length && !unexpected.length && !misshaped.length) return;
  const parts = [
    missing.length ? `missing ${missing.length} key(s): ${list(missing)}` : '',
    unexpected.length ? `unexpected ${unexpected.length} key(s): ${list(unexpected)}` : '',
    misshaped.length ? `wrong shape: ${list(misshaped, 4)}` : '',
  ].filter(Boolean);
  const code = missing.length ? 'missing-key' : misshaped.length ? 'bad-shape' : 'unexpected-key';
  throw new MagicPortraitError(
    `${path} does not match SMIRK's encoder (tf_mobilenetv3_small/large_minimal_100 backbones; the reference loads it with strict=True): ${parts.join('; ')}.`,
    code,
  );
}

export interface SmirkImportResult {
  /** The written graph (outDir/smirk_encoder.onnx). */
  path: string;
  /** Coverage of every key in the file (encoder keys by their file names). */
  coverage: KeyCoverage;
  report: string;
}

/**
 * Writes `outDir/smirk_encoder.onnx` from `SMIRK_em1.pt`. Opening reads the pickle and zip directory only; the key
 * set and shapes are checked from the headers, then only the encoder's tensors are read. Throws MagicPortraitError
 * naming the file (and the keys) on a missing/truncated/foreign file or a key mismatch.
 */
export async function importSmirk(ckptPath: string, outDir: string, a: SmirkArch = SMIRK_ARCH): Promise<SmirkImportResult> {
  const path = resolve(ckptPath);
  if (!existsSync(path)) throw new MagicPortraitError(`SMIRK checkpoint ${path} does not exist.`, 'missing-file');
  let ck: TorchCheckpoint;
  try {
    ck = await openTorchCheckpoint(path);
  } catch (e) {
    const hint = e instanceof MagicPortraitError && e.code === 'bad-file' ? ' Is the file truncated (an interrupted download) or not a torch.save checkpoint?' : '';
    if (e instanceof MagicPortraitError) throw new MagicPortraitError(`SMIRK checkpoint ${path}: ${e.message}${hint}`, e.code);
    throw e;
  }
  try {
    const keys = encoderKeyMap(ck, path);
    const want = smirkEncoderKeys(a);
    checkKeys(ck, keys, want, path);
    // a view of the encoder keys without the prefix; only the wanted ones are read (one at a time, streamed)
    const store = {
      file: `${basename(path)}:smirk_encoder`,
      keys: () => [...keys.keys()],
      info: (k: string) => ck.info(keys.get(k)!),
      get: (k: string) => ck.get(keys.get(k)!),
    };
    let sd: StateDict;
    try {
      sd = await loadStateDict(store, (k) => want.has(k), toFloat32);
    } catch (e) {
      if (e instanceof MagicPortraitError) throw new MagicPortraitError(`SMIRK checkpoint ${path}: ${e.message}`, e.code);
      throw e;
    }
    const w = new WeightLookup(sd, store.file);
    w.ignore(/num_batches_tracked$/, 'BatchNorm step counter (training only)');
    const g = new GraphBuilder('smirk_encoder', 17);
    buildSmirkEncoder({ g, w }, a);
    mkdirSync(resolve(outDir), { recursive: true });
    const out = join(resolve(outDir), SMIRK_ENCODER_FILE);
    g.save(out, { 'magicportrait.role': 'smirk_encoder', 'magicportrait.source': basename(path) });
    const enc = w.coverage();
    const rest = ck.keys().filter((k) => !k.includes(SMIRK_PREFIX));
    const coverage: KeyCoverage = {
      source: path,
      total: ck.keys().length,
      used: enc.used.map((u) => ({ key: keys.get(u.key)!, shape: u.shape })),
      ignored: [
        ...enc.ignored.map((i) => ({ key: keys.get(i.key)!, reason: i.reason })),
        ...rest.map((k) => ({ key: k, reason: k.startsWith('smirk_generator.') ? 'SMIRK generator (training only; not loaded by the reference)' : `outside ${SMIRK_PREFIX} (not loaded by the reference)` })),
      ],
      unexpected: enc.unexpected.map((k) => keys.get(k)!),
    };
    return { path: out, coverage, report: formatCoverage(coverage) };
  } finally {
    await ck.close();
  }
}

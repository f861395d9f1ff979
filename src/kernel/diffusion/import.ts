/**
 * Imports the user's real MagicPortrait checkpoints into a diffusion bundle (bundle.ts), with no Python:
 *
 *   denoising UNet = SD 1.5 `unet/` (diffusers safetensors or .bin)  ←  motion-module file  ←  ckpts/denoising_unet.pth
 *   reference UNet = SD 1.5 `unet/`                                  ←  ckpts/reference_unet.pth
 *   VAE            = sd-vae-ft-mse (diffusers AutoencoderKL; the old query/key/value/proj_attn names are renamed)
 *   guidance       = ckpts/guidance_encoder_{depth,normal,render}.pth (under `depth.` / `normal.` / `render.`)
 *   text embedding = the fixed prompt's CLIP last hidden state, computed once from `text_encoder/` + `tokenizer/`
 *                    (text-encoder.ts, tokenizer.ts), or given as a precomputed (1, 77, 768) .npy
 *
 * "←" is the reference's layering (reference-pipeline.md §8.1): a later file's key wins over an earlier one's, as the
 * reference's successive `load_state_dict(strict=False)` calls do. Unlike the reference, every key is accounted for:
 * each needed key must exist with the right shape (else a MagicPortraitError naming the file and key), and every file
 * key is reported as used, overridden by a later file, deliberately ignored (with the reason) or unexpected.
 *
 * Memory: files are opened lazily (headers / pickles only); a model's tensors are read right before its graph is
 * built and dropped after it is saved, so at most one model's weights are in memory. Graphs over 1.8 GB get ONNX
 * external data (GraphBuilder.save). `estimateImport` gives the disk and memory needed from the headers alone.
 */
import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { openSafetensors } from '../io/safetensors';
import { openTorchCheckpoint, type TensorStore } from '../io/torch-checkpoint';
import { parseNpy } from '../io/npy';
import { toFloat32 } from '../io/ndarray';
import { sha256File } from '../gge/import';
import { type DiffusionBundle, type ModelRole, type ModelWeights, type WeightSource, REFERENCE_PROMPT, ignoreUnusedReferenceKeys, writeBundle } from './bundle';
import { encodePrompt } from './text-encoder';
import { type DiffusionArch, REFERENCE_ARCH, validateArch } from './graph/config';
import { deriveArch } from './arch-from-configs';
import { type StateDict, type StateTensor, WeightLookup } from './graph/ops';

export interface ImportPaths {
  /** The Stable Diffusion 1.5 folder (`unet/config.json` + `unet/diffusion_pytorch_model.{safetensors,bin}`). */
  sd15Dir: string;
  /** The sd-vae-ft-mse folder (`config.json` + `diffusion_pytorch_model.{safetensors,bin}`). */
  vaeDir: string;
  /** The motion-module file (`motion_module-47360.pth`, or .safetensors). */
  motionModule: string;
  /** The MagicPortrait `ckpts/` folder: denoising_unet.pth, reference_unet.pth, guidance_encoder_*.pth. */
  ckptDir: string;
  /** (1, 77, D) float32 .npy of the fixed prompt's CLIP last hidden state. Default: computed here from
   *  `sd15Dir/tokenizer` + `sd15Dir/text_encoder` (text-encoder.ts). */
  textEmbeds?: string;
}

export interface ImportProgress {
  stage: 'open' | 'text' | 'estimate' | 'load' | 'build' | 'hash' | 'done';
  role?: ModelRole;
  /** 0 … 1 over the whole import. */
  fraction: number;
  message: string;
}

export interface ImportOptions {
  /** Weight storage in the ONNX files: 'fp16' halves the bundle (weights rounded to float16, Cast to float32 in the
   *  graph, so computation stays float32 like the reference). Default 'fp32' (bit-exact weights). */
  precision?: 'fp32' | 'fp16';
  onProgress?: (p: ImportProgress) => void;
  /** 'auto' (the default): derived from the files' own configs and shapes (arch-from-configs.ts; real SD 1.5 +
   *  AnimateDiff + sd-vae-ft-mse give REFERENCE_ARCH). An explicit architecture is checked against unet/config.json
   *  and the VAE's config.json instead. */
  arch?: DiffusionArch | 'auto';
  /** Skip the free-disk check. */
  noDiskCheck?: boolean;
  /** Aborting stops the import at the next tensor or stage with a CancelledError; the bundle's manifest (written
   *  last) is then absent, so the half-written folder never loads as a bundle. */
  signal?: AbortSignal;
  /** SHA-256 of source files the caller has already hashed (absolute path → hex), so multi-GB files are read once. */
  sourceHashes?: ReadonlyMap<string, string>;
  /** The bundle's label, shown wherever its output is (e.g. the demo model's). */
  label?: string;
}

// ------------------------------------------------------------------------------------------------------------------
// Layered state dicts

/** One checkpoint file as a layer: its keys (after renames/prefixing) → the file's own key. */
interface Layer {
  label: string;
  path: string;
  store: TensorStore & { close(): Promise<void> };
  /** layer key → file key */
  keys: Map<string, string>;
}

interface Origin {
  layer: number;
  fileKey: string;
}

/** Where each key of each file went. */
export interface FileCoverage {
  file: string;
  total: number;
  used: number;
  /** Keys a later file replaced (the reference's layering). */
  overridden: number;
  ignored: { key: string; reason: string }[];
  unexpected: string[];
}

/**
 * The merged view of several layers, for one model. `float32()` of a tensor works between `prepare()` (which reads
 * every tensor the model can use from disk) and `release()`.
 */
export class LayeredLookup extends WeightLookup {
  private readonly origin: Map<string, Origin>;
  private readonly box: { loaded: Map<string, Float32Array> };

  constructor(
    readonly label: string,
    readonly layers: Layer[],
  ) {
    const origin = new Map<string, Origin>();
    layers.forEach((l, i) => {
      for (const [k, fileKey] of l.keys) origin.set(k, { layer: i, fileKey });
    });
    const box = { loaded: new Map<string, Float32Array>() };
    const sd = new Map<string, StateTensor>();
    for (const [k, o] of origin) {
      const l = layers[o.layer]!;
      const info = l.store.info(o.fileKey);
      sd.set(k, {
        dtype: info.dtype,
        shape: info.shape,
        // Read once: the graph builder keeps what it needs (e.g. the transposed Linear weight), so the loaded copy is
        // dropped at once and only one copy of each weight is alive while the graph is built.
        float32: () => {
          const d = box.loaded.get(k);
          if (!d) throw new Error(`internal: ${l.path} '${o.fileKey}' read before prepare() or read twice`);
          box.loaded.delete(k);
          return d;
        },
      });
    }
    super(sd as StateDict, label);
    this.origin = origin;
    this.box = box;
  }

  /** As WeightLookup.tensor, with the file(s) named in errors. */
  override tensor(key: string, shape: readonly number[]): Float32Array {
    try {
      return super.tensor(key, shape);
    } catch (e) {
      if (!(e instanceof MagicPortraitError)) throw e;
      const o = this.originOf(key);
      const where = o ? `from ${o.file}${o.fileKey !== key ? ` (file key '${o.fileKey}')` : ''}` : `in none of ${this.layers.map((l) => l.path).join(', ')}`;
      throw new MagicPortraitError(`${e.message.replace(/\.$/, '')} — ${where}.`, e.code);
    }
  }

  /** The file and file key a merged key comes from. */
  originOf(key: string): { file: string; fileKey: string } | undefined {
    const o = this.origin.get(key);
    return o && { file: this.layers[o.layer]!.path, fileKey: o.fileKey };
  }

  /** Keys the model can use: everything not matched by an ignore rule. */
  neededKeys(): string[] {
    const c = this.coverage();
    const ignored = new Set(c.ignored.map((i) => i.key));
    return [...this.stateDict.keys()].filter((k) => !ignored.has(k));
  }

  /** float32 bytes of `neededKeys()`. */
  neededBytes(): number {
    let n = 0;
    for (const k of this.neededKeys()) n += this.stateDict.get(k)!.shape.reduce((a, b) => a * b, 1) * 4;
    return n;
  }

  async prepare(onTensor?: (i: number, n: number) => void): Promise<void> {
    const keys = this.neededKeys();
    let i = 0;
    for (const k of keys) {
      const o = this.origin.get(k)!;
      const l = this.layers[o.layer]!;
      try {
        this.box.loaded.set(k, toFloat32(await l.store.get(o.fileKey)));
      } catch (e) {
        if (e instanceof MagicPortraitError) throw new MagicPortraitError(`${l.path}: reading '${o.fileKey}' failed: ${e.message}`, e.code);
        throw e;
      }
      onTensor?.(++i, keys.length);
    }
  }

  release(): void {
    this.box.loaded = new Map();
  }

  /** Per-file coverage: each file key used, overridden by a later layer, ignored or unexpected. */
  fileCoverage(): FileCoverage[] {
    const c = this.coverage();
    const used = new Set(c.used.map((u) => u.key));
    const ignored = new Map(c.ignored.map((u) => [u.key, u.reason]));
    return this.layers.map((l, i) => {
      const fc: FileCoverage = { file: l.path, total: l.keys.size, used: 0, overridden: 0, ignored: [], unexpected: [] };
      for (const k of l.keys.keys()) {
        const o = this.origin.get(k)!;
        if (o.layer !== i) fc.overridden++;
        else if (used.has(k)) fc.used++;
        else if (ignored.has(k)) fc.ignored.push({ key: l.keys.get(k)!, reason: ignored.get(k)! });
        else fc.unexpected.push(l.keys.get(k)!);
      }
      return fc;
    });
  }
}

// ------------------------------------------------------------------------------------------------------------------
// Opening files

async function openStore(path: string, what: string): Promise<TensorStore & { close(): Promise<void> }> {
  if (!existsSync(path)) throw new MagicPortraitError(`${what}: ${path} does not exist.`, 'missing-file');
  if (statSync(path).size === 0) throw new MagicPortraitError(`${what}: ${path} is empty (interrupted download?).`, 'truncated');
  let s: TensorStore & { close(): Promise<void> };
  try {
    s = path.endsWith('.safetensors') ? await openSafetensors(path) : await openTorchCheckpoint(path);
  } catch (e) {
    // name the full path (the readers name the file only) and which input it is
    if (e instanceof MagicPortraitError) throw new MagicPortraitError(`${what} (${path}): ${e.message}`, e.code);
    throw e;
  }
  if (!s.keys().length) {
    await s.close();
    throw new MagicPortraitError(`${what}: ${path} holds no tensors.`, 'bad-file');
  }
  return s;
}

/** A checkpoint saved as {'state_dict': …} or through DataParallel ('module.' prefix) is unwrapped. */
function fileKeys(store: TensorStore): Map<string, string> {
  let keys = store.keys();
  for (const wrap of ['state_dict.', 'module.']) {
    if (keys.length && keys.every((k) => k.startsWith(wrap))) return new Map(keys.map((k) => [k.slice(wrap.length), k]));
  }
  return new Map(keys.map((k) => [k, k]));
}

async function layer(label: string, path: string, rename?: (key: string) => string): Promise<Layer> {
  const p = resolve(path);
  const store = await openStore(p, label);
  const keys = new Map<string, string>();
  for (const [k, fk] of fileKeys(store)) keys.set(rename ? rename(k) : k, fk);
  return { label, path: p, store, keys };
}

/** The diffusers weights file of a model folder: safetensors preferred, else .bin (as `from_pretrained`), then the
 *  hub's fp16 variants. */
function diffusersWeights(dir: string, what: string): string {
  for (const n of ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.fp16.bin'])
    if (existsSync(join(dir, n))) return join(dir, n);
  throw new MagicPortraitError(`${what}: ${dir} has no diffusion_pytorch_model.safetensors or .bin.`, 'missing-file');
}

/** A MagicPortrait checkpoint `<name>.pth`, or `<name>.safetensors` when only that exists. */
function ckptFile(dir: string, name: string): string {
  const pth = join(dir, `${name}.pth`);
  const st = join(dir, `${name}.safetensors`);
  return !existsSync(pth) && existsSync(st) ? st : pth;
}

/** The VAE mid-block attention of older diffusers checkpoints (sd-vae-ft-mse's .bin): query/key/value/proj_attn. */
export function renameOldVaeKey(key: string): string {
  return key.replace(/(\.attentions\.\d+\.)(query|key|value|proj_attn)\./, (_, pre: string, n: string) => `${pre}${{ query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' }[n]}.`);
}

function readJson(path: string, what: string): Record<string, unknown> {
  if (!existsSync(path)) throw new MagicPortraitError(`${what}: ${path} does not exist.`, 'missing-file');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MagicPortraitError(`${what}: ${path} is not valid JSON: ${(e as Error).message}`, 'bad-file');
  }
}

/** Checks the diffusers configs against the architecture the graphs will be built with. */
export function checkConfigs(arch: DiffusionArch, unetCfg: Record<string, unknown>, unetCfgPath: string, vaeCfg: Record<string, unknown>, vaeCfgPath: string): void {
  const eq = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const u = arch.unet;
  const checks: [string, Record<string, unknown>, string, unknown][] = [
    [unetCfgPath, unetCfg, 'block_out_channels', u.blockOutChannels],
    [unetCfgPath, unetCfg, 'layers_per_block', u.layersPerBlock],
    [unetCfgPath, unetCfg, 'cross_attention_dim', u.crossAttentionDim],
    [unetCfgPath, unetCfg, 'in_channels', u.inChannels],
    [unetCfgPath, unetCfg, 'out_channels', u.outChannels],
    [unetCfgPath, unetCfg, 'norm_num_groups', u.normGroups],
    [unetCfgPath, unetCfg, 'down_block_types', u.crossAttnLevels.map((c) => (c ? 'CrossAttnDownBlock2D' : 'DownBlock2D'))],
    [vaeCfgPath, vaeCfg, 'block_out_channels', arch.vae.blockOutChannels],
    [vaeCfgPath, vaeCfg, 'layers_per_block', arch.vae.layersPerBlock],
    [vaeCfgPath, vaeCfg, 'latent_channels', arch.vae.latentChannels],
  ];
  for (const [path, cfg, field, want] of checks)
    if (field in cfg && !eq(cfg[field], want))
      throw new MagicPortraitError(`${path}: ${field} is ${JSON.stringify(cfg[field])}, the MagicPortrait architecture needs ${JSON.stringify(want)}.`, 'bad-config');
  if (unetCfg.use_linear_projection === true)
    throw new MagicPortraitError(`${unetCfgPath}: use_linear_projection is true; SD 1.5 (and the graphs) use 1×1 conv projections.`, 'bad-config');
}

// ------------------------------------------------------------------------------------------------------------------
// The import plan: every file opened, every model's lookup with its ignore rules

export interface ImportPlan {
  arch: DiffusionArch;
  lookups: Record<ModelRole, LayeredLookup>;
  files: string[];
  close(): Promise<void>;
}

export async function planImport(paths: ImportPaths, arch: DiffusionArch = REFERENCE_ARCH): Promise<ImportPlan> {
  validateArch(arch);
  const opened: Layer[] = [];
  const track = async (l: Promise<Layer>) => {
    const x = await l;
    opened.push(x);
    return x;
  };
  try {
    const unetDir = join(resolve(paths.sd15Dir), 'unet');
    const vaeDir = resolve(paths.vaeDir);
    checkConfigs(arch, readJson(join(unetDir, 'config.json'), 'SD 1.5 UNet'), join(unetDir, 'config.json'), readJson(join(vaeDir, 'config.json'), 'VAE'), join(vaeDir, 'config.json'));
    const ckpt = resolve(paths.ckptDir);
    const sdUnetPath = diffusersWeights(unetDir, 'SD 1.5 UNet');
    // Separate Layer objects per model (their key maps differ), sharing nothing but the file.
    const sdDen = await track(layer('SD 1.5 UNet', sdUnetPath));
    const motion = await track(layer('motion module', paths.motionModule));
    const den = await track(layer('denoising UNet', ckptFile(ckpt, 'denoising_unet')));
    const sdRef = await track(layer('SD 1.5 UNet', sdUnetPath));
    const ref = await track(layer('reference UNet', ckptFile(ckpt, 'reference_unet')));
    const vaePath = diffusersWeights(vaeDir, 'VAE');
    const vaeEnc = await track(layer('VAE', vaePath, renameOldVaeKey));
    const vaeDec = await track(layer('VAE', vaePath, renameOldVaeKey));
    const gge: Layer[] = [];
    for (const t of arch.guidance.types) gge.push(await track(layer(`guidance encoder (${t})`, ckptFile(ckpt, `guidance_encoder_${t}`), (k) => `${t}.${k}`)));

    if (![...motion.keys.keys()].some((k) => k.includes('.motion_modules.')))
      throw new MagicPortraitError(`${motion.path} has no '*.motion_modules.*' keys: not an AnimateDiff motion-module checkpoint (it has e.g. ${[...motion.keys.values()].slice(0, 3).join(', ')}).`, 'missing-key');

    const denoisingUnet = new LayeredLookup('denoising UNet', [sdDen, motion, den]);
    const referenceUnet = new LayeredLookup('reference UNet', [sdRef, ref]);
    ignoreUnusedReferenceKeys(referenceUnet, arch);
    const vaeEncoder = new LayeredLookup('VAE encoder', [vaeEnc]);
    vaeEncoder.ignore(/^decoder\.|^post_quant_conv\./, 'decoder weights (read by the VAE decoder graph)');
    const vaeDecoder = new LayeredLookup('VAE decoder', [vaeDec]);
    vaeDecoder.ignore(/^encoder\.|^quant_conv\./, 'encoder weights (read by the VAE encoder graph)');
    const guidanceEncoder = new LayeredLookup('guidance encoders', gge);
    guidanceEncoder.ignore(/^\w+\.attentions\.[0-4]\./, 'attentions.0-4: built by the reference but never executed (§6.1)');
    guidanceEncoder.ignore(/^\w+\.guidance_attention\./, 'guidance_attention: built by the reference but never executed (§6.1)');
    const files = [...new Set(opened.map((l) => l.path))];
    return {
      arch,
      lookups: { referenceUnet, denoisingUnet, vaeEncoder, vaeDecoder, guidanceEncoder },
      files,
      close: async () => {
        for (const l of opened) await l.store.close();
      },
    };
  } catch (e) {
    for (const l of opened) await l.store.close();
    throw e;
  }
}

/** An explicit architecture as given; undefined / 'auto': derived from the files (arch-from-configs.ts). */
export async function resolveArch(paths: Omit<ImportPaths, 'textEmbeds'> & { textEmbeds?: string }, arch?: DiffusionArch | 'auto'): Promise<DiffusionArch> {
  return arch === undefined || arch === 'auto' ? deriveArch(paths) : arch;
}

// ------------------------------------------------------------------------------------------------------------------
// Estimate

export interface ImportEstimate {
  /** float32 weight bytes per model graph. */
  perModel: Record<ModelRole, number>;
  /** Bundle size on disk (weights + text embedding; protobuf overhead is small). */
  diskBytes: number;
  /** Peak resident memory: the largest model's weights as graph initializers, transient transposed/float16 copies, and
   *  the serialised protobuf of graphs small enough to be written inline. */
  peakMemoryBytes: number;
}

export function estimatePlan(plan: ImportPlan, precision: 'fp32' | 'fp16' = 'fp32'): ImportEstimate {
  const perModel = {} as Record<ModelRole, number>;
  for (const [role, l] of Object.entries(plan.lookups) as [ModelRole, LayeredLookup][]) perModel[role] = l.neededBytes();
  const weights = (Object.values(perModel).reduce((a, b) => a + b, 0) * (precision === 'fp16' ? 0.5 : 1));
  const largest = Math.max(...Object.values(perModel));
  const text = plan.arch.text.tokens * plan.arch.text.dim * 4;
  const inlineLimit = 1.8 * 1024 ** 3; // GraphBuilder.save writes larger graphs with external data
  const stored = (b: number) => b * (precision === 'fp16' ? 0.5 : 1);
  const peak = Math.max(...Object.values(perModel).map((b) => b * 1.25 + (precision === 'fp16' ? stored(b) : 0) + (stored(b) < inlineLimit ? stored(b) : 0)));
  return { perModel, diskBytes: Math.ceil(weights * 1.01) + text + 4096, peakMemoryBytes: Math.ceil(peak + 256 * 1024 ** 2 + largest * 0) };
}

/** Disk and memory an import of these files needs, from the checkpoint headers alone (no tensor is read). */
export async function estimateImport(paths: Omit<ImportPaths, 'textEmbeds'>, arch: DiffusionArch | 'auto' = 'auto', precision: 'fp32' | 'fp16' = 'fp32'): Promise<ImportEstimate> {
  const plan = await planImport(paths, await resolveArch(paths, arch));
  try {
    return estimatePlan(plan, precision);
  } finally {
    await plan.close();
  }
}

export const fmtBytes = (n: number): string => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

// ------------------------------------------------------------------------------------------------------------------
// Import

export interface ImportReport {
  files: FileCoverage[];
  estimate: ImportEstimate;
  /** True when no file has an unexpected key (every needed key was found with its shape, or the import threw). */
  complete: boolean;
  text: string;
}

function readTextEmbedsFile(path: string, arch: DiffusionArch): Float32Array {
  if (!existsSync(path)) throw new MagicPortraitError(`Text embedding ${path} does not exist.`, 'missing-file');
  const a = parseNpy(readFileSync(path), { file: path });
  const { tokens, dim } = arch.text;
  const ok = a.shape.length === 3 && a.shape[0] === 1 && a.shape[1] === tokens && a.shape[2] === dim;
  if (!ok) throw new MagicPortraitError(`Text embedding ${path} has shape (${a.shape.join(', ')}), expected (1, ${tokens}, ${dim}).`, 'bad-shape');
  return toFloat32(a);
}

export function formatFileCoverage(files: FileCoverage[]): string {
  const lines: string[] = [];
  for (const f of files) {
    lines.push(`${f.file}: ${f.total} keys — ${f.used} used, ${f.overridden} overridden by a later file, ${f.ignored.length} ignored, ${f.unexpected.length} unexpected`);
    const byReason = new Map<string, number>();
    for (const i of f.ignored) byReason.set(i.reason, (byReason.get(i.reason) ?? 0) + 1);
    for (const [r, n] of byReason) lines.push(`    ignored ${n}: ${r}`);
    for (const k of f.unexpected.slice(0, 12)) lines.push(`    UNEXPECTED ${k}`);
    if (f.unexpected.length > 12) lines.push(`    … and ${f.unexpected.length - 12} more unexpected`);
  }
  return lines.join('\n');
}

/** Merges the per-model coverage of files shared by several models (SD 1.5 UNet, VAE). */
function mergeCoverage(plan: ImportPlan): FileCoverage[] {
  const all = Object.values(plan.lookups).flatMap((l) => l.fileCoverage().map((fc, i) => ({ fc, layer: l.layers[i]! })));
  const out = new Map<string, { keys: Map<string, 'used' | 'overridden' | { reason: string } | 'unexpected'> }>();
  for (const { fc, layer: l } of all) {
    let e = out.get(fc.file);
    if (!e) out.set(fc.file, (e = { keys: new Map() }));
    const ign = new Map(fc.ignored.map((i) => [i.key, i.reason]));
    const unexp = new Set(fc.unexpected);
    // recover per-key status from the model's view
    for (const [k, fk] of l.keys) {
      const lookup = Object.values(plan.lookups).find((x) => x.layers.includes(l))!;
      const src = lookup.originOf(k)!;
      const st = src.file !== l.path || src.fileKey !== fk ? 'overridden' : ign.has(fk) ? { reason: ign.get(fk)! } : unexp.has(fk) ? 'unexpected' : 'used';
      const prev = e.keys.get(fk);
      // used anywhere > overridden > ignored > unexpected
      const rank = (s: typeof st | undefined) => (s === 'used' ? 3 : s === 'overridden' ? 2 : s && typeof s === 'object' ? 1 : s === 'unexpected' ? 0 : -1);
      if (rank(st) > rank(prev)) e.keys.set(fk, st);
    }
  }
  return [...out].map(([file, { keys }]) => {
    const fc: FileCoverage = { file, total: keys.size, used: 0, overridden: 0, ignored: [], unexpected: [] };
    for (const [k, s] of keys) {
      if (s === 'used') fc.used++;
      else if (s === 'overridden') fc.overridden++;
      else if (s === 'unexpected') fc.unexpected.push(k);
      else fc.ignored.push({ key: k, reason: s.reason });
    }
    return fc;
  });
}

/**
 * Imports the real checkpoints into a diffusion bundle in `outDir`. Throws MagicPortraitError naming the file and key
 * for a missing key, a wrong shape, a truncated or non-checkpoint file; prints (via onProgress) the estimate first.
 */
export async function importMagicPortrait(paths: ImportPaths, outDir: string, opts: ImportOptions = {}): Promise<DiffusionBundle & { importReport: ImportReport }> {
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'fp16') throw new MagicPortraitError(`precision must be 'fp32' or 'fp16', got '${String(precision)}'.`, 'bad-config');
  const report = opts.onProgress ?? (() => {});
  const checkCancel = () => {
    if (opts.signal?.aborted) throw new CancelledError('import');
  };
  const progress = (p: ImportProgress) => {
    checkCancel();
    report(p);
  };
  progress({ stage: 'open', fraction: 0, message: 'opening checkpoints (headers only)' });
  const arch = await resolveArch(paths, opts.arch);
  let textEmbeds: Float32Array;
  if (paths.textEmbeds) textEmbeds = readTextEmbedsFile(paths.textEmbeds, arch);
  else {
    progress({ stage: 'text', fraction: 0, message: `encoding the prompt "${REFERENCE_PROMPT}" with ${join(paths.sd15Dir, 'text_encoder')}` });
    const e = await encodePrompt(paths.sd15Dir, REFERENCE_PROMPT, arch.text.tokens);
    if (e.dim !== arch.text.dim) throw new MagicPortraitError(`${join(paths.sd15Dir, 'text_encoder')}: hidden size ${e.dim}, the UNet's cross-attention needs ${arch.text.dim}.`, 'bad-config');
    textEmbeds = e.embeds;
  }
  const plan = await planImport(paths, arch);
  try {
    const est = estimatePlan(plan, precision);
    const out = resolve(outDir);
    progress({
      stage: 'estimate',
      fraction: 0.01,
      message: `needs about ${fmtBytes(est.diskBytes)} of disk and ${fmtBytes(est.peakMemoryBytes)} of memory (largest model ${fmtBytes(Math.max(...Object.values(est.perModel)))})`,
    });
    if (!opts.noDiskCheck) {
      let probe = out;
      while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
      const fs = statfsSync(probe);
      const free = fs.bavail * fs.bsize;
      if (free < est.diskBytes) throw new MagicPortraitError(`${out}: ${fmtBytes(free)} free, the bundle needs about ${fmtBytes(est.diskBytes)}.`, 'no-space');
    }
    // hash each source once (they are named in the manifest)
    const hashes = new Map<string, WeightSource>();
    const total = plan.files.reduce((s, f) => s + statSync(f).size, 0);
    let hashed = 0;
    for (const f of plan.files) {
      progress({ stage: 'hash', fraction: 0.02 + 0.18 * (hashed / total), message: `SHA-256 of ${basename(f)}` });
      const bytes = statSync(f).size;
      hashes.set(f, { kind: 'checkpoint', file: basename(f), bytes, sha256: opts.sourceHashes?.get(f) ?? (await sha256File(f)) });
      hashed += bytes;
    }
    const totalBytes = Object.values(est.perModel).reduce((a, b) => a + b, 0) || 1;
    let doneBytes = 0;
    const weights = {} as Record<ModelRole, ModelWeights>;
    for (const [role, lookup] of Object.entries(plan.lookups) as [ModelRole, LayeredLookup][]) {
      const mine = est.perModel[role];
      weights[role] = {
        lookup,
        sources: [...new Set(lookup.layers.map((l) => l.path))].map((p) => hashes.get(p)!),
        prepare: async () => {
          await lookup.prepare((i, n) => {
            checkCancel();
            if (i === n || i % 64 === 0)
              progress({ stage: 'load', role, fraction: 0.2 + 0.75 * ((doneBytes + (0.5 * mine * i) / n) / totalBytes), message: `${role}: read ${i}/${n} tensors` });
          });
          progress({ stage: 'build', role, fraction: 0.2 + 0.75 * ((doneBytes + mine * 0.5) / totalBytes), message: `${role}: building and writing the graph` });
        },
        release: () => {
          lookup.release();
          doneBytes += mine;
          progress({ stage: 'build', role, fraction: 0.2 + 0.75 * (doneBytes / totalBytes), message: `${role}: written` });
        },
      };
    }
    checkCancel();
    const b = await writeBundle(out, arch, weights, { ...(opts.label ? { label: opts.label } : {}), createdBy: 'importMagicPortrait', createdAt: new Date().toISOString(), textEmbeds, weights: precision === 'fp16' ? 'float16' : 'float32' });
    const files = mergeCoverage(plan);
    const complete = files.every((f) => f.unexpected.length === 0);
    const text =
      `Estimated: ${fmtBytes(est.diskBytes)} disk, ${fmtBytes(est.peakMemoryBytes)} memory\n` +
      formatFileCoverage(files) +
      `\nKey coverage: ${complete ? '100% (every file key used, overridden or deliberately ignored)' : 'INCOMPLETE: see the unexpected keys above'}`;
    report({ stage: 'done', fraction: 1, message: `bundle written to ${b.dir}` });
    return { ...b, importReport: { files, estimate: est, complete, text } };
  } finally {
    await plan.close();
  }
}

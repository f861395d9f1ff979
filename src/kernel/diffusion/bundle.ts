/**
 * The diffusion model bundle: a folder with `manifest.json` and the ONNX graphs of the sampling stack (§9.1, with
 * the changes described in graph/unet.ts: one denoising graph for both CFG branches, float16 bank tensors).
 *
 *   manifest.json            format, version, label, architecture, scheduler, sampling defaults, precision,
 *                            per file: path, bytes, sha256 (+ external data), per model: weight sources and key counts
 *   reference_unet.onnx      ref_latents, timestep, encoder_hidden_states → bank_00 … (float16)
 *   denoising_unet.onnx      sample, timestep, encoder_hidden_states, guidance, bank_00 … → model_output (v)
 *   vae_encoder.onnx         image [−1, 1] → latent (0.18215 · mean)
 *   vae_decoder.onnx         latent → image [0, 1]
 *   guidance_encoder.onnx    depth, normal, render [0, 1] → guidance (summed features)   (GGE stand-in)
 *   text_embeds.npy          (1, T, D) float32: the fixed prompt's CLIP last hidden state
 *
 * `writeBundle` builds everything from weight lookups (an importer passes the user's checkpoints; `tinyBundle`
 * passes seeded generated weights) and writes the manifest LAST, so an interrupted build leaves no loadable bundle.
 * `loadBundle` validates the manifest and the files with errors that name the file and the field.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { GraphBuilder } from '../onnx/graph';
import { parseNpy, writeNpy } from '../io/npy';
import { NdArray, toFloat32 } from '../io/ndarray';
import { type ContextOptions, REFERENCE_CONTEXT, MAX_WINDOW_FRAMES } from './context';
import { type DDIMConfig, DDIMScheduler, DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS, REFERENCE_SCHEDULER } from './scheduler';
import { type DiffusionArch, TINY_ARCH, bankName, bankSites, latentSize, validateArch } from './graph/config';
import { type KeyCoverage, WeightLookup, stateDictFromArrays } from './graph/ops';
import { type AttentionBuildOptions, UNET_IO, buildDenoisingUNet, buildReferenceUNet } from './graph/unet';
import { VAE_IO, buildVaeDecoder, buildVaeEncoder } from './graph/vae';
import { GUIDANCE_IO, buildGuidanceEncoder } from './graph/gge-graph';

export const BUNDLE_FORMAT = 'magicportrait.diffusion-bundle';
export const BUNDLE_VERSION = 1;
export const MANIFEST = 'manifest.json';
export const UNTRAINED_LABEL = 'untrained demo weights';
/** Bump when the tiny bundle's graphs or generated weights change (cached tiny bundles are rebuilt). */
export const TINY_GENERATOR = 'magicportrait-studio tiny-bundle v1';

export const MODEL_ROLES = ['referenceUnet', 'denoisingUnet', 'vaeEncoder', 'vaeDecoder', 'guidanceEncoder'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

const FILE_NAMES: Record<ModelRole, string> = {
  referenceUnet: 'reference_unet.onnx',
  denoisingUnet: 'denoising_unet.onnx',
  vaeEncoder: 'vae_encoder.onnx',
  vaeDecoder: 'vae_decoder.onnx',
  guidanceEncoder: 'guidance_encoder.onnx',
};

export interface FileEntry {
  path: string;
  bytes: number;
  sha256: string;
}

/** Where one model's weights came from. */
export type WeightSource =
  | { kind: 'checkpoint'; file: string; bytes: number; sha256: string }
  | { kind: 'generated'; generator: string; seed: number };

export interface ModelEntry {
  file: FileEntry;
  /** External weight data (`<file>.data`) of graphs over the protobuf limit. */
  data?: FileEntry;
  sources: WeightSource[];
  /** Key coverage summary of the import (absent for generated weights). */
  keys?: { total: number; used: number; ignored: number; unexpected: string[] };
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  /** 'untrained demo weights' for generated bundles; shown wherever their output is. */
  label?: string;
  createdBy: string;
  /** ISO time; absent for deterministic (generated) bundles. */
  createdAt?: string;
  /** weights: how the ONNX files store them ('float16' = half-size files, Cast to float32 inside the graph). */
  precision: { weights: 'float32' | 'float16'; activations: 'float32'; bank: 'float16' };
  architecture: DiffusionArch;
  scheduler: DDIMConfig;
  sampling: { steps: number; guidanceScale: number; context: ContextOptions; fps: number; prompt: string };
  build: AttentionBuildOptions & { opset: number };
  models: Record<ModelRole, ModelEntry>;
  textEmbeds: FileEntry;
  /** Graph input/output names (documentation; checked against the sessions when they open). */
  io: {
    referenceUnet: { inputs: string[]; outputs: string[] };
    denoisingUnet: { inputs: string[]; outputs: string[] };
    vaeEncoder: { inputs: string[]; outputs: string[] };
    vaeDecoder: { inputs: string[]; outputs: string[] };
    guidanceEncoder: { inputs: string[]; outputs: string[] };
  };
}

export interface DiffusionBundle {
  dir: string;
  manifest: BundleManifest;
  /** The import report (key coverage per model) when the bundle was just written. */
  report?: string;
}

export const REFERENCE_PROMPT = 'A close up of a person.';

export function bundleIO(arch: DiffusionArch): BundleManifest['io'] {
  const banks = bankSites(arch).map((_, i) => bankName(i));
  return {
    referenceUnet: { inputs: [UNET_IO.refLatents, UNET_IO.timestep, UNET_IO.text], outputs: banks },
    denoisingUnet: { inputs: [UNET_IO.sample, UNET_IO.timestep, UNET_IO.text, UNET_IO.guidance, ...banks], outputs: [UNET_IO.out] },
    vaeEncoder: { inputs: [VAE_IO.image], outputs: [VAE_IO.latent] },
    vaeDecoder: { inputs: [VAE_IO.latent], outputs: [VAE_IO.image] },
    guidanceEncoder: { inputs: [...arch.guidance.types], outputs: [GUIDANCE_IO.out] },
  };
}

// ------------------------------------------------------------------------------------------------------------------
// Writing

export interface ModelWeights {
  lookup: WeightLookup;
  sources: WeightSource[];
  /** Generated weights have no meaningful coverage. */
  generated?: boolean;
  /** Called right before this model's graph is built (an importer reads the tensors from disk here), so only one
   *  model's weights are in memory at a time. */
  prepare?: () => Promise<void>;
  /** Called after the graph is saved (an importer drops the tensors here). */
  release?: () => void;
}

export interface WriteBundleOptions {
  label?: string;
  createdBy?: string;
  createdAt?: string;
  scheduler?: Partial<DDIMConfig>;
  sampling?: Partial<BundleManifest['sampling']>;
  build?: AttentionBuildOptions;
  /** (1, T, D) float32 text embedding of the prompt. */
  textEmbeds: Float32Array;
  /** Storage of the weights in the ONNX files (default float32); computation is float32 either way. */
  weights?: 'float32' | 'float16';
  log?: (text: string) => void;
}

/** The graph build options a bundle records: fused (memory-bounded) attention unless the caller asks otherwise. */
export function buildOptions(o: AttentionBuildOptions = {}): BundleManifest['build'] {
  return { opset: 17, attention: 'fused', ...o };
}

/** Keys a real reference-UNet checkpoint holds that the bank writer never executes (§7.1: no conv_norm_out/conv_out;
 *  the graph ends at the last transformer's norm1). */
export function ignoreUnusedReferenceKeys(w: WeightLookup, arch: DiffusionArch): void {
  const last = bankSites(arch).at(-1)!.path.replace(/\./g, '\\.');
  w.ignore(/^conv_norm_out\.|^conv_out\./, 'the reference UNet has no conv_norm_out / conv_out (§7.1)');
  w.ignore(new RegExp(`^${last}\\.(proj_out|transformer_blocks\\.0\\.(attn1|norm2|attn2|norm3|ff))\\.`), 'after the last bank tap (never affects the bank)');
  w.ignore(/motion_modules\./, 'the reference UNet is 2D (no motion modules)');
}

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

async function fileEntry(dir: string, name: string): Promise<FileEntry> {
  const p = join(dir, name);
  return { path: name, bytes: statSync(p).size, sha256: await sha256File(p) };
}

function summarize(c: KeyCoverage): ModelEntry['keys'] {
  return { total: c.total, used: c.used.length, ignored: c.ignored.length, unexpected: c.unexpected };
}

/** Builds every graph from the given weights and writes a complete bundle to `dir` (manifest last). */
export async function writeBundle(dir: string, arch: DiffusionArch, weights: Record<ModelRole, ModelWeights>, opts: WriteBundleOptions): Promise<DiffusionBundle> {
  validateArch(arch);
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  rmSync(join(out, MANIFEST), { force: true });
  const scheduler: DDIMConfig = { ...REFERENCE_SCHEDULER, ...opts.scheduler };
  new DDIMScheduler(scheduler); // validates
  const build = buildOptions(opts.build);
  const textShape = [1, arch.text.tokens, arch.text.dim];
  if (opts.textEmbeds.length !== arch.text.tokens * arch.text.dim)
    throw new MagicPortraitError(`Text embedding has ${opts.textEmbeds.length} values; the architecture needs (${textShape.join(', ')}).`, 'bad-shape');
  const builders: Record<ModelRole, (ctx: { g: GraphBuilder; w: WeightLookup }) => void> = {
    referenceUnet: (ctx) => buildReferenceUNet(arch, ctx, build),
    denoisingUnet: (ctx) => buildDenoisingUNet(arch, ctx, build),
    vaeEncoder: (ctx) => buildVaeEncoder(arch, ctx),
    vaeDecoder: (ctx) => buildVaeDecoder(arch, ctx),
    guidanceEncoder: (ctx) => buildGuidanceEncoder(arch, ctx),
  };
  const models = {} as Record<ModelRole, ModelEntry>;
  const report: string[] = [];
  for (const role of MODEL_ROLES) {
    const wt = weights[role];
    if (role === 'referenceUnet') ignoreUnusedReferenceKeys(wt.lookup, arch);
    await wt.prepare?.();
    const g = new GraphBuilder(role, build.opset);
    builders[role]({ g, w: wt.lookup });
    if (opts.weights === 'float16') g.castWeightsToFloat16();
    const name = FILE_NAMES[role];
    rmSync(join(out, `${name}.data`), { force: true });
    g.save(join(out, name), { 'magicportrait.role': role, 'magicportrait.label': opts.label ?? '' });
    wt.release?.();
    const entry: ModelEntry = { file: await fileEntry(out, name), sources: wt.sources };
    if (existsSync(join(out, `${name}.data`))) entry.data = await fileEntry(out, `${name}.data`);
    if (!wt.generated) {
      const c = wt.lookup.coverage();
      entry.keys = summarize(c);
      report.push(`${role}: ${c.total} keys, ${c.used.length} used, ${c.ignored.length} ignored, ${c.unexpected.length} unexpected` +
        (c.unexpected.length ? `\n  unexpected: ${c.unexpected.slice(0, 12).join(', ')}${c.unexpected.length > 12 ? ' …' : ''}` : ''));
    }
    models[role] = entry;
  }
  writeFileSync(join(out, 'text_embeds.npy'), writeNpy(new NdArray('float32', textShape, opts.textEmbeds)));
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    ...(opts.label ? { label: opts.label } : {}),
    createdBy: opts.createdBy ?? 'magicportrait-studio',
    ...(opts.createdAt ? { createdAt: opts.createdAt } : {}),
    precision: { weights: opts.weights ?? 'float32', activations: 'float32', bank: 'float16' },
    architecture: arch,
    scheduler,
    sampling: { steps: DEFAULT_STEPS, guidanceScale: DEFAULT_GUIDANCE_SCALE, context: { ...REFERENCE_CONTEXT }, fps: 24, prompt: REFERENCE_PROMPT, ...opts.sampling },
    build,
    models,
    textEmbeds: await fileEntry(out, 'text_embeds.npy'),
    io: bundleIO(arch),
  };
  const tmp = join(out, `.${MANIFEST}.${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, join(out, MANIFEST));
  if (report.length) opts.log?.(report.join('\n'));
  return { dir: out, manifest, report: report.join('\n') || undefined };
}

// ------------------------------------------------------------------------------------------------------------------
// Loading and validation

export interface LoadBundleOptions {
  /** 'hash': check sizes and SHA-256 of every file; 'size': sizes only (fast for multi-GB bundles). Default:
   *  'hash' when the bundle is under 1 GB. */
  verify?: 'hash' | 'size';
}

export async function loadBundle(dir: string, opts: LoadBundleOptions = {}): Promise<DiffusionBundle> {
  const root = resolve(dir);
  const mpath = join(root, MANIFEST);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new MagicPortraitError(`Diffusion bundle folder not found: ${root}`, 'bad-bundle');
  if (!existsSync(mpath))
    throw new MagicPortraitError(`${root} has no ${MANIFEST}: not a diffusion bundle, or its build did not finish (the manifest is written last).`, 'bad-bundle');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(mpath, 'utf8'));
  } catch (e) {
    throw new MagicPortraitError(`${mpath} is not valid JSON: ${(e as Error).message}`, 'bad-bundle');
  }
  const m = validateManifest(raw, mpath);
  const entries: FileEntry[] = [m.textEmbeds];
  for (const role of MODEL_ROLES) {
    entries.push(m.models[role].file);
    if (m.models[role].data) entries.push(m.models[role].data!);
  }
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  const verify = opts.verify ?? (total < 1024 ** 3 ? 'hash' : 'size');
  for (const e of entries) {
    const p = join(root, e.path);
    if (!existsSync(p)) throw new MagicPortraitError(`Diffusion bundle ${root}: ${e.path} is missing.`, 'bad-bundle');
    const size = statSync(p).size;
    if (size !== e.bytes) throw new MagicPortraitError(`Diffusion bundle ${root}: ${e.path} has ${size} bytes, the manifest says ${e.bytes} (truncated or replaced).`, 'bad-bundle');
    if (verify === 'hash') {
      const h = await sha256File(p);
      if (h !== e.sha256) throw new MagicPortraitError(`Diffusion bundle ${root}: ${e.path} does not match its SHA-256 in the manifest (damaged or replaced).`, 'bad-bundle');
    }
  }
  return { dir: root, manifest: m };
}

function validateManifest(raw: unknown, where: string): BundleManifest {
  const bad = (why: string) => new MagicPortraitError(`${where}: ${why}.`, 'bad-bundle');
  if (!raw || typeof raw !== 'object') throw bad('the manifest is not an object');
  const m = raw as BundleManifest;
  if (m.format !== BUNDLE_FORMAT) throw bad(`format is '${String(m.format)}', expected '${BUNDLE_FORMAT}'`);
  if (m.version !== BUNDLE_VERSION) throw bad(`version ${String(m.version)} is not supported (this build reads version ${BUNDLE_VERSION})`);
  if (!m.architecture) throw bad('architecture is missing');
  validateArch(m.architecture, `${where} architecture`);
  if (!m.precision || (m.precision.weights !== 'float32' && m.precision.weights !== 'float16') || m.precision.activations !== 'float32' || m.precision.bank !== 'float16')
    throw bad(`precision must be {weights: float32 | float16, activations: float32, bank: float16} (the reference's numerics), got ${JSON.stringify(m.precision)}`);
  try {
    new DDIMScheduler(m.scheduler);
  } catch (e) {
    throw bad(`scheduler: ${(e as Error).message}`);
  }
  const s = m.sampling;
  if (!s || !Number.isInteger(s.steps) || s.steps < 1 || !(s.guidanceScale >= 0) || !(s.fps > 0) || !s.context)
    throw bad('sampling must give steps (≥ 1), guidanceScale (≥ 0), fps (> 0) and context');
  if (s.context.size > Math.min(MAX_WINDOW_FRAMES, m.architecture.unet.motion.maxLen))
    throw bad(`sampling.context.size ${s.context.size} exceeds the motion modules' ${m.architecture.unet.motion.maxLen} positions`);
  if (!m.models) throw bad('models is missing');
  const isEntry = (e: unknown): e is FileEntry => !!e && typeof (e as FileEntry).path === 'string' && Number.isInteger((e as FileEntry).bytes) && /^[0-9a-f]{64}$/.test((e as FileEntry).sha256);
  for (const role of MODEL_ROLES) {
    const e = m.models[role];
    if (!e || !isEntry(e.file)) throw bad(`models.${role}.file must give path, bytes and sha256`);
    if (e.file.path.includes('..') || e.file.path.startsWith('/')) throw bad(`models.${role}.file.path must stay inside the bundle`);
    if (e.data && !isEntry(e.data)) throw bad(`models.${role}.data must give path, bytes and sha256`);
    if (!Array.isArray(e.sources) || !e.sources.length) throw bad(`models.${role}.sources must list where the weights came from`);
  }
  if (!isEntry(m.textEmbeds)) throw bad('textEmbeds must give path, bytes and sha256');
  return m;
}

/** The (1, T, D) text embedding of a bundle. */
export function readTextEmbeds(b: DiffusionBundle): Float32Array {
  const path = join(b.dir, b.manifest.textEmbeds.path);
  const a = parseNpy(readFileSync(path), { file: path });
  const { tokens, dim } = b.manifest.architecture.text;
  if (a.shape.length !== 3 || a.shape[0] !== 1 || a.shape[1] !== tokens || a.shape[2] !== dim)
    throw new MagicPortraitError(`${path} has shape (${a.shape.join(', ')}), expected (1, ${tokens}, ${dim}).`, 'bad-bundle');
  return toFloat32(a);
}

export function modelPath(b: DiffusionBundle, role: ModelRole): string {
  return join(b.dir, b.manifest.models[role].file.path);
}

// ------------------------------------------------------------------------------------------------------------------
// The tiny bundle

/** FNV-1a over a string → 32-bit seed. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** splitmix32 → standard normals (Box–Muller); deterministic per key. */
function normals(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Sinusoidal positional encoding (1, maxLen, C): pe[p, 2i] = sin(p·10000^(−2i/C)), pe[p, 2i+1] = cos(…). */
export function sinusoidalPE(maxLen: number, c: number): Float32Array {
  const pe = new Float32Array(maxLen * c);
  for (let p = 0; p < maxLen; p++)
    for (let i = 0; i < c; i += 2) {
      const a = p * Math.exp(i * (-Math.log(10000) / c));
      pe[p * c + i] = Math.sin(a);
      if (i + 1 < c) pe[p * c + i + 1] = Math.cos(a);
    }
  return pe;
}

/**
 * Seeded weights for any key the builders ask for: matrices N(0, 1/fan_in), norm scales 1 ± 0.05, biases ±0.02,
 * positional encodings sinusoidal (as in a real motion-module checkpoint). Each tensor depends only on (seed, model,
 * key), never on build order. With `stream`, graphs take each tensor only while they are saved (GraphBuilder's
 * deferred initializers), so a full-size build holds one tensor at a time instead of gigabytes of weights.
 */
export class GeneratedWeights extends WeightLookup {
  constructor(
    readonly model: string,
    readonly seed: number,
    private readonly stream = false,
  ) {
    super(new Map(), `generated:${model}`);
  }

  override has(): boolean {
    return true;
  }

  override get streams(): boolean {
    return this.stream;
  }

  override deferred(key: string, shape: readonly number[]): () => Float32Array {
    this.markUsed(key, shape);
    return () => this.tensor(key, shape);
  }

  override tensor(key: string, shape: readonly number[]): Float32Array {
    this.markUsed(key, shape);
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (key.endsWith('pos_encoder.pe')) data = sinusoidalPE(shape[1]!, shape[2]!);
    else {
      data = normals(hash32(`${this.seed}:${this.model}:${key}`), n);
      if (shape.length >= 2) {
        const s = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
        for (let i = 0; i < n; i++) data[i]! *= s;
      } else if (key.endsWith('.weight')) for (let i = 0; i < n; i++) data[i] = 1 + 0.05 * data[i]!;
      else for (let i = 0; i < n; i++) data[i]! *= 0.02;
    }
    return data;
  }
}

export interface TinyBundleOptions {
  seed?: number;
  /** Rebuild even when `dir` already holds this tiny bundle. */
  force?: boolean;
  arch?: DiffusionArch;
}

export interface GeneratedBundleOptions extends TinyBundleOptions {
  /** Weight storage in the ONNX files (default float32). */
  weights?: 'float32' | 'float16';
  build?: AttentionBuildOptions;
  /** Generate each tensor while its graph is saved (peak memory ≈ one tensor + the graph); needed at full size. */
  stream?: boolean;
  /** How a reused bundle is checked: 'hash' (default) or 'size' (fast for multi-GB bundles). */
  verify?: 'hash' | 'size';
  log?: (text: string) => void;
}

/**
 * Builds (or reuses) the tiny demo bundle in `dir`: the full architecture (reference UNet writing the bank, 3D
 * denoising UNet with spatial transformers reading it, text cross-attention, motion modules with sinusoidal PE,
 * time embedding, guidance after conv_in, VAE with mid attention, the three guidance encoders) at toy widths, with
 * seeded generated weights, labelled "untrained demo weights". Deterministic: the same seed gives the same files.
 */
export async function tinyBundle(dir: string, opts: TinyBundleOptions = {}): Promise<DiffusionBundle> {
  return generatedBundle(dir, opts);
}

/**
 * `tinyBundle` for any architecture and storage: the same builders and generated weights, e.g. REFERENCE_ARCH with
 * float16 weights, streamed generation and query chunking for the full-size structural check. Reused when `dir`
 * already holds a bundle of the same generator, seed, architecture, precision and build options.
 */
export async function generatedBundle(dir: string, opts: GeneratedBundleOptions = {}): Promise<DiffusionBundle> {
  const seed = opts.seed ?? 0;
  const arch = opts.arch ?? TINY_ARCH;
  const weightsAs = opts.weights ?? 'float32';
  const build = buildOptions(opts.build);
  if (!opts.force && existsSync(join(dir, MANIFEST))) {
    try {
      const b = await loadBundle(dir, { verify: opts.verify ?? 'hash' });
      const m = b.manifest;
      const src = m.models.denoisingUnet.sources[0];
      const same =
        src?.kind === 'generated' && src.generator === TINY_GENERATOR && src.seed === seed && m.precision.weights === weightsAs &&
        JSON.stringify(m.architecture) === JSON.stringify(arch) && JSON.stringify(m.build) === JSON.stringify(build);
      if (same) return b;
    } catch {
      /* damaged or different: rebuild */
    }
  }
  const weights = {} as Record<ModelRole, ModelWeights>;
  for (const role of MODEL_ROLES) {
    // both VAE graphs read the same VAE weights
    const model = role === 'vaeEncoder' || role === 'vaeDecoder' ? 'vae' : role;
    weights[role] = { lookup: new GeneratedWeights(model, seed, !!opts.stream), sources: [{ kind: 'generated', generator: TINY_GENERATOR, seed }], generated: true };
  }
  const text = normals(hash32(`${seed}:text`), arch.text.tokens * arch.text.dim);
  return writeBundle(dir, arch, weights, { label: UNTRAINED_LABEL, createdBy: TINY_GENERATOR, textEmbeds: text, weights: weightsAs, build: opts.build, log: opts.log });
}

/** A state dict from plain arrays, for importers and tests that hold weights in memory. */
export { stateDictFromArrays, WeightLookup };

/** Latent grid side of a bundle. */
export function bundleLatentSize(b: DiffusionBundle): number {
  return latentSize(b.manifest.architecture);
}

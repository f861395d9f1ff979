/**
 * `magicportrait infer --config configs/inference/inference.yaml`: the official stage C (inference.py) on the ONNX
 * port. Reads and validates the official yaml (diffusion/inference-config.ts), maps its model paths onto a model bundle
 * (given with --bundle, or imported on the fly with the existing importer into the cache, reused while the sources are
 * unchanged), reads the reference image and the guidance folders as Pillow does (sorted names, the yaml's frame_range
 * as a Python slice, JPEG decoded by libjpeg-turbo), samples with the 'reference' preset and writes the official files
 * `results/animations/<exp_name>-<YYYY-MM-DDTHH-MM-SS>/{animation,grid,guidance}.mp4`.
 *
 * The seed's noise: the official run draws it from a CUDA generator, which cannot be regenerated off the GPU; a seed
 * here means PyTorch's CPU stream (diffusion/noise.ts). `--latents FILE.npy` (the official (1, 4, F, 64, 64) initial
 * latent, dumped from a reference run) reproduces an official run exactly.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { decodeImage, sniffImageFormat, type Image } from '../io/image';
import { decodeJpegLibjpegSync, libjpegReady, readImageAsPillow } from '../io/jpeg-libjpeg';
export { readImageAsPillow };
import { type DiffusionArch, validateArch } from '../diffusion/graph/config';
import { MANIFEST, loadBundle, type DiffusionBundle } from '../diffusion/bundle';
import { importMagicPortrait } from '../diffusion/import';
import { openBundle, releaseBundleSessions, pythonSlice } from '../diffusion/sample';
import { sampleStage } from '../pipeline/sample';
import { type GuidanceType } from '../../shared/attention';
import { checkAgainstBundle, ignoredSettings, readInferenceConfig, schedulerFromConfig, type InferenceConfig } from '../diffusion/inference-config';
import { MODEL_MANIFEST, readModelBundle } from '../models/manager';
import { detachedContext, setCurrentRun } from '../runtime/context';
import { ArtifactStore } from '../runtime/artifacts';
import { MIME } from '../../shared/outputs';
import { cacheDir } from '../settings';

export const INFER_USAGE = `  magicportrait infer --config inference.yaml [--bundle DIR] [--out DIR] [--latents FILE.npy]
                     [--arch FILE.json] [--text-embeds FILE.npy] [--precision fp32|fp16]
                                                              the official inference.py run: validates the yaml, maps its
                                                              model paths onto a bundle (imports them when needed), writes
                                                              <out>/<exp_name>-<time>/{animation,grid,guidance}.mp4
                                                              (--out default results/animations, as upstream)`;

/** The guidance files of one type as inference.py lists them: sorted names, then the frame_range slice. */
export function listGuidance(folder: string, type: string, frameRange: [number, number] | null): string[] {
  const dir = join(folder, type);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new MagicPortraitError(`data.guidance_data_folder: ${dir} is not a folder (render_and_transfer.py writes ${type}/ there).`, 'missing-file');
  // Python's sorted() over Path objects compares the strings by code point, as Array.prototype.sort does
  const names = readdirSync(dir).sort();
  for (const n of names) if (statSync(join(dir, n)).isDirectory()) throw new MagicPortraitError(`${join(dir, n)} is a folder; ${dir} must hold only the guidance images.`, 'bad-input');
  const [a, b] = frameRange ? pythonSlice(names.length, frameRange[0], frameRange[1]) : [0, names.length];
  return names.slice(a, b).map((n) => join(dir, n));
}

/**
 * A read-only list of images decoded on access as Pillow decodes them (JPEG by libjpeg-turbo: call libjpegReady()
 * first), the last one kept, so long guidance folders stay out of memory.
 */
function lazyImages(paths: string[]): Image[] {
  const cache = new Map<number, Image>();
  const load = (i: number): Image => {
    let im = cache.get(i);
    if (!im) {
      const bytes = new Uint8Array(readFileSync(paths[i]!));
      im = sniffImageFormat(bytes) === 'jpeg' ? decodeJpegLibjpegSync(bytes, paths[i]) : decodeImage(bytes, { name: paths[i] });
      cache.clear();
      cache.set(i, im);
    }
    return im;
  };
  return new Proxy([] as Image[], {
    get(target, p) {
      if (p === 'length') return paths.length;
      if (typeof p === 'string' && /^\d+$/.test(p)) return load(Number(p));
      return Reflect.get(target, p);
    },
    has(_t, p) {
      return typeof p === 'string' && /^\d+$/.test(p) ? Number(p) < paths.length : p === 'length';
    },
  });
}

interface SourceStamp {
  path: string;
  bytes: number;
  mtimeMs: number;
}

function stamp(path: string): SourceStamp {
  const s = statSync(path);
  return { path: resolve(path), bytes: s.size, mtimeMs: s.mtimeMs };
}

function checkpointFiles(cfg: InferenceConfig, types: readonly string[]): Record<string, string> {
  const ck = resolve(cfg.ckpt_dir);
  return {
    motion_module_path: resolve(cfg.motion_module_path),
    'ckpt_dir/denoising_unet.pth': join(ck, 'denoising_unet.pth'),
    'ckpt_dir/reference_unet.pth': join(ck, 'reference_unet.pth'),
    ...Object.fromEntries(types.map((t) => [`ckpt_dir/guidance_encoder_${t}.pth`, join(ck, `guidance_encoder_${t}.pth`)])),
  };
}

/** A diffusion bundle folder from --bundle: a model bundle (its diffusion/ step) or a diffusion bundle itself. */
function bundleFolder(dir: string): string {
  const d = resolve(dir);
  if (existsSync(join(d, MODEL_MANIFEST)) && readModelBundle(d)?.steps.diffusion) return join(d, 'diffusion');
  if (existsSync(join(d, MANIFEST))) return d;
  throw new MagicPortraitError(`--bundle ${d} is neither a model bundle with a diffusion step (${MODEL_MANIFEST}) nor a diffusion bundle (${MANIFEST}).`, 'bad-bundle');
}

export interface InferOptions {
  config: string;
  bundle?: string;
  out?: string;
  latents?: string;
  arch?: DiffusionArch;
  textEmbeds?: string;
  precision?: 'fp32' | 'fp16';
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface InferResult {
  dir: string;
  files: { animation: string; grid: string; guidance?: string };
  frames: number;
  bundle: string;
  imported: boolean;
}

/** Runs the official inference from its yaml (see the header). */
export async function infer(o: InferOptions): Promise<InferResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const file = resolve(o.config);
  const cfg = readInferenceConfig(file);
  const types = cfg.guidance_types as GuidanceType[];
  // every file the run needs, checked before anything is imported or sampled
  const ref = resolve(cfg.data.ref_image_path);
  const files = checkpointFiles(cfg, types);
  const missing = [
    ...(existsSync(ref) ? [] : [`data.ref_image_path: ${ref}`]),
    ...(existsSync(resolve(cfg.data.guidance_data_folder)) ? [] : [`data.guidance_data_folder: ${resolve(cfg.data.guidance_data_folder)}`]),
  ];
  const guidancePaths = {} as Record<GuidanceType, string[]>;
  if (!missing.length) for (const t of types) guidancePaths[t] = listGuidance(resolve(cfg.data.guidance_data_folder), t, cfg.data.frame_range);
  const counts = types.map((t) => guidancePaths[t]?.length ?? 0);
  if (!missing.length && counts.some((c) => c !== counts[0]))
    throw new MagicPortraitError(`${file}: the guidance types have different frame counts after frame_range (${types.map((t, i) => `${t} ${counts[i]}`).join(', ')}); inference.py asserts they are equal.`, 'bad-input');
  if (!missing.length && !counts[0]) throw new MagicPortraitError(`${file}: no guidance frames in ${resolve(cfg.data.guidance_data_folder)} for frame_range ${JSON.stringify(cfg.data.frame_range)}.`, 'bad-input');

  // the bundle: given, or imported from the yaml's paths (reused while the sources are unchanged)
  let dir: string;
  let imported = false;
  if (o.bundle) dir = bundleFolder(o.bundle);
  else {
    const need = { base_model_path: resolve(cfg.base_model_path), vae_model_path: resolve(cfg.vae_model_path), ...files };
    for (const [k, p] of Object.entries(need)) if (!existsSync(p)) missing.push(`${k}: ${p}`);
    if (missing.length) throw new MagicPortraitError(`${file}: not found:\n  ${missing.join('\n  ')}`, 'missing-file');
    const stamps = Object.values(files).map(stamp);
    const key = createHash('sha256').update(JSON.stringify({ base: need.base_model_path, vae: need.vae_model_path, stamps: stamps.map((s) => s.path), arch: o.arch ?? null, precision: o.precision ?? 'fp32' })).digest('hex').slice(0, 16);
    dir = cacheDir('bundles', `infer-${key}`);
    const stampFile = join(dir, '.infer-sources.json');
    const prev = existsSync(stampFile) && existsSync(join(dir, MANIFEST)) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as SourceStamp[]) : null;
    if (prev && JSON.stringify(prev) === JSON.stringify(stamps)) log(`Model bundle: ${dir} (imported earlier from the same files)`);
    else {
      log(`Importing the yaml's models into ${dir} (once; reused while the files are unchanged)…`);
      let last = 0;
      const b = await importMagicPortrait(
        { sd15Dir: need.base_model_path, vaeDir: need.vae_model_path, ckptDir: resolve(cfg.ckpt_dir), motionModule: files.motion_module_path!, textEmbeds: o.textEmbeds },
        dir,
        {
          arch: o.arch, precision: o.precision, signal: o.signal,
          onProgress: (p) => {
            if (Date.now() - last < 2000 && p.stage === 'load') return;
            last = Date.now();
            log(`  [${(100 * p.fraction).toFixed(0).padStart(3)}%] ${p.message}`);
          },
        },
      );
      if (!b.importReport.complete) log(b.importReport.text);
      writeFileSync(stampFile, JSON.stringify(stamps, null, 1));
      imported = true;
    }
  }
  if (missing.length) throw new MagicPortraitError(`${file}: not found:\n  ${missing.join('\n  ')}`, 'missing-file');
  const bundle: DiffusionBundle = o.bundle ? await loadBundle(dir) : await openBundle(dir);
  if (o.bundle) {
    // the yaml's checkpoints must be the ones the bundle was imported from (names and sizes)
    const have = new Set(Object.values(bundle.manifest.models).flatMap((m) => ((m as { sources?: { file: string; bytes: number }[] }).sources ?? []).map((s) => `${s.file}:${s.bytes}`)));
    if (have.size) {
      const differ = Object.entries(files).filter(([, p]) => existsSync(p) && !have.has(`${basename(p)}:${statSync(p).size}`)).map(([k, p]) => `${k} (${p})`);
      if (differ.length) throw new MagicPortraitError(`--bundle ${dir} was not imported from the yaml's checkpoints: ${differ.join(', ')} differ (name or size). Import them again, or leave out --bundle to import on the fly.`, 'bad-bundle');
    }
  }
  const mismatch = checkAgainstBundle(cfg, bundle.manifest.architecture);
  if (mismatch.length) throw new MagicPortraitError(`${file} describes another model than the bundle ${dir}:\n  ${mismatch.join('\n  ')}`, 'bad-config');
  const scheduler = schedulerFromConfig(cfg, file);
  for (const n of ignoredSettings(cfg)) log(`Note: ${n}`);
  if (!o.latents) log(`Note: seed ${cfg.seed} draws PyTorch's CPU-generator noise; the official run's CUDA-generator noise cannot be regenerated off the GPU (pass --latents FILE.npy from a reference run to match it exactly).`);

  const reference = await readImageAsPillow(ref);
  await libjpegReady();
  const maps = {} as Record<GuidanceType, Image[]>;
  for (const t of types) maps[t] = lazyImages(guidancePaths[t]!);
  const time = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
  const outDir = join(resolve(o.out ?? join('results', 'animations')), `${cfg.exp_name === null ? 'exp' : cfg.exp_name}-${time}`);
  const artifacts = mkdtempSync(join(tmpdir(), 'mp-infer-'));
  const controller = new AbortController();
  o.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let lastLine = 0;
  setCurrentRun({
    ...detachedContext(process.cwd(), artifacts),
    signal: controller.signal,
    artifacts: new ArtifactStore(artifacts),
    emitDisplay: (b) => {
      if (b[MIME.progress]) log(String(b['text/plain'] ?? ''));
    },
    updateDisplay: (b) => {
      if (!b[MIME.progress] || Date.now() - lastLine < 5000) return;
      lastLine = Date.now();
      log(String(b['text/plain'] ?? ''));
    },
  });
  try {
    log(`Sampling ${counts[0]} frames (${types.join(' + ')}; ${cfg.num_inference_steps} steps, guidance scale ${cfg.guidance_scale}, preset 'reference') → ${outDir}`);
    const r = await sampleStage(
      {
        reference, guidance: { maps }, bundle, steps: cfg.num_inference_steps, guidanceScale: cfg.guidance_scale, seed: cfg.seed,
        preset: 'reference', frameRange: null, scheduler, ...(o.latents ? { latents: resolve(o.latents) } : {}),
      },
      { outDir, display: true, previewEvery: 0, outputSize: 'reference' },
    );
    r.frames.dispose();
    return { dir: outDir, files: r.files!, frames: r.frameCount, bundle: dir, imported };
  } finally {
    setCurrentRun(null);
    await releaseBundleSessions(bundle);
    rmSync(artifacts, { recursive: true, force: true });
  }
}

/** `magicportrait infer …` argument handling. */
export async function inferCommand(args: string[]): Promise<number> {
  const flags: Record<string, string> = {};
  const known = ['--config', '--bundle', '--out', '--latents', '--arch', '--text-embeds', '--precision'];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!known.includes(a)) throw new MagicPortraitError(`Unexpected argument '${a}'\nusage:\n${INFER_USAGE}`);
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) throw new MagicPortraitError(`${a} needs a value\nusage:\n${INFER_USAGE}`);
    flags[a] = v;
  }
  if (!flags['--config']) throw new MagicPortraitError(`magicportrait infer needs --config inference.yaml\nusage:\n${INFER_USAGE}`);
  const precision = flags['--precision'] ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'fp16') throw new MagicPortraitError(`--precision must be fp32 or fp16, got '${precision}'`);
  let arch: DiffusionArch | undefined;
  if (flags['--arch']) {
    arch = JSON.parse(readFileSync(resolve(flags['--arch']), 'utf8')) as DiffusionArch;
    validateArch(arch, flags['--arch']);
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const r = await infer({ config: flags['--config'], bundle: flags['--bundle'], out: flags['--out'], latents: flags['--latents'], arch, textEmbeds: flags['--text-embeds'], precision, signal: controller.signal });
    console.log(`Inference completed, results saved in ${r.dir}`);
    for (const f of Object.values(r.files)) console.log(`  ${f}`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

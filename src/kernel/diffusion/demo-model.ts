/**
 * The trained demo model (training/demo-model/, installed from a training run by scripts/install-demo-model.mjs):
 * found beside the code (a source checkout or the installed extension), imported through the normal importers — the
 * diffusion bundle by `importMagicPortrait` (architecture derived from the files) and the Geometric Guidance Encoders
 * by `importGGE` from the same `guidance_encoder_*.pth` — into the cache, and labelled DEMO_MODEL_LABEL everywhere.
 *
 * Cache: `<cacheDir>/bundles/demo-model/<key>/{diffusion/, gge/, demo-model.json}`, key = SHA-256 over the importer
 * version, the variant and every source file's path and content, so the files are imported once and again whenever
 * they change. An import is built in a temporary folder (demo-model.json written last) and renamed into place, so a
 * killed import never looks complete; a lock file keeps concurrent kernels from importing the same key twice (a
 * second one waits for the first; a lock whose process is gone is taken over).
 *
 * Variant 'stage1': the same files with every motion module's output projection zeroed — exactly the identity motion
 * modules the trainer writes as motion_module-0.pth (AnimateDiff's zero-initialised proj_out) — i.e. the stage-1
 * model, for the temporal-consistency comparison. (Stage 2 trains only the motion modules, so the other weights are
 * stage 1's.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { encodeSafetensorsF32 } from '../io/safetensors';
import { openTorchCheckpoint } from '../io/torch-checkpoint';
import { toFloat32 } from '../io/ndarray';
import { type GGEBundle, loadGGEBundle } from '../gge/bundle';
import { importGGE } from '../gge/import';
import { type DiffusionBundle, loadBundle } from './bundle';
import { deriveArch } from './arch-from-configs';
import { type FileCoverage, importMagicPortrait, type ImportPaths } from './import';

export const DEMO_MODEL_LABEL = "demo model trained on synthetic demo-head data — not MagicPortrait's weights";
/** Bump when what an import produces changes (cached imports are then redone). */
export const DEMO_MODEL_IMPORTER = 'magicportrait-studio demo-model import v2';
const DONE = 'demo-model.json';

export type DemoModelVariant = 'stage2' | 'stage1';

export interface DemoModelSource extends Omit<ImportPaths, 'textEmbeds'> {
  /** The demo-model folder (base/, ckpts/, run/). */
  dir: string;
  /** Every file the import reads (absolute paths). */
  files: string[];
}

export interface DemoModel extends DiffusionBundle {
  /** The trained Geometric Guidance Encoders, imported from the same guidance_encoder_*.pth (for `mp.gge`). */
  gge: GGEBundle;
  label: string;
  variant: DemoModelVariant;
  /** The demo-model folder the files came from, and the content key of the import. */
  source: string;
  key: string;
  /** training/demo-model/run/provenance.json (command, seed, wall times, dataset), when present. */
  provenance?: Record<string, unknown>;
  /** The diffusion import's key coverage per checkpoint file (paths relative to `source`; always complete: an
   *  incomplete import throws). */
  coverage: FileCoverage[];
}

export interface DemoModelOptions {
  /** The demo-model folder (default: MAGICPORTRAIT_DEMO_MODEL, else training/demo-model beside the code). */
  dir?: string;
  /** The cache root (default MAGICPORTRAIT_CACHE, else ~/.cache/magicportrait). */
  cacheDir?: string;
  variant?: DemoModelVariant;
  /** Other files in the same layouts (e.g. a training run: `runSource(run)`), imported the same way. */
  source?: DemoModelSource;
  /** The label of what `source` holds (default DEMO_MODEL_LABEL). */
  label?: string;
  signal?: AbortSignal;
  onProgress?: (p: { fraction: number; message: string }) => void;
}

function cacheRoot(o: DemoModelOptions): string {
  return o.cacheDir ?? process.env.MAGICPORTRAIT_CACHE ?? join(homedir(), '.cache', 'magicportrait');
}

/** training/demo-model: MAGICPORTRAIT_DEMO_MODEL, else the first `training/demo-model` above this module (the
 *  repository in a source checkout, the extension's folder when bundled into dist/). */
export function findDemoModel(): string {
  const env = process.env.MAGICPORTRAIT_DEMO_MODEL;
  if (env) return resolve(env);
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let d = start; ; d = dirname(d)) {
    const c = join(d, 'training', 'demo-model');
    if (existsSync(join(c, 'ckpts'))) return c;
    if (dirname(d) === d) break;
  }
  throw new MagicPortraitError(`The demo model (training/demo-model/) was not found above ${start}; set MAGICPORTRAIT_DEMO_MODEL to its folder.`, 'missing-file');
}

/** The files of a demo-model folder, checked: base/ (SD 1.5 layout) and the official ckpts/ with one motion module. */
export function demoModelSource(dir = findDemoModel()): DemoModelSource {
  const root = resolve(dir);
  return modelSource(root, join(root, 'base'), join(root, 'ckpts'));
}

/** A small-config training run's newest official checkpoints (stage2/ckpts, else stage1/ckpts) with its base/. */
export function runSource(run: string): DemoModelSource {
  const root = resolve(run);
  const ck = ['stage2', 'stage1'].map((s) => join(root, s, 'ckpts')).find((d) => existsSync(join(d, 'denoising_unet.pth')));
  if (!ck) throw new MagicPortraitError(`${root} has no checkpoints yet (stage1/ckpts or stage2/ckpts): train at least stage 1 to its end.`, 'missing-file');
  if (!existsSync(join(root, 'base', 'unet', 'config.json'))) throw new MagicPortraitError(`${root}: no base/ model folder (runs of the 'real' config import with magicportrait import --sd15 …).`, 'missing-file');
  return modelSource(root, join(root, 'base'), ck);
}

function modelSource(root: string, base: string, ck: string): DemoModelSource {
  if (!existsSync(ck)) throw new MagicPortraitError(`${root}: no ckpts/ folder (not a demo model; see training/demo-model/README.md).`, 'missing-file');
  const motion = readdirSync(ck).filter((n) => /^motion_module-\d+\.pth$/.test(n)).sort((a, b) => Number(b.match(/\d+/)![0]) - Number(a.match(/\d+/)![0]));
  if (!motion.length) throw new MagicPortraitError(`${ck}: no motion_module-<step>.pth.`, 'missing-file');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.push(join(d, e.name));
    }
  };
  walk(base);
  for (const n of ['reference_unet.pth', 'denoising_unet.pth', 'guidance_encoder_depth.pth', 'guidance_encoder_normal.pth', 'guidance_encoder_render.pth', motion[0]!]) {
    const p = join(ck, n);
    if (!existsSync(p)) throw new MagicPortraitError(`${ck}: ${n} is missing.`, 'missing-file');
    files.push(p);
  }
  return { dir: root, sd15Dir: base, vaeDir: join(base, 'vae'), ckptDir: ck, motionModule: join(ck, motion[0]!), files };
}

const hashMemo = new Map<string, { sig: string; sha: string }>();

function fileSha(path: string): string {
  const st = statSync(path);
  const sig = `${st.size}:${st.mtimeMs}`;
  const m = hashMemo.get(path);
  if (m && m.sig === sig) return m.sha;
  const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
  hashMemo.set(path, { sig, sha });
  return sha;
}

/** The content key of an import: importer version, variant, and every file's path (relative) and SHA-256. */
export function demoModelKey(src: DemoModelSource, variant: DemoModelVariant = 'stage2', label = DEMO_MODEL_LABEL): string {
  const h = createHash('sha256').update(`${DEMO_MODEL_IMPORTER}\n${variant}\n${label}\n`);
  for (const f of src.files) h.update(`${relative(src.dir, f)}\t${fileSha(f)}\n`);
  return h.digest('hex').slice(0, 24);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes `<final>.lock` (or waits while another live process holds it); resolves to a release function, or null when
 *  the other process finished the import meanwhile. */
async function takeLock(final: string, signal?: AbortSignal): Promise<(() => void) | null> {
  const lock = `${final}.lock`;
  for (;;) {
    if (existsSync(join(final, DONE))) return null;
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(lock, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      // a killed importer's lock: take it over (unlink, then race for it with openSync 'wx' as above)
      try {
        unlinkSync(lock);
      } catch {
        /* someone else did */
      }
      continue;
    }
    if (signal?.aborted) throw new CancelledError('demo model import');
    await sleep(250);
  }
}

/** The motion-module file with every temporal transformer's proj_out zeroed (the identity), as .safetensors. */
export async function writeIdentityMotionModule(src: string, out: string): Promise<number> {
  const store = await openTorchCheckpoint(src);
  try {
    const tensors = [];
    let zeroed = 0;
    for (const k of store.keys()) {
      const data = toFloat32(await store.get(k));
      if (/\.motion_modules\.\d+\.temporal_transformer\.proj_out\.(weight|bias)$/.test(k)) {
        data.fill(0);
        zeroed++;
      }
      tensors.push({ name: k, shape: store.info(k).shape, data });
    }
    if (!zeroed) throw new MagicPortraitError(`${src}: no motion_modules.*.temporal_transformer.proj_out keys to zero.`, 'missing-key');
    writeFileSync(out, encodeSafetensorsF32(tensors));
    return zeroed;
  } finally {
    await store.close();
  }
}

function readProvenance(dir: string): Record<string, unknown> | undefined {
  const p = join(dir, 'run', 'provenance.json');
  try {
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const loaded = new Map<string, Promise<DemoModel>>();

/**
 * The demo model, imported into the cache once per content (see the module comment) and loaded; the same object for
 * the same folder, variant and content within a process, so its ONNX sessions are reused.
 */
export function demoModel(o: DemoModelOptions = {}): Promise<DemoModel> {
  const src = o.source ?? demoModelSource(o.dir);
  const variant = o.variant ?? 'stage2';
  const key = demoModelKey(src, variant, o.label);
  const final = join(cacheRoot(o), 'bundles', 'demo-model', key);
  let p = loaded.get(final);
  if (!p) {
    p = importOrLoad(src, variant, key, final, o);
    loaded.set(final, p);
    p.catch(() => loaded.delete(final));
  }
  return p;
}

async function load(src: DemoModelSource, variant: DemoModelVariant, key: string, final: string): Promise<DemoModel> {
  const b = await loadBundle(join(final, 'diffusion'));
  const gge = loadGGEBundle(join(final, 'gge'));
  const provenance = readProvenance(src.dir);
  const done = JSON.parse(readFileSync(join(final, DONE), 'utf8')) as { coverage?: FileCoverage[] };
  return { ...b, gge, label: b.manifest.label ?? DEMO_MODEL_LABEL, variant, source: src.dir, key, coverage: done.coverage ?? [], ...(provenance ? { provenance } : {}) };
}

async function importOrLoad(src: DemoModelSource, variant: DemoModelVariant, key: string, final: string, o: DemoModelOptions): Promise<DemoModel> {
  if (existsSync(join(final, DONE))) return load(src, variant, key, final);
  mkdirSync(dirname(final), { recursive: true });
  const release = await takeLock(final, o.signal);
  if (!release) return load(src, variant, key, final);
  const tmp = `${final}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
  const progress = o.onProgress ?? (() => {});
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const base = o.label ?? DEMO_MODEL_LABEL;
    const label = variant === 'stage1' ? `${base} (stage 1 only: identity motion modules)` : base;
    let motionModule = src.motionModule;
    if (variant === 'stage1') {
      progress({ fraction: 0, message: 'identity motion modules (proj_out zeroed)' });
      motionModule = join(tmp, 'motion_module-identity.safetensors');
      await writeIdentityMotionModule(src.motionModule, motionModule);
    }
    const paths = { sd15Dir: src.sd15Dir, vaeDir: src.vaeDir, ckptDir: src.ckptDir, motionModule };
    const b = await importMagicPortrait(paths, join(tmp, 'diffusion'), {
      label,
      noDiskCheck: true,
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (p) => progress({ fraction: 0.9 * p.fraction, message: `diffusion bundle: ${p.message}` }),
    });
    if (!b.importReport.complete) throw new MagicPortraitError(`The demo model in ${src.dir} did not import with full key coverage:\n${b.importReport.text}`, 'bad-file');
    if (o.signal?.aborted) throw new CancelledError('demo model import');
    progress({ fraction: 0.9, message: 'guidance encoders (attention explorer)' });
    const arch = await deriveArch(paths);
    const gge = await importGGE(src.ckptDir, join(tmp, 'gge'), { label, log: () => {}, config: { attentionHeads: arch.guidance.heads, normGroups: arch.guidance.normGroups } });
    const unexpected = Object.values(gge.manifest.encoders).flatMap((e) => e!.keys.unexpected);
    if (unexpected.length) throw new MagicPortraitError(`The demo model's guidance encoders have unexpected keys: ${unexpected.slice(0, 5).join(', ')}`, 'bad-file');
    // coverage per file, named relative to the model folder (the stage-1 variant's derived motion module by its name)
    const coverage = b.importReport.files.map((f) => ({ ...f, file: f.file.startsWith(tmp) ? relative(tmp, f.file) : relative(src.dir, f.file) }));
    writeFileSync(join(tmp, DONE), JSON.stringify({ importer: DEMO_MODEL_IMPORTER, key, variant, label, source: src.dir, createdAt: new Date().toISOString(), importReport: b.importReport.text, coverage }, null, 1) + '\n');
    try {
      renameSync(tmp, final);
    } catch (e) {
      // an import of the same key that did not take the lock (it was stale) finished first: use it
      if (!existsSync(join(final, DONE))) {
        rmSync(final, { recursive: true, force: true });
        renameSync(tmp, final);
      }
    }
    progress({ fraction: 1, message: `imported into ${final}` });
    return await load(src, variant, key, final);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    release();
  }
}

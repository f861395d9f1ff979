/**
 * The model manager's import steps, as data: each step names the folders it reads, estimates its disk and memory
 * from headers, and imports into its own sub-folder of the model bundle. The manager (manager.ts), the CLI and the
 * VS Code panel all work from `MODEL_STEPS`, so a new importer is one entry there (see `encoderStep`).
 */
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import type { KeyCoverage } from '../onnx/blocks';
import { estimateImport, importMagicPortrait } from '../diffusion/import';
import type { DiffusionArch } from '../diffusion/graph/config';
import { loadFlame } from '../flame/model-files';
import { DECA_ENCODER_FILE, importDecaEncoder } from '../perception/deca-encoder';
import { importSmirk, SMIRK_ENCODER_FILE } from '../perception/smirk-encoder';
import { FLAME_2020, MAGICPORTRAIT_CKPTS, SD15, SD_VAE, type FolderScan, type FolderSpec, singleFileFolder } from './folders';
import type { CoverageRow, Precision, StepEstimate } from '../../shared/model-manager';

export interface StepRunContext {
  /** This step's folder inside the bundle (empty when run starts). */
  dir: string;
  precision: Precision;
  /** The architecture override for this step (tests with small checkpoints); undefined = the real architecture. */
  arch?: unknown;
  signal: AbortSignal;
  /** SHA-256 of the step's source files, already computed by the manager (absolute path → hex). */
  hashes: ReadonlyMap<string, string>;
  progress(fraction: number, message: string): void;
}

export interface StepOutcome {
  coverage: CoverageRow[];
  report: string;
  /** No unexpected key anywhere. */
  complete: boolean;
}

/** The scanned folders of a step, by folder id. */
export type StepFolders = Record<string, FolderScan>;

export interface ModelStep {
  id: string;
  label: string;
  folders: readonly FolderSpec[];
  /** Whether the precision choice changes this step's output (it is then part of the re-import key). */
  usesPrecision: boolean;
  estimate(f: StepFolders, precision: Precision, arch?: unknown): Promise<StepEstimate>;
  run(f: StepFolders, ctx: StepRunContext): Promise<StepOutcome>;
}

/** The found path of file `name` in folder `folder` (the step only runs when every required file is found). */
export function fileIn(f: StepFolders, folder: string, name: string): string | undefined {
  return f[folder]?.files.find((x) => x.name === name)?.path;
}

function need(f: StepFolders, folder: string, name: string): string {
  const p = fileIn(f, folder, name);
  if (!p) throw new MagicPortraitError(`${f[folder]?.label ?? folder}: ${name} was not found${f[folder]?.dir ? ` in ${f[folder]!.dir}` : ''}.`, 'missing-file');
  return p;
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError('import');
}

// ------------------------------------------------------------------------------------------------------------------
// Diffusion: MagicPortrait ckpts + SD 1.5 + sd-vae-ft-mse → diffusion bundle (src/kernel/diffusion/import.ts)

function diffusionPaths(f: StepFolders) {
  return {
    sd15Dir: f.sd15!.dir!,
    vaeDir: f.vae!.dir!,
    ckptDir: f.magicportrait!.dir!,
    motionModule: need(f, 'magicportrait', MAGICPORTRAIT_CKPTS.files.at(-1)!.name),
  };
}

export const diffusionStep: ModelStep = {
  id: 'diffusion',
  label: 'Diffusion bundle (UNets, VAE, guidance encoders, prompt)',
  folders: [MAGICPORTRAIT_CKPTS, SD15, SD_VAE],
  usesPrecision: true,
  async estimate(f, precision, arch) {
    const e = await estimateImport(diffusionPaths(f), arch as DiffusionArch | undefined, precision);
    return { diskBytes: e.diskBytes, peakMemoryBytes: e.peakMemoryBytes, exact: true };
  },
  async run(f, ctx) {
    const b = await importMagicPortrait(diffusionPaths(f), ctx.dir, {
      precision: ctx.precision,
      arch: ctx.arch as DiffusionArch | undefined,
      signal: ctx.signal,
      sourceHashes: ctx.hashes,
      onProgress: (p) => ctx.progress(p.fraction, p.message),
    });
    const r = b.importReport;
    return {
      coverage: r.files.map((c) => ({ file: c.file, total: c.total, used: c.used, overridden: c.overridden, ignored: c.ignored.length, unexpected: c.unexpected.length })),
      report: r.text,
      complete: r.complete,
    };
  },
};

// ------------------------------------------------------------------------------------------------------------------
// FLAME 2020: validated with the same loader the fitter uses, then copied (the files are read as they are at run time)

const FLAME_FILES = FLAME_2020.files.map((r) => r.name);

export const flameStep: ModelStep = {
  id: 'flame',
  label: 'FLAME 2020 head model',
  folders: [FLAME_2020],
  usesPrecision: false,
  async estimate(f) {
    const bytes = f.flame!.files.reduce((s, x) => s + (x.bytes ?? 0), 0);
    // loadFlame holds the float64 bases: about the model file's own size again
    return { diskBytes: bytes, peakMemoryBytes: 2 * bytes, exact: false };
  },
  async run(f, ctx) {
    const scan = f.flame!;
    const found = (name: string) => scan.files.find((x) => x.name === name)?.found;
    ctx.progress(0.05, `FLAME: loading ${found(FLAME_FILES[0]!)}`);
    const model = await loadFlame(scan.dir!, { model: found(FLAME_FILES[0]!), landmarks: found(FLAME_FILES[1]!), texture: found(FLAME_FILES[2]!), template: found(FLAME_FILES[3]!) });
    throwIfCancelled(ctx.signal);
    const coverage: CoverageRow[] = [];
    const present = scan.files.filter((x) => x.path);
    present.forEach((x, i) => {
      ctx.progress(0.5 + (0.5 * i) / present.length, `FLAME: copying ${x.found}`);
      throwIfCancelled(ctx.signal);
      const to = join(ctx.dir, x.found!);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(x.path!, to);
      const note =
        x.name === FLAME_FILES[0]
          ? `loaded: ${model.numVertices} vertices, ${model.numShape} shape + ${model.numExpression} expression components, ${model.numJoints} joints`
          : x.name === FLAME_FILES[1]
            ? 'loaded: landmark embedding'
            : x.name === FLAME_FILES[2]
              ? `loaded: texture space (${model.texture?.numComponents ?? '?'} components)`
              : 'loaded: UV layout';
      coverage.push({ file: x.path!, note });
    });
    const missing = scan.files.filter((x) => !x.path).map((x) => x.name);
    return {
      coverage,
      report: `${model.name}: ${coverage.map((c) => `${c.file}: ${c.note}`).join('; ')}${missing.length ? `; not given (optional): ${missing.join(', ')}` : ''}`,
      complete: true,
    };
  },
};

// ------------------------------------------------------------------------------------------------------------------
// Encoders: one checkpoint file → one ONNX graph with key coverage (DECA's E_flame; SMIRK registers the same way)

/** An importer of one checkpoint into one ONNX file; `arch` undefined means the real architecture. */
export type EncoderImporter = (checkpoint: string, outOnnx: string, arch?: never) => Promise<{ coverage: KeyCoverage; report: string }>;

export interface EncoderStepOptions {
  id: string;
  label: string;
  /** The checkpoint's file name in the user's folder, e.g. `deca_model.tar`. */
  file: string;
  hint: string;
  /** The ONNX file written in the step's folder. */
  output: string;
  importer: EncoderImporter;
}

export function encoderStep(o: EncoderStepOptions): ModelStep {
  const folder = singleFileFolder(o.id, o.label, o.file, o.hint);
  return {
    id: o.id,
    label: `${o.label} encoder`,
    folders: [folder],
    usesPrecision: false,
    async estimate(f) {
      const bytes = f[o.id]!.files[0]!.bytes ?? 0;
      // the graph holds a subset of the checkpoint's tensors as float32 (some checkpoints also hold other modules)
      return { diskBytes: bytes, peakMemoryBytes: 2 * bytes, exact: false };
    },
    async run(f, ctx) {
      const src = need(f, o.id, o.file);
      ctx.progress(0.05, `${o.label}: reading ${o.file} and building ${o.output}`);
      const r = await o.importer(src, join(ctx.dir, o.output), ctx.arch as never);
      throwIfCancelled(ctx.signal);
      const c = r.coverage;
      ctx.progress(1, `${o.label}: wrote ${o.output} (${statSync(join(ctx.dir, o.output)).size} bytes)`);
      return {
        coverage: [{ file: src, total: c.total, used: c.used.length, overridden: 0, ignored: c.ignored.length, unexpected: c.unexpected.length }],
        report: r.report,
        complete: c.unexpected.length === 0,
      };
    },
  };
}

export const decaStep = encoderStep({
  id: 'deca',
  label: 'DECA',
  file: 'deca_model.tar',
  hint: "the folder holding DECA's deca_model.tar (its coarse encoder E_flame is imported)",
  output: DECA_ENCODER_FILE,
  importer: importDecaEncoder,
});

export const smirkStep = encoderStep({
  id: 'smirk',
  label: 'SMIRK',
  file: 'SMIRK_em1.pt',
  hint: "the folder holding SMIRK's SMIRK_em1.pt (its pose, shape and expression encoders are imported)",
  output: SMIRK_ENCODER_FILE,
  // importSmirk writes <dir>/smirk_encoder.onnx
  importer: (checkpoint, outOnnx) => importSmirk(checkpoint, dirname(outOnnx)),
});

/** Every step the manager offers, in import order. A new importer is one `encoderStep` (or a step like diffusionStep) here. */
export const MODEL_STEPS: readonly ModelStep[] = [diffusionStep, flameStep, decaStep, smirkStep];

/** The folders of `steps`, each once, in order. */
export function folderSpecs(steps: readonly ModelStep[] = MODEL_STEPS): FolderSpec[] {
  const out = new Map<string, FolderSpec>();
  for (const s of steps) for (const f of s.folders) out.set(f.id, f);
  return [...out.values()];
}

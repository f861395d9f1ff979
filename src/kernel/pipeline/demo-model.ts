/**
 * `mp.bundle.demo()`: the trained demo model (diffusion/demo-model.ts) as a notebook stage — imported into the cache
 * on first use with a progress bar in the cell (cancellable), then loaded; the result shows its label, architecture and
 * provenance when displayed, and samples like any bundle (`mp.sample({ …, bundle })`; `mp.gge(maps, { bundle })`
 * runs its trained guidance encoders).
 */
import { newProgress, currentRun } from '../runtime/context';
import { DISPLAY } from '../runtime/display';
import type { MimeBundle } from '../../shared/outputs';
import type { Progress } from '../runtime/progress';
import { type DemoModel, type DemoModelVariant, DEMO_MODEL_LABEL, demoModel } from '../diffusion/demo-model';
import { resolvePath } from './face';
import { tinyBundle, type DiffusionBundle } from '../diffusion/bundle';
import { cacheDir } from '../settings';

export interface DemoModelStageOptions {
  /** 'stage2' (default): the trained model; 'stage1': its stage-1 weights with identity motion modules. */
  variant?: DemoModelVariant;
  /** Another demo-model folder (base/, ckpts/), e.g. a run installed with scripts/install-demo-model.mjs --out. */
  dir?: string;
}

type Stage = { steps?: number; wallSeconds?: number | null; finalLoss?: number; validationPsnr?: number } | null;

/** Markdown: the label, the architecture and where the weights come from. */
export function describeDemoModel(m: DemoModel): string {
  const a = m.manifest.architecture;
  const p = m.provenance as { command?: string; seed?: number; stand_in?: string; stages?: Record<string, Stage>; dataset?: { command?: string } } | undefined;
  const stage = (n: string, s: Stage | undefined) =>
    s ? `${n} ${s.steps} steps${s.wallSeconds ? ` (${(s.wallSeconds / 60).toFixed(0)} min)` : ''}${s.validationPsnr !== undefined ? `, validation PSNR ${s.validationPsnr} dB` : ''}` : '';
  const lines = [
    `**${m.label}**${p?.stand_in ? ` — ${p.stand_in}` : ''}`,
    '',
    `${a.imageSize}² images, ${a.unet.inChannels}-channel latents (VAE factor 8), UNets ${JSON.stringify(a.unet.blockOutChannels)}, guidance encoders ${JSON.stringify(a.guidance.blockOutChannels)}; imported from \`${m.source}\` into \`${m.dir}\`.`,
  ];
  if (p) {
    const st = p.stages ?? {};
    lines.push('', `Trained by \`${p.command}\` (seed ${p.seed}): ${[stage('VAE', st.vae), stage('stage 1', st.stage1), stage('stage 2', st.stage2)].filter(Boolean).join('; ')}.`);
    if (p.dataset?.command) lines.push(`Data: \`${p.dataset.command}\` (synthetic demo head; its test identities are held out).`);
  }
  return lines.join('\n');
}

/** The demo model, imported once per content into the cache (progress shown only when it imports). */
export async function demoModelStage(options: DemoModelStageOptions = {}): Promise<DemoModel> {
  const bar: { progress: Progress | null } = { progress: null };
  try {
    const m = await demoModel({
      ...(options.variant ? { variant: options.variant } : {}),
      ...(options.dir ? { dir: resolvePath(options.dir) } : {}),
      signal: currentRun().signal,
      onProgress: (p) => {
        bar.progress ??= newProgress(`Importing the ${DEMO_MODEL_LABEL}`, 100, '%');
        bar.progress.setDetail(p.message);
        bar.progress.update(Math.round(100 * p.fraction));
      },
    });
    bar.progress?.finish();
    return Object.assign(m, {
      [DISPLAY]: (): MimeBundle => ({ 'text/markdown': describeDemoModel(m), 'text/plain': `${m.label}: ${m.dir}` }),
    });
  } catch (e) {
    bar.progress?.finish((e as Error).message);
    throw e;
  }
}

/** The tiny bundle: the full architecture at small widths with untrained demo weights, built once into the cache
 * (or into `dir`). */
export function tinyBundleStage(dir?: string): Promise<DiffusionBundle> {
  return tinyBundle(dir ?? cacheDir('bundles', 'tiny'));
}

/**
 * `mp.train(...)`: the trainer (train/run.ts) from a cell — a live plotly loss curve per part (VAE, stage 1, stage 2)
 * with the validation PSNR, updated from the JSON-lines logs as they grow; the validation frames as they appear (the
 * stage-1 strips as a scrubber over steps, the newest stage-2 GIF's frames); a progress bar per part. Interrupt sends
 * the trainer one SIGINT: it saves a resumable state (the cell asks the host for up to 60 s instead of the default
 * grace) and the cell ends with `status: 'interrupted'`; running the cell again resumes. `mp.train.import(run)`
 * imports the newest checkpoints through the normal importers (diffusion bundle + guidance encoders), labelled.
 */
import { basename } from 'node:path';
import { currentRun, newProgress } from '../runtime/context';
import { DISPLAY } from '../runtime/display';
import { FrameSequenceDisplay } from '../runtime/frames';
import type { AnyImage } from '../io/image';
import { MIME, type MimeBundle } from '../../shared/outputs';
import type { Progress } from '../runtime/progress';
import { readPng } from '../io/png';
import { readFrames } from '../io/video';
import { type TrainOptions, type TrainPart, type TrainResult, runConfig, train } from '../train/run';
import { type DemoModel, demoModel, runSource } from '../diffusion/demo-model';
import { resolvePath } from './face';

export type TrainStageOptions = Omit<TrainOptions, 'signal' | 'onRecord' | 'onValidation' | 'onOutput'> & {
  /** Print the trainer's own output lines into the cell (default true). */
  verbose?: boolean;
};

const TITLES: Record<TrainPart, string> = { vae: 'VAE', stage1: 'stage 1 (images)', stage2: 'stage 2 (motion modules)' };
const STOP_GRACE_MS = 60_000;

type Curve = { step: number[]; loss: number[]; valStep: number[]; valPsnr: number[] };

function plotBundle(curves: Partial<Record<TrainPart, Curve>>, title: string): MimeBundle {
  const figures = (Object.entries(curves) as [TrainPart, Curve][]).map(([part, c]) => ({
    data: [
      { type: 'scatter', mode: 'lines', name: 'loss', x: c.step, y: c.loss, line: { width: 1 } },
      ...(c.valStep.length ? [{ type: 'scatter', mode: 'lines+markers', name: 'validation PSNR (dB)', x: c.valStep, y: c.valPsnr, yaxis: 'y2' }] : []),
    ],
    layout: {
      title: { text: `${TITLES[part]}: step ${c.step.at(-1) ?? 0}, loss ${c.loss.at(-1)?.toFixed(4) ?? '—'}${c.valPsnr.length ? `, validation ${c.valPsnr.at(-1)} dB` : ''}` },
      xaxis: { title: { text: 'step' } },
      yaxis: { title: { text: 'loss' }, type: 'log' },
      yaxis2: { title: { text: 'PSNR (dB)' }, overlaying: 'y', side: 'right' },
      height: 280,
    },
  }));
  return { [MIME.plot]: { title, figures }, 'text/plain': title };
}

async function validationFrames(file: string): Promise<AnyImage[]> {
  if (file.endsWith('.png')) {
    const p = readPng(file);
    return [{ width: p.width, height: p.height, channels: p.channels, data: p.data }];
  }
  const out: AnyImage[] = [];
  for await (const f of readFrames(file, { maxFrames: 48 })) out.push(f.image);
  return out;
}

/** Trains with a live loss curve and validation frames; see the module comment. */
export async function trainStage(options: TrainStageOptions): Promise<TrainResult & { [DISPLAY]: () => MimeBundle }> {
  const run = currentRun();
  const runDir = resolvePath(options.run);
  const data = resolvePath(options.data);
  const label = `training ${basename(runDir)} (${options.config ?? 'small'} config)`;
  run.requestInterruptGrace?.(STOP_GRACE_MS);
  const curves: Partial<Record<TrainPart, Curve>> = {};
  const plotId = `train-plot-${Date.now().toString(36)}`;
  let shown = false;
  let dirty = false;
  const flush = () => {
    if (!dirty || !Object.keys(curves).length) return;
    dirty = false;
    const b = plotBundle(curves, `Loss curves: ${label}`);
    if (shown) run.updateDisplay(b, plotId);
    else run.emitDisplay(b, plotId);
    shown = true;
  };
  const bars: Partial<Record<TrainPart, Progress>> = {};
  const bar = (part: TrainPart, step: number) => {
    let b = bars[part];
    if (!b) {
      const total = Number((runConfig(runDir)?.[part === 'vae' ? 'vae_train' : part] as { steps?: number } | undefined)?.steps ?? 0);
      b = bars[part] = newProgress(`Training: ${TITLES[part]}`, Math.max(1, total || step), 'steps');
    }
    b.update(step);
  };
  const strips: AnyImage[] = [];
  const stripSteps: number[] = [];
  const valIds: Partial<Record<TrainPart, string>> = {};
  const showValidation = async (part: TrainPart, step: number, file: string) => {
    let frames: AnyImage[];
    try {
      frames = await validationFrames(file);
    } catch (e) {
      console.error(`validation image ${file}: ${(e as Error).message}`);
      return;
    }
    if (!frames.length) return;
    let tracks;
    let title;
    if (part === 'stage2') {
      tracks = [{ name: `step ${step}`, frames }];
      title = `Validation, stage 2 at step ${step}: reference | generated | ground truth | render, per frame`;
    } else {
      strips.push(frames[0]!);
      stripSteps.push(step);
      tracks = [{ name: 'reference | generated | ground truth | render', frames: [...strips] }];
      title = `Validation, ${TITLES[part]}: steps ${stripSteps.join(', ')} (scrub over the steps)`;
    }
    const b = await new FrameSequenceDisplay(tracks, { title, fps: part === 'stage2' ? 12 : 2, label: 'synthetic demo-head data' })[DISPLAY]({ artifacts: run.artifacts.forDisplay() });
    const id = valIds[part];
    if (id) run.updateDisplay(b, id);
    else {
      valIds[part] = `train-validation-${part}-${Date.now().toString(36)}`;
      run.emitDisplay(b, valIds[part]!);
    }
  };
  let chain: Promise<void> = Promise.resolve();
  const timer = setInterval(flush, 1000);
  const { verbose, ...trainOptions } = options;
  try {
    const r = await train({
      ...trainOptions,
      data,
      run: runDir,
      signal: run.signal,
      onRecord: (part, rec) => {
        const c = (curves[part] ??= { step: [], loss: [], valStep: [], valPsnr: [] });
        if (typeof rec.loss === 'number' && !rec.event) {
          c.step.push(Number(rec.step));
          c.loss.push(rec.loss);
          bar(part, Number(rec.step));
        } else if (rec.event === 'validation' && typeof rec.val_psnr === 'number') {
          c.valStep.push(Number(rec.step));
          c.valPsnr.push(rec.val_psnr);
        }
        dirty = true;
      },
      onValidation: (part, step, file) => {
        chain = chain.then(() => showValidation(part, step, file));
      },
      onOutput: (line, stream) => {
        if (verbose === false) return;
        if (stream === 'stderr' || !/^(vae|stage \d) step \d+\//.test(line)) (stream === 'stderr' ? console.error : console.log)(line);
      },
    });
    await chain;
    dirty = true;
    flush();
    for (const b of Object.values(bars)) b!.finish();
    const summary = r.status === 'finished'
      ? `Training finished: ${Object.entries(r.steps).map(([p, s]) => `${p} ${s} steps`).join(', ')}; checkpoints in ${r.ckpts ?? '—'}.`
      : `Interrupted: a resumable state was saved (${r.states.at(-1) ?? 'none yet'}); run the cell again to resume.${r.ckpts ? ` Newest checkpoints so far: ${r.ckpts}.` : ''}`;
    console.log(summary);
    return Object.assign(r, { [DISPLAY]: (): MimeBundle => ({ 'text/markdown': `**${summary}**\n\nRun folder \`${r.run}\`, ${(r.wallMs / 1000).toFixed(1)} s this sitting, ${r.python}.`, 'text/plain': summary }) });
  } catch (e) {
    for (const b of Object.values(bars)) b!.finish((e as Error).message);
    throw e;
  } finally {
    clearInterval(timer);
  }
}

/** A training run's newest checkpoints imported (diffusion bundle + its guidance encoders), labelled with the run. */
export async function importTrainedRun(runOrResult: string | { run: string }, options: { label?: string } = {}): Promise<DemoModel> {
  const dir = resolvePath(typeof runOrResult === 'string' ? runOrResult : runOrResult.run);
  const cfg = runConfig(dir);
  const label = options.label ?? `model trained in this notebook (${String(cfg?.preset ?? 'custom')} config) on synthetic demo-head data — not MagicPortrait's weights`;
  const progress = newProgress(`Importing ${basename(dir)}`, 100, '%');
  try {
    const m = await demoModel({ source: runSource(dir), label, signal: currentRun().signal, onProgress: (p) => (progress.setDetail(p.message), progress.update(Math.round(100 * p.fraction))) });
    progress.finish();
    return m;
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  }
}

export const trainStages = Object.assign(trainStage, {
  /** Imports a run's newest checkpoints (or a `mp.train` result's) for `mp.sample` / `mp.gge`. */
  import: importTrainedRun,
});

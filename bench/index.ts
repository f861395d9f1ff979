/**
 * `npm run bench`: every benchmark, each comparing ours with a reference measured in the same run.
 *   npm run bench              all areas
 *   npm run bench -- render    only the named areas
 * Heavy or hardware-specific areas run only when named: `npm run bench -- unet-fullsize`, `memory`, `prepare`, `train`,
 * `gpu` (a GPU execution provider), `fp16` (float16 vs float32 decoded frames of a bundle), `demo-model` (the demo
 * model's quality figures).
 */
import { printRows, type BenchRow } from './types';

type Bench = () => Promise<BenchRow[]>;
const areas: Record<string, () => Promise<Bench>> = {
  runtime: async () => (require('./runtime') as typeof import('./runtime')).benchRuntime,
  perception: async () => (require('./perception') as typeof import('./perception')).benchPerception,
  flame: async () => (require('./flame') as typeof import('./flame')).benchFlame,
  diffusion: async () => (require('./diffusion') as typeof import('./diffusion')).benchDiffusion,
  render: async () => (require('./render') as typeof import('./render')).benchRender,
  gge: async () => (require('./gge') as typeof import('./gge')).benchGGE,
  metrics: async () => (require('./metrics') as typeof import('./metrics')).benchMetrics,
  fit: async () => (require('./fit') as typeof import('./fit')).benchFit,
  encoders: async () => (require('./encoders') as typeof import('./encoders')).benchEncoders,
  'unet-fullsize': async () => (require('./unet-fullsize') as typeof import('./unet-fullsize')).benchUnetFullsize,
  preview: async () => (require('./preview') as typeof import('./preview')).benchPreview,
  memory: async () => (require('./memory') as typeof import('./memory')).benchMemory,
  prepare: async () => (require('./prepare') as typeof import('./prepare')).benchPrepare,
  train: async () => (require('./train') as typeof import('./train')).benchTrain,
  gpu: async () => (require('./gpu') as typeof import('./gpu')).benchGpu,
  fp16: async () => (require('./fp16') as typeof import('./fp16')).benchFp16,
  'demo-model': async () => (require('./demo-model') as typeof import('./demo-model')).benchDemoModel,
};
const HEAVY = new Set(['unet-fullsize', 'memory', 'prepare', 'train', 'gpu', 'fp16', 'demo-model']);

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const rows: BenchRow[] = [];
  for (const [name, load] of Object.entries(areas)) {
    if (wanted.length ? !wanted.includes(name) : HEAVY.has(name)) continue;
    console.error(`… ${name}`);
    try {
      rows.push(...(await (await load())()));
    } catch (e) {
      rows.push({ area: name, name: 'FAILED', oursMs: NaN, note: (e as Error).message.replace(/\n+/g, ' / ') });
    }
  }
  printRows(rows);
}

void main();

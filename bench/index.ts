/**
 * `npm run bench`: every benchmark, each comparing ours with a reference measured in the same run.
 *   npm run bench              all areas
 *   npm run bench -- render    only the named areas
 * Heavy areas (minutes, gigabytes) run only when named: `npm run bench -- unet-fullsize`.
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
};
const HEAVY = new Set(['unet-fullsize']);

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const rows: BenchRow[] = [];
  for (const [name, load] of Object.entries(areas)) {
    if (wanted.length ? !wanted.includes(name) : HEAVY.has(name)) continue;
    console.error(`… ${name}`);
    try {
      rows.push(...(await (await load())()));
    } catch (e) {
      rows.push({ area: name, name: 'FAILED', oursMs: NaN, note: (e as Error).message });
    }
  }
  printRows(rows);
}

void main();

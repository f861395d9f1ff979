/**
 * Trainer throughput (`npm run bench -- train`; heavy: the full-width rows need ~15 GB of RAM and ~4 GB of disk, so
 * the area runs only when named). Runs training/bench.py under Python (MP_PYTHON, else /usr/bin/python3):
 *   - the small demo config on this CPU: VAE, stage-1 and stage-2 steps (samples/s, CPU seconds per sample);
 *   - the full-width model (SD 1.5 widths) at 64²: files in the real layouts loaded with full key coverage, then a
 *     stage-1 forward+backward (an AdamW step would need ~28 GB: weights, gradients and two moments of 1.7 B
 *     parameters) and a stage-2 AdamW step on a 12-frame clip.
 * The reference is a fixed PyTorch convolution workload timed in the same run (ratio = step time / that time, a
 * machine- and load-independent cost); the notes carry samples/s, CPU s per sample, peak RSS and the load average.
 * Printed, never asserted.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { BenchRow } from './types';

const ROOT = join(__dirname, '..');
const PY = process.env.MP_PYTHON ?? '/usr/bin/python3';

function run(args: string[]): Record<string, number | string>[] {
  const r = spawnSync(PY, ['-m', 'training.bench', ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, PYTHONPATH: ROOT } });
  if (r.status !== 0) throw new Error(`python -m training.bench ${args.join(' ')} failed: ${(r.stderr || r.stdout).slice(-600)}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, number | string>);
}

function row(r: Record<string, number | string>): BenchRow {
  const n = (k: string) => Number(r[k]);
  const extra = r.trainable_params ? `, ${(n('trainable_params') / 1e9).toFixed(2)} B trainable, load ${n('load_s')} s` : '';
  return {
    area: 'train',
    name: String(r.name),
    oursMs: n('step_s') * 1000,
    refMs: n('calibration_ms'),
    ref: 'PyTorch conv 3×3 64→64, 8×64², fwd+bwd',
    note: `${n('samples_per_s').toFixed(2)} samples/s, ${n('cpu_s_per_sample').toFixed(3)} CPU s/sample, ${n('threads')} threads, peak RSS ${(n('rss_peak_mb') / 1024).toFixed(1)} GB${extra}, load ${loadavg()[0]!.toFixed(2)}`,
  };
}

export async function benchTrain(): Promise<BenchRow[]> {
  const rows = run(['small', '--threads', '2']).map(row);
  for (const r of run(['fullwidth', '--threads', '2', '--reps', '2'])) if (r.step_s !== undefined) rows.push(row(r));
  return rows;
}

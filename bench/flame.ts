/**
 * FLAME forward benchmark: the 5023-vertex synthetic FLAME-format model (test/flame/fixtures), DECA's component
 * counts (100 shape + 50 expression, full 5-joint pose, landmarks included), batch 1 and 16. Ours against the
 * independent numpy reference (test/flame/golden/flame_reference.py) timed in the same run by /usr/bin/python3.
 *
 *   node --import tsx bench/flame.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadFlame } from '../src/kernel/flame/model-files';
import { prepareFlame, flameForward, allocFlameOutput, decaFullPose } from '../src/kernel/flame/lbs';
import type { FlameModelData } from '../src/kernel/flame/types';
import { median, printRows, type BenchRow } from './types';

const root = join(__dirname, '..');
const FIXTURES = join(root, 'test/flame/fixtures/synthetic_flame');
const REFERENCE = join(root, 'test/flame/golden/flame_reference.py');
const PYTHON = '/usr/bin/python3';
const BATCHES = [1, 16];
const RUNS = 40;

function syntheticDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mp-flame-bench-'));
  for (const name of readdirSync(FIXTURES)) {
    if (name.endsWith('.gz')) writeFileSync(join(dir, name.slice(0, -3)), gunzipSync(readFileSync(join(FIXTURES, name))));
    else copyFileSync(join(FIXTURES, name), join(dir, name));
  }
  return dir;
}

/** Deterministic pseudo-random parameters. */
function params(B: number) {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2;
  return {
    batchSize: B,
    shape: Float64Array.from({ length: B * 100 }, rnd),
    expression: Float64Array.from({ length: B * 50 }, rnd),
    pose: decaFullPose(Float64Array.from({ length: B * 6 }, () => 0.2 * rnd()), B),
  };
}

function timeOurs(model: FlameModelData, B: number, dtype: 'float32' | 'float64', backend: 'wasm' | 'js', runs: number): number {
  const prep = prepareFlame(model, { numShape: 100, numExpression: 50, dtype, backend });
  const p = params(B);
  const out = allocFlameOutput(prep, B);
  for (let i = 0; i < 10; i++) flameForward(prep, p, out);
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    flameForward(prep, p, out);
    t.push(performance.now() - t0);
  }
  return median(t);
}

interface NumpyTimes { ms: Record<string, number>; numpy: string; threads: string }

function timeNumpy(dir: string): NumpyTimes | string {
  const r = spawnSync(PYTHON, ['-W', 'ignore', REFERENCE, '--bench', dir, '--batches', BATCHES.join(','), '--repeat', String(RUNS)], {
    encoding: 'utf8', timeout: 600_000,
  });
  if (r.error) return `numpy reference unavailable: ${PYTHON} could not run (${r.error.message})`;
  if (r.status !== 0) return `numpy reference unavailable: ${(r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`}`;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as NumpyTimes;
  } catch {
    return `numpy reference unavailable: unreadable output '${r.stdout.slice(0, 200)}'`;
  }
}

/** Rounds of (numpy process, then ours) so that load changes on a shared machine hit both sides alike. */
const ROUNDS = 3;

export async function benchFlame(): Promise<BenchRow[]> {
  const dir = syntheticDir();
  try {
    const model = await loadFlame(dir, { dtype: 'float64' });
    const configs: [('float32' | 'float64'), ('wasm' | 'js')][] = [['float32', 'wasm'], ['float64', 'wasm'], ['float32', 'js']];
    const ours = new Map<string, number[]>();
    const refs: number[][] = BATCHES.map(() => []);
    let refInfo: NumpyTimes | null = null;
    let refError: string | null = null;
    for (let round = 0; round < ROUNDS; round++) {
      if (!refError) {
        const r = timeNumpy(dir);
        if (typeof r === 'string') refError = r;
        else {
          refInfo = r;
          BATCHES.forEach((B, i) => refs[i].push(r.ms[String(B)]));
        }
      }
      for (const [dtype, backend] of configs) {
        for (const B of BATCHES) {
          const key = `${dtype}/${backend}/${B}`;
          if (backend === 'js' && round > 0) continue; // the slow fallback once is enough
          const t = timeOurs(model, B, dtype, backend, backend === 'js' ? 10 : RUNS);
          ours.set(key, [...(ours.get(key) ?? []), t]);
        }
      }
    }
    const refName = refInfo ? `numpy ${refInfo.numpy} (float64, OpenBLAS threads: ${refInfo.threads})` : 'numpy';
    const rows: BenchRow[] = [];
    for (const [dtype, backend] of configs) {
      BATCHES.forEach((B, i) => {
        rows.push({
          area: 'flame',
          name: `forward 5023 v, 100+50 comps, landmarks, batch ${B} (${backend === 'wasm' ? 'WebAssembly SIMD' : 'TypeScript fallback'}, ${dtype})`,
          oursMs: median(ours.get(`${dtype}/${backend}/${B}`)!),
          refMs: refError ? null : median(refs[i]),
          ref: refName,
          target: 'ratio ≤ 1.0 (aim ≤ 0.5)',
          note: refError ?? (backend === 'js' ? 'fallback when WebAssembly SIMD is unavailable' : `median of ${ROUNDS} interleaved rounds`),
        });
      });
    }
    if (refError) console.error(refError);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) void benchFlame().then(printRows);

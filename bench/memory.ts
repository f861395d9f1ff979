/**
 * Memory of a long driving video (issue #18): peak RSS of fit → track → align (Eq. 1) → guidance → preview, with
 * their displays written to an artifact store, for 55 / 110 / 220 frames of driving.mp4 and for a 5-minute 512² clip
 * (7200 frames at 24 fps: driving.mp4 looped, made once with ffmpeg into the temp folder). Each run is its own child
 * process (bench/memory-run.ts), so each peak is its own. Target: ≤ 1.5 GiB for the 5-minute clip. The reference
 * measured in the same run is the 55-frame run: the ratio says how much the peak grows with the video's length.
 * Heavy (the 5-minute clip takes tens of minutes on 2 cores): runs only when named, `npm run bench -- memory`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/kernel/io/ffmpeg';
import type { BenchRow } from './types';

const DRIVING = join(__dirname, '..', '..', 'shared', 'data', 'magicportrait', 'driving.mp4');
const GIB = 1024 ** 3;

function fiveMinuteClip(): string {
  const file = join(tmpdir(), 'mp-bench-5min-512.mp4');
  if (existsSync(file) && statSync(file).size > 1e6) return file;
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', '-stream_loop', '40', '-i', DRIVING, '-t', '300', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p', file]);
  if (r.status !== 0) throw new Error(`making the 5-minute clip failed: ${String(r.stderr)}`);
  return file;
}

interface RunResult { frames: number; wallMs: number; peakMB: number; ms: Record<string, number> }

function run(video: string, frames: number): RunResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'memory-run.ts'), video, String(frames)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`memory run (${frames} frames) failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as RunResult;
}

export async function benchMemory(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const results: { name: string; r: RunResult; load: string }[] = [];
  for (const n of [55, 110, 220]) {
    const load = loadavg()[0]!.toFixed(1);
    results.push({ name: `driving.mp4, ${n} frames`, r: run(DRIVING, n), load });
  }
  const load = loadavg()[0]!.toFixed(1);
  results.push({ name: '5-minute 512² clip', r: run(fiveMinuteClip(), 7200), load });
  const ref = results[0]!.r;
  console.log('\n| run | frames | wall s | stages s (fit / track / render+display / preview+display) | peak RSS MiB | ratio vs 55 frames | MiB/frame over 55 | target | load (1 min) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { name, r, load: l } of results) {
    const s = (k: string) => ((r.ms[k] ?? 0) / 1000).toFixed(0);
    const stages = `${s('fit')} / ${s('track')} / ${((r.ms.render ?? 0) / 1000 + (r.ms['render display'] ?? 0) / 1000).toFixed(0)} / ${((r.ms.preview ?? 0) / 1000 + (r.ms['preview display'] ?? 0) / 1000).toFixed(0)}`;
    const perFrame = r.frames > ref.frames ? ((r.peakMB - ref.peakMB) / (r.frames - ref.frames)).toFixed(3) : '—';
    const target = r.frames >= 7200 ? `≤ 1536 MiB: ${r.peakMB * 1024 ** 2 <= 1.5 * GIB ? 'met' : 'NOT met'}` : '';
    console.log(`| ${name} | ${r.frames} | ${(r.wallMs / 1000).toFixed(0)} | ${stages} | ${r.peakMB} | ${(r.peakMB / ref.peakMB).toFixed(2)} | ${perFrame} | ${target} | ${l} |`);
    rows.push({ area: 'memory', name: `${name}: track → align → render → preview`, oursMs: r.wallMs, note: `peak RSS ${r.peakMB} MiB (${(r.peakMB / ref.peakMB).toFixed(2)}× the 55-frame run)${target ? `; ${target}` : ''}; load ${l}` });
  }
  return rows;
}

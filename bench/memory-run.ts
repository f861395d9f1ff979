/**
 * One run of the memory benchmark (bench/memory.ts starts it as a child process, so each run's peak RSS is its own):
 *   node --import tsx bench/memory-run.ts VIDEO FRAMES
 * fit → track → align (Eq. 1) → guidance → preview on a 512² portrait and VIDEO, the displays written to an artifact
 * store as a notebook would; prints one JSON line: frames, wall and stage times, peak RSS (this process and its
 * worker threads; ffmpeg runs in its own processes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mp } from '../src/kernel/mp';
import { readImage } from '../src/kernel/io/image';
import { StageCache, setStageCache } from '../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../src/kernel/runtime/context';
import { DISPLAY } from '../src/kernel/runtime/display';

async function main(): Promise<void> {
  const [video, framesArg, portraitArg] = process.argv.slice(2);
  if (!video || !framesArg) throw new Error('usage: memory-run.ts VIDEO FRAMES [PORTRAIT]');
  const frames = Number(framesArg);
  const portrait = portraitArg ?? join(__dirname, '..', '..', 'shared', 'data', 'magicportrait', 'boy_cropped.jpg');
  const dir = mkdtempSync(join(tmpdir(), 'mp-bench-mem-'));
  const ms: Record<string, number> = {};
  const t0 = performance.now();
  let t = t0;
  const mem: Record<string, number> = {};
  const lap = (name: string) => {
    const now = performance.now();
    ms[name] = Math.round(now - t);
    t = now;
    mem[name] = Math.round(process.resourceUsage().maxRSS / 1024);
    if (process.env.MP_BENCH_GC) (globalThis as { gc?: () => void }).gc?.();
    if (process.env.MP_BENCH_VERBOSE) { const m = process.memoryUsage(); console.error(name, ms[name], 'ms', 'peak', mem[name], 'rss', Math.round(m.rss / 1e6), 'heap', Math.round(m.heapUsed / 1e6), 'ext', Math.round(m.external / 1e6), 'ab', Math.round(m.arrayBuffers / 1e6)); }
  };
  try {
    setStageCache(new StageCache(join(dir, 'cache')));
    const ctx = detachedContext(dir, join(dir, 'artifacts'));
    setCurrentRun(ctx);
    const photo = readImage(portrait);
    const fit = await mp.fit.portrait(photo);
    lap('fit');
    const track = await mp.fit.track(video, { shape: fit, read: { maxFrames: frames }, progress: false });
    lap('track');
    const aligned = mp.fit.align(fit, track);
    lap('align');
    const guidance = await mp.renderGuidance(aligned);
    lap('render');
    await guidance[DISPLAY](ctx);
    lap('render display');
    const preview = await mp.preview({ image: photo, fit }, aligned, { guidance });
    lap('preview');
    await preview[DISPLAY](ctx);
    lap('preview display');
    const peakMB = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify({ frames: track.numFrames, wallMs: Math.round(performance.now() - t0), ms, peakAfterMB: mem, peakMB: Math.round(peakMB) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

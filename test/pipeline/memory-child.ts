// Child process of memory.test.ts: the demo motion (N frames) through guidance → display → preview → display at
// 512², printing this process's peak RSS (MB). Run: node --import tsx test/pipeline/memory-child.ts N
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mp } from '../../src/kernel/mp';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { DISPLAY } from '../../src/kernel/runtime/display';

async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  const dir = mkdtempSync(join(tmpdir(), 'mp-memchild-'));
  try {
    setStageCache(new StageCache(join(dir, 'cache')));
    const ctx = detachedContext(dir, join(dir, 'artifacts'));
    setCurrentRun(ctx);
    const head = mp.flame.demoHead();
    const portrait = (await mp.demo.portrait(head)) as Parameters<typeof mp.preview>[0]['image'];
    const seq = mp.demo.drivingSequence(head, { frames: n });
    const guidance = await mp.renderGuidance(seq, { displayFrames: 24 });
    await guidance[DISPLAY](ctx);
    const preview = await mp.preview({ image: portrait }, seq, { guidance, memoryBudget: 32 * 1024 ** 2, displayFrames: 24 });
    await preview[DISPLAY](ctx);
    if (preview.length !== n || guidance.length !== n) throw new Error('frames lost');
    console.log(JSON.stringify({ frames: n, peakMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

/** Kernel runtime benchmarks: cell round trip, cooperative interrupt and forced kill+restart latency. */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelClient } from '../src/kernel/runtime/client';
import { median, printRows, type BenchRow } from './types';

const root = join(__dirname, '..');

function kernel(grace = 2000) {
  return new KernelClient({ entry: join(root, 'src/kernel/main.ts'), execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href], cwd: root, interruptGraceMs: grace });
}

async function interruptLatency(k: KernelClient, code: string): Promise<number> {
  const pending = k.execute({ code, cellLabel: 'bench' });
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  k.interrupt();
  await pending;
  const stopped = performance.now() - t0;
  await k.start();
  return stopped;
}

export async function benchRuntime(): Promise<BenchRow[]> {
  const k = kernel();
  try {
    await k.start();
    const rt: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await k.execute({ code: `const v${i} = ${i}; v${i} + 1`, cellLabel: 'bench' });
      rt.push(performance.now() - t0);
    }
    const coop: number[] = [];
    for (let i = 0; i < 5; i++) coop.push(await interruptLatency(k, 'for (;;) await mp.sleep(20)'));
    const busy: number[] = [];
    for (let i = 0; i < 3; i++) busy.push(await interruptLatency(k, 'while (true) {}'));
    const t0 = performance.now();
    await k.restart();
    const restart = performance.now() - t0;
    return [
      { area: 'runtime', name: 'cell round trip (small cell)', oursMs: median(rt) },
      { area: 'runtime', name: 'interrupt → cell stopped (cooperative, mp.sleep loop)', oursMs: median(coop), target: 'immediate' },
      { area: 'runtime', name: 'interrupt → cell ended (busy while(true), kill after 2 s grace)', oursMs: median(busy), target: '≈ 2 s grace' },
      { area: 'runtime', name: 'kernel restart (kill + spawn + ready)', oursMs: restart, note: 'TypeScript sources under tsx; the bundled kernel starts faster' },
    ];
  } finally {
    await k.shutdown();
  }
}

if (require.main === module) void benchRuntime().then(printRows);

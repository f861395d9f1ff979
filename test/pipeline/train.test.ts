// mp.train in a kernel, on the real PyTorch trainer (tiny preset, a 32² synthetic set): the loss curve is displayed
// and updated while the trainer runs, and Interrupt stops it cleanly even though the host's restart grace (50 ms here)
// is far shorter than the trainer needs to save — the cell asked the host for a longer grace — so the kernel is not
// killed, the cell says where the resumable state is, and the kernel keeps its variables. Needs Python with torch (as
// test/train/run.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '../../src/kernel/data/synth/generate';
import { MIME } from '../../src/shared/outputs';
import { run, testKernel } from '../runtime/kernel-harness';

const readLog = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>) : []);

test('Interrupt of a training cell: the trainer saves a resumable state, the kernel survives a short grace', { timeout: 400_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'mp-train-cell-'));
  const data = join(root, 'data');
  const runDir = join(root, 'run');
  await generateSynthetic({ out: data, identities: 4, clips: 1, frames: 8, size: 32, seed: 0, workers: 0 });
  const kernel = testKernel({ interruptGraceMs: 50, env: { ...process.env, MAGICPORTRAIT_CACHE: join(root, 'cache') } });
  try {
    await run(kernel, 'const kept = 5');
    const pid = kernel.pid;
    const set = { 'vae_train.steps': 4, 'runtime.threads': 1, 'stage1.steps': 100000, 'stage1.checkpoint_every': 100000 };
    // interrupt once the loss curve has been displayed and updated in place from the trainer's log
    const displays: { bundle: Record<string, unknown>; displayId?: string }[] = [];
    const updated = new Set<string>();
    let stdout = '';
    let curveUpdated!: () => void;
    const curveLive = new Promise<void>((r) => (curveUpdated = r));
    const pending = kernel.execute(
      { code: `const r = await mp.train({ data: ${JSON.stringify(data)}, run: ${JSON.stringify(runDir)}, config: 'tiny', set: ${JSON.stringify(set)}, verbose: false });\nr.status`, cellLabel: 'Cell 2' },
      {
        onStream: (_name, text) => (stdout += text),
        onDisplay: (bundle, displayId) => displays.push({ bundle, ...(displayId ? { displayId } : {}) }),
        onUpdate: (bundle, displayId) => {
          if (MIME.plot in bundle && /^Loss curves/.test(String(bundle['text/plain']))) {
            updated.add(displayId);
            curveUpdated();
          }
        },
      },
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([curveLive, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no loss-curve update within 5 minutes')), 300_000)))]);
    clearTimeout(timer);
    const log = join(runDir, 'stage1', 'log.jsonl');
    kernel.interrupt();
    const outcome = await pending;
    assert.notEqual(outcome.status, 'died', 'the kernel was not killed');
    assert.equal(kernel.pid, pid);
    const stopped = readLog(log).find((r) => r.event === 'interrupted');
    assert.ok(stopped, 'the trainer logged its interruption');
    const state = join(runDir, 'stage1', 'state', `step-${stopped.step}.pt`);
    assert.ok(existsSync(state), `resumable state ${state}`);
    assert.ok(stdout.includes(`Interrupted: a resumable state was saved (${state})`), stdout);
    // the live loss curve: displayed once, then updated in place (the updates above)
    const plots = displays.filter((d) => MIME.plot in d.bundle && /^Loss curves/.test(String(d.bundle['text/plain'])));
    assert.equal(plots.length, 1, 'one loss-curve display');
    assert.ok(updated.has(plots[0]!.displayId!), 'the updates went to that display');
    const after = await run(kernel, 'kept');
    assert.equal(after.outcome.status === 'ok' && after.outcome.result?.['text/plain'], '5');
  } finally {
    await kernel.shutdown();
  }
});

// The trainer as a child process (src/kernel/train/run.ts) on the real PyTorch trainer (tiny preset, a 32² synthetic
// set): log records arrive while it runs, an abort stops it with a resumable state, running again resumes from that
// step (not from step 1) and finishes with official checkpoints, a dead parent makes it save and stop on its own, and a
// missing Python / PyTorch is a clear error. Needs Python with torch (MAGICPORTRAIT_PYTHON or /usr/bin/python3, as the
// trainer's pytest suite; .ci/run installs python3-torch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSynthetic } from '../../src/kernel/data/synth/generate';
import { findPython, probePython } from '../../src/kernel/train/python';
import { train } from '../../src/kernel/train/run';
import { MagicPortraitError } from '../../src/kernel/errors';
import { repoRoot } from '../runtime/kernel-harness';

const root = mkdtempSync(join(tmpdir(), 'mp-train-run-'));
const data = join(root, 'data');
const FAST = { 'vae_train.steps': 4, 'runtime.threads': 1, 'stage1.checkpoint_every': 1000 };

const readLog = (p: string) => readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

test('setup: a tiny synthetic dataset', async () => {
  await generateSynthetic({ out: data, identities: 4, clips: 1, frames: 8, size: 32, seed: 0, workers: 0 });
  assert.ok(existsSync(join(data, 'dataset.json')));
});

test('records stream in while it runs; an abort stops it with a resumable state; running again resumes and finishes', { timeout: 600_000 }, async () => {
  const run = join(root, 'run');
  const ac = new AbortController();
  const seen: { part: string; step: number; event?: unknown }[] = [];
  let abortedAfter = -1;
  const first = await train({
    data, run, config: 'tiny', set: { ...FAST, 'stage1.steps': 500 }, signal: ac.signal,
    onRecord: (part, r) => {
      seen.push({ part, step: Number(r.step), event: r.event });
      if (part === 'stage1' && !r.event && Number(r.step) >= 3 && abortedAfter < 0) {
        abortedAfter = Number(r.step);
        ac.abort();
      }
    },
  });
  // the abort came from a record read while the trainer was still running (it had 500 steps to go)
  assert.ok(abortedAfter >= 3, 'stage-1 records arrived live');
  assert.equal(first.status, 'interrupted');
  assert.equal(first.exitCode, 130);
  const stopped = first.steps.stage1!;
  assert.ok(stopped >= abortedAfter && stopped < 500, `stopped at step ${stopped}`);
  assert.ok(first.states.some((s) => s.endsWith(join('stage1', 'state', `step-${stopped}.pt`))), `a resumable state of step ${stopped}: ${first.states.join(', ')}`);
  assert.ok(seen.some((s) => s.part === 'vae') && seen.some((s) => s.part === 'stage1' && s.event === 'interrupted'));

  // resume: the same run with the end of stage 1 moved close, and a short stage 2
  const resumed: number[] = [];
  const second = await train({
    data, run, config: 'tiny', set: { ...FAST, 'stage1.steps': stopped + 2, 'stage2.steps': 2 },
    onRecord: (part, r) => {
      if (part === 'stage1' && !r.event && typeof r.loss === 'number') resumed.push(Number(r.step));
    },
  });
  assert.equal(second.status, 'finished');
  assert.equal(second.steps.stage1, stopped + 2);
  assert.equal(second.steps.stage2, 2);
  // the log replays the first sitting's steps, then continues after the saved step: step 1 never comes again
  assert.deepEqual(resumed.filter((s) => s > stopped), [stopped + 1, stopped + 2]);
  assert.ok(resumed.every((s, i) => i === 0 || s > resumed[i - 1]!), `increasing steps ${resumed.join(',')}`);
  assert.equal(second.ckpts, join(run, 'stage2', 'ckpts'));
  for (const f of ['reference_unet.pth', 'denoising_unet.pth', 'guidance_encoder_depth.pth', 'motion_module-2.pth']) assert.ok(existsSync(join(run, 'stage2', 'ckpts', f)), f);
});

test('a parent that dies (SIGKILL) leaves no orphan training on: the trainer saves a resumable state and stops', { timeout: 300_000 }, async () => {
  const run = join(root, 'orphan');
  const script = join(root, 'parent.ts');
  writeFileSync(
    script,
    `import { train } from ${JSON.stringify(join(repoRoot, 'src/kernel/train/run.ts'))};
     void train({ data: ${JSON.stringify(data)}, run: ${JSON.stringify(run)}, config: 'tiny', set: ${JSON.stringify({ ...FAST, 'stage1.steps': 100000 })},
       onRecord: (p, r) => { if (p === 'stage1') console.log('step', r.step); } });`,
  );
  const parent = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((res, rej) => {
    parent.stdout.on('data', (d: Buffer) => {
      if (/step \d+/.test(d.toString())) res();
    });
    parent.on('exit', (c) => rej(new Error(`parent exited ${c} before stage 1 ran`)));
  });
  parent.kill('SIGKILL');
  const log = join(run, 'stage1', 'log.jsonl');
  let stopped: Record<string, unknown> | undefined;
  for (let i = 0; i < 600 && !stopped; i++) {
    await new Promise((r) => setTimeout(r, 250));
    stopped = readLog(log).find((r) => r.event === 'interrupted');
  }
  assert.ok(stopped, 'the orphaned trainer noticed its parent was gone and stopped');
  assert.ok(existsSync(join(run, 'stage1', 'state', `step-${stopped.step}.pt`)), 'with a resumable state');
});

test('no Python, or a Python without PyTorch: a clear error before anything starts', async () => {
  await assert.rejects(train({ data, run: join(root, 'never'), python: join(root, 'no-such-python') }), (e: unknown) => {
    assert.ok(e instanceof MagicPortraitError);
    assert.match(e.message, /No Python with PyTorch to run the trainer \(.*no-such-python: not found\).*magicportrait\.pythonPath/s);
    return true;
  });
  // an interpreter that cannot import torch (a stand-in script answering as Python does)
  const fake = join(root, 'python-without-torch');
  writeFileSync(fake, `#!/bin/sh\necho "Traceback (most recent call last):" >&2\necho "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1\n`);
  chmodSync(fake, 0o755);
  assert.deepEqual(probePython(fake), { path: fake, error: "has no 'torch' module" });
  await assert.rejects(train({ data, run: join(root, 'never'), python: fake }), /python-without-torch: has no 'torch' module.*apt-get install python3-torch/s);
  assert.ok(!existsSync(join(root, 'never')), 'nothing was started');
  // the real one is found and says what it is
  const py = findPython();
  assert.match(py.torch, /^\d+\.\d+/);
});

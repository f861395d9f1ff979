// scripts/carry-run.mjs on a real trainer run (tiny preset, a 32² synthetic set): a run stopped during stage 1 is
// carried (only what resuming needs), copied back into a fresh folder and continued, and ends exactly where the same
// run without the stop ends (the trainer's resume is bit-exact: the same losses, tensor-equal checkpoints). Needs
// Python with torch, as test/train/run.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { generateSynthetic } from '../../src/kernel/data/synth/generate';
import { findPython } from '../../src/kernel/train/python';
import { train } from '../../src/kernel/train/run';
import { repoRoot } from '../runtime/kernel-harness';

const root = mkdtempSync(join(tmpdir(), 'mp-carry-run-'));
const data = join(root, 'data');
const SET = { 'vae_train.steps': 4, 'runtime.threads': 1, 'stage1.steps': 30, 'stage1.checkpoint_every': 1000, 'stage2.steps': 2 };

const losses = (run: string, part: string) =>
  readFileSync(join(run, part, 'log.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { step: number; loss?: number; event?: string })
    .filter((r) => typeof r.loss === 'number' && !r.event).map((r) => [r.step, r.loss]);

interface CarryScript {
  carryRun(run: string, out: string, opts: { command?: string; dataCommand?: string; now?: string }): {
    state: { parts: Record<string, { step: number; total: number; done: boolean; state: string | null }> };
    bytes: number;
  };
}
const carryScript = async () => (await import(join(repoRoot, 'scripts', 'carry-run.mjs'))) as CarryScript;

/** Every file under `dir`, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

test('a run stopped in stage 1, carried, copied back and continued ends exactly as the same run without the stop', { timeout: 600_000 }, async () => {
  await generateSynthetic({ out: data, identities: 4, clips: 1, frames: 8, size: 32, seed: 0, workers: 0 });
  const whole = join(root, 'whole');
  assert.equal((await train({ data, run: whole, config: 'tiny', set: SET })).status, 'finished');

  // the same run, stopped during stage 1
  const stopped = join(root, 'stopped');
  const ac = new AbortController();
  const first = await train({
    data, run: stopped, config: 'tiny', set: SET, signal: ac.signal,
    onRecord: (part, r) => {
      if (part === 'stage1' && !r.event && Number(r.step) >= 3) ac.abort();
    },
  });
  assert.equal(first.status, 'interrupted');
  const at = first.steps.stage1!;
  assert.ok(at >= 3 && at < 30, `stopped at stage-1 step ${at}`);

  const { carryRun } = await carryScript();
  const carried = join(root, 'carried');
  const r = carryRun(stopped, carried, { command: 'python3 -m training all --config tiny …', dataCommand: 'npx magicportrait synth-data …', now: '2026-12-07T00:00:00Z' });
  assert.deepEqual(
    Object.fromEntries(Object.entries(r.state.parts).map(([p, s]) => [p, [s.step, s.total, s.done, s.state]])),
    { vae: [4, 4, true, null], stage1: [at, 30, false, `step-${at}.pt`] },
  );
  // only what resuming needs: no latent cache, no older states, no VAE state (the VAE is exported into base/vae)
  const got = filesUnder(carried);
  assert.deepEqual(got.filter((f) => !f.startsWith('base/')), ['RUN.md', 'config.json', 'stage1/config.json', 'stage1/log.jsonl', `stage1/state/step-${at}.pt`, 'vae/config.json', 'vae/log.jsonl']);
  assert.deepEqual(got.filter((f) => f.startsWith('base/')), filesUnder(join(stopped, 'base')).map((f) => `base/${f}`));
  assert.ok(got.includes('base/vae/config.json'), 'the trained VAE');
  const md = readFileSync(join(carried, 'RUN.md'), 'utf8');
  assert.match(md, new RegExp(`\\| stage1 \\| ${at} / 30 \\| in progress: resumes from \`stage1/state/step-${at}.pt\``));
  assert.match(md, /\| vae \| 4 \/ 4 \| done/);
  assert.match(md, /Next: stage 1\./);

  // carried again over itself: replaced whole, no temporary folder left beside it
  carryRun(stopped, carried, { command: 'x', now: '2026-12-07T00:00:00Z' });
  assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('carried')), ['carried']);

  // a fresh machine: the carried folder copied into a new run folder and continued
  const resumed = join(root, 'resumed');
  cpSync(carried, resumed, { recursive: true });
  const steps: number[] = [];
  const second = await train({ data, run: resumed, config: 'tiny', set: SET, onRecord: (part, rec) => void (part === 'stage1' && !rec.event && typeof rec.loss === 'number' && steps.push(Number(rec.step))) });
  assert.equal(second.status, 'finished');
  assert.equal(steps.filter((s) => s > at)[0], at + 1, 'resumed after the carried step, not from step 1');
  assert.deepEqual(losses(resumed, 'stage1'), losses(whole, 'stage1'), 'the same stage-1 losses step for step');
  assert.deepEqual(losses(resumed, 'stage2'), losses(whole, 'stage2'));
  // tensor-equal official checkpoints (PyTorch's own reading)
  const script = [
    'import sys, os, torch',
    'a, b = sys.argv[1], sys.argv[2]',
    'names = sorted(os.listdir(a))',
    'assert names == sorted(os.listdir(b)), (names, os.listdir(b))',
    'for n in names:',
    "    x, y = torch.load(os.path.join(a, n), map_location='cpu'), torch.load(os.path.join(b, n), map_location='cpu')",
    '    assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), n',
    "print(len(names))",
  ].join('\n');
  const p = spawnSync(findPython().path, ['-c', script, join(whole, 'stage2', 'ckpts'), join(resumed, 'stage2', 'ckpts')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(p.status, 0, p.stderr);
  assert.ok(Number(p.stdout.trim()) >= 6, `${p.stdout.trim()} checkpoint files compared`);
  assert.ok(existsSync(join(resumed, 'stage2', 'ckpts', 'motion_module-2.pth')));
});

test('a folder that is not a run, or no command to continue it: clear errors, nothing written', async () => {
  const { carryRun } = await carryScript();
  const out = join(root, 'never');
  assert.throws(() => carryRun(data, out, { command: 'x' }), /no config\.json \(not a python3 -m training run folder\)/);
  assert.throws(() => carryRun(data, out, {}), /the command that continues the run is needed/);
  assert.ok(!existsSync(out));
  const p = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'carry-run.mjs'), data], { encoding: 'utf8' });
  assert.equal(p.status, 2);
  assert.match(p.stderr, /usage: node scripts\/carry-run\.mjs RUN --out/);
});

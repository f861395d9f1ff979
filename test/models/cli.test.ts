/** `magicportrait models scan|import` on the synthetic full set: text and --json (the panel's protocol), config errors. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runCli as capture } from '../cli/capture';
import type { ManagerEvent } from '../../src/shared/model-manager';
import { syntheticDownloads, type SyntheticDownloads } from './helpers';

let root: string;
let dl: SyntheticDownloads;
let cfg: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-models-cli-'));
  dl = syntheticDownloads(join(root, 'downloads'));
  // relative paths in the config are from the config's folder
  const rel = Object.fromEntries(Object.entries(dl.folders).map(([k, v]) => [k, relative(root, v)]));
  cfg = join(root, 'models.json');
  writeFileSync(cfg, JSON.stringify({ folders: rel, out: 'bundle', architecture: dl.architecture }));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('models scan prints found files with sizes, ready steps and the estimate', async () => {
  const r = await capture(['models', 'scan', '--config', cfg]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /found {3}denoising_unet\.pth {2}2\.3 MiB/);
  assert.match(r.out, /found {3}motion_module-47360\.pth/);
  assert.match(r.out, /absent {2}tokenizer\/special_tokens_map\.json {2}\(optional\)/);
  assert.match(r.out, /READY {6}Diffusion bundle .* — [\d.]+ MiB disk, [\d.]+ MiB memory/);
  assert.match(r.out, /Import needs about .* of disk and .* of memory/);
});

test('models import --json: progress lines, then the result with 100% coverage; a second run keeps everything', async () => {
  const r = await capture(['models', 'import', '--config', cfg, '--json']);
  assert.equal(r.code, 0, r.err);
  const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as ManagerEvent);
  assert.ok(events.filter((e) => e.type === 'progress').length > 5);
  const last = events.at(-1)!;
  assert.equal(last.type, 'result');
  if (last.type !== 'result') return;
  assert.equal(last.result.dir, join(root, 'bundle'));
  assert.equal(last.result.coverage.percent, 100);
  assert.ok(existsSync(join(root, 'bundle', 'manifest.json')));
  const again = await capture(['models', 'import', '--config', cfg]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /Diffusion bundle .*: unchanged/);
  assert.match(again.out, /Key coverage: (\d+)\/\1 keys accounted for \(100\.0%\), 0 unexpected/);
});

test('models: config and usage errors', async () => {
  const r = await capture(['models', 'scan', '--config-json', JSON.stringify({ folders: { sd14: '/x' } })]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown folder id 'sd14' \(known: magicportrait, sd15, vae, flame, deca, smirk\)/);
  const r2 = await capture(['models', 'import', '--config-json', JSON.stringify({ folders: {} }), '--json']);
  assert.equal(r2.code, 2);
  assert.equal(JSON.parse(r2.out.trim()).type, 'error');
  const r3 = await capture(['models', 'frobnicate']);
  assert.equal(r3.code, 2);
  assert.match(r3.err, /needs 'scan', 'import' or 'download'/);
});

test('models import --json stops on "cancel" from stdin (the panel\'s Cancel): an error event, exit 130, no manifest', async () => {
  const out = join(root, 'cancelled');
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', 'kernel', 'cli', 'main.ts'), 'models', 'import', '--config', cfg, '--out', out, '--json'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ManagerEvent[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    const e = JSON.parse(l) as ManagerEvent;
    if (!events.length) child.stdin.write('cancel\n');
    events.push(e);
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  await new Promise((r) => setImmediate(r));
  assert.equal(code, 130);
  const last = events.at(-1)!;
  assert.deepEqual(last.type === 'error' && [last.code, last.message], ['cancelled', 'The import was cancelled.']);
  assert.ok(!existsSync(join(out, 'manifest.json')));
});

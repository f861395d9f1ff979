import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newCodeCell, parseNotebook, serializeNotebook, type NotebookData } from '../../src/kernel/notebook/nbformat';
import { MIME } from '../../src/shared/outputs';
import { repoRoot } from '../runtime/kernel-harness';

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/kernel/cli/main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
}

function writeNotebook(cells: string[], paramsCell?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mp-cli-'));
  const nb: NotebookData = { metadata: {}, cells: [] };
  if (paramsCell) nb.cells.push(newCodeCell(paramsCell, { tags: ['parameters'] }));
  nb.cells.push(...cells.map((c) => newCodeCell(c)));
  const path = join(dir, 'test.mpnb');
  writeFileSync(path, serializeNotebook(nb));
  return path;
}

test('run executes every cell, injects -p parameters after the parameters cell and writes the executed notebook', () => {
  const nbPath = writeNotebook(['console.log(`n=${n} name=${name}`)', 'n * 2'], 'const n = 1;\nconst name = "default";');
  const out = join(nbPath, '..', 'out');
  const r = cli(['run', nbPath, '-p', 'n=21', '-p', 'name=boy', '--out', out]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const done = parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8'));
  assert.deepEqual(done.cells[1]!.metadata.tags, ['injected-parameters']);
  assert.equal(done.cells[1]!.source, 'const n = 21;\nconst name = "boy";');
  assert.deepEqual(done.cells[2]!.outputs, [{ kind: 'stream', name: 'stdout', text: 'n=21 name=boy\n' }]);
  assert.deepEqual(done.cells[3]!.outputs[0], { kind: 'result', data: { 'text/plain': '42' }, executionCount: 4, metadata: {} });
  assert.deepEqual(done.cells.map((c) => c.executionCount), [1, 2, 3, 4]);
});

test('a failing cell gives a non-zero exit naming the cell, and the partial notebook keeps what ran', () => {
  const nbPath = writeNotebook(['console.log("first")', 'const y = 1;\nthrow new Error("broken input")', 'console.log("never")']);
  const out = join(nbPath, '..', 'out');
  const r = cli(['run', nbPath, '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Cell 2 failed: Error: broken input/);
  const done = parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8'));
  assert.equal(done.cells[0]!.outputs[0]!.kind, 'stream');
  const err = done.cells[1]!.outputs[0]!;
  assert.ok(err.kind === 'error' && /Cell 2, line 2/.test(err.error.stack));
  assert.deepEqual(done.cells[2]!.outputs, []);
});

test('a notebook with a 300-frame output stays small: frames live in the artifact store', () => {
  const nbPath = writeNotebook([
    `const frames = Array.from({ length: 300 }, (_, k) => ({ width: 64, height: 64, channels: 3 as const, data: new Uint8Array(64 * 64 * 3).map((_, i) => (i < 2 ? (k >> (8 * i)) & 255 : (i * 7 + k * 13) & 255)) }));
await display(mp.frames([{ name: 'driving', frames }], { fps: 25 }))`,
  ]);
  const out = join(nbPath, '..', 'out');
  const r = cli(['run', nbPath, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const size = statSync(join(out, 'test.mpnb')).size;
  const done = parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8'));
  const frames = (done.cells[0]!.outputs[0] as { data: Record<string, { tracks: { frames: unknown[] }[] }> }).data[MIME.frames]!;
  assert.equal(frames.tracks[0]!.frames.length, 300);
  assert.equal(readdirSync(join(out, 'test.mpnb.artifacts')).length, 300);
  assert.ok(size < 100_000, `notebook is ${size} bytes`);
  console.log(`notebook with a 300-frame output: ${size} bytes on disk`);
});

test('gc removes artifacts that no output references', () => {
  const nbPath = writeNotebook(['await display(mp.frames([{ name: "a", frames: [{ width: 2, height: 2, channels: 1 as const, data: new Uint8Array(4) }] }]))']);
  const out = join(nbPath, '..', 'out');
  assert.equal(cli(['run', nbPath, '--out', out]).status, 0);
  const executed = join(out, 'test.mpnb');
  writeFileSync(join(`${executed}.artifacts`, `${'a'.repeat(64)}.png`), 'orphan');
  const r = cli(['gc', executed]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Removed 1 unreferenced/);
  assert.equal(readdirSync(`${executed}.artifacts`).length, 1);
});

test('usage errors exit 2 with a message', () => {
  const r = cli(['run', '/no/such/notebook.mpnb']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Notebook not found/);
});

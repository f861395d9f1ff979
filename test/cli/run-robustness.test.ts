// `magicportrait run` / `gc` on what a first hour throws at them: an executed notebook run again with new parameters,
// --out pointing at the source folder, two runs writing the same --out, damaged notebook files, Ctrl-C, and gc right
// after a run (issue 18, "The headless runner and the kernel").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newCodeCell, parseNotebook, serializeNotebook, type NotebookData } from '../../src/kernel/notebook/nbformat';
import { processAlive } from '../../src/kernel/io/temp-files';
import { repoRoot } from '../runtime/kernel-harness';

const CLI = [join(repoRoot, 'src/kernel/cli/main.ts')];
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', ...CLI, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });

function writeNotebook(cells: string[], paramsCell?: string, dir = mkdtempSync(join(tmpdir(), 'mp-cli-'))): string {
  const nb: NotebookData = { metadata: {}, cells: [] };
  if (paramsCell) nb.cells.push(newCodeCell(paramsCell, { tags: ['parameters'] }));
  nb.cells.push(...cells.map((c) => newCodeCell(c)));
  const path = join(dir, 'test.mpnb');
  writeFileSync(path, serializeNotebook(nb));
  return path;
}

test('re-running an executed notebook with new -p values replaces the injected cell instead of adding another', () => {
  const nbPath = writeNotebook(['console.log(`n=${n}`)'], 'const n = 1;');
  const first = join(nbPath, '..', 'first');
  assert.equal(cli(['run', nbPath, '-p', 'n=2', '--out', first]).status, 0);
  const second = join(nbPath, '..', 'second');
  const r = cli(['run', join(first, 'test.mpnb'), '-p', 'n=3', '--out', second]);
  assert.equal(r.status, 0, r.stderr);
  const done = parseNotebook(readFileSync(join(second, 'test.mpnb'), 'utf8'));
  const injected = done.cells.filter((c) => (c.metadata.tags as string[] | undefined)?.includes('injected-parameters'));
  assert.deepEqual(injected.map((c) => c.source), ['const n = 3;']);
  assert.deepEqual(done.cells[2]!.outputs, [{ kind: 'stream', name: 'stdout', text: 'n=3\n' }]);
  // without -p the injected cell of the earlier run stays: it is part of that notebook
  const third = join(nbPath, '..', 'third');
  assert.equal(cli(['run', join(second, 'test.mpnb'), '--out', third]).status, 0);
  const again = parseNotebook(readFileSync(join(third, 'test.mpnb'), 'utf8'));
  assert.deepEqual((again.cells[2]!.outputs[0] as { text: string }).text, 'n=3\n');
});

test('--out equal to the notebook\'s own folder is refused and the source is left untouched', () => {
  const nbPath = writeNotebook(['console.log("ran")']);
  const before = readFileSync(nbPath, 'utf8');
  for (const out of [join(nbPath, '..'), join(nbPath, '..', '.'), `${join(nbPath, '..')}/`]) {
    const r = cli(['run', nbPath, '--out', out]);
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stderr, /is the folder of test\.mpnb: the executed notebook would overwrite its source/);
    assert.equal(readFileSync(nbPath, 'utf8'), before);
  }
});

test('two runs writing the same --out at once both finish, and the result is a complete notebook', async () => {
  // outputs of 1 MB per cell make each save of the growing notebook take a while, so the two runs' saves overlap
  const nbPath = writeNotebook(Array.from({ length: 16 }, (_, i) => `console.log('${i}'.padEnd(1 << 20, '.'))`));
  const out = join(nbPath, '..', 'shared-out');
  const runOnce = () =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', ...CLI, 'run', nbPath, '--out', out], { cwd: repoRoot });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('exit', (code) => resolve({ code, stderr }));
    });
  const [a, b] = await Promise.all([runOnce(), runOnce()]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const done = parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8'));
  assert.equal(done.cells.filter((c) => c.outputs.length === 1).length, 16);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), []);
});

test('damaged notebook files give a clear error naming the file and cell, and write nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-cli-bad-'));
  const cases: [string, string, RegExp][] = [
    ['null.mpnb', 'null', /null\.mpnb is not an nbformat 4 notebook: its JSON is null/],
    ['null-cell.mpnb', '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [null]}', /null-cell\.mpnb: cell 1 is null, not a cell object/],
    [
      'number-source.mpnb',
      JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: 'code', id: 'a', source: 'console.log(1)', metadata: {}, outputs: [] }, { cell_type: 'code', id: 'b2', source: 42, metadata: {}, outputs: [] }] }),
      /number-source\.mpnb: cell 2 \(id b2\): "source" must be text \(a string or a list of strings\), but it is a number/,
    ],
  ];
  for (const [name, text, message] of cases) {
    writeFileSync(join(dir, name), text);
    const out = join(dir, `out-${name}`);
    const r = cli(['run', join(dir, name), '--out', out]);
    assert.equal(r.status, 2, `${name}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /TypeError|at parseNotebook/);
    assert.ok(!existsSync(join(out, name)), `${name}: nothing written`);
  }
});

test('a notebook saved with a UTF-8 byte order mark runs', () => {
  const nbPath = writeNotebook(['console.log("bom ok")']);
  writeFileSync(nbPath, '\uFEFF' + readFileSync(nbPath, 'utf8'));
  const out = join(nbPath, '..', 'out');
  const r = cli(['run', nbPath, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8')).cells[0]!.outputs[0] as { text: string }).text, 'bom ok\n');
});

test('Ctrl-C (SIGINT) stops the run: a message, exit 130, the kernel gone at exit, the cells before it saved', async () => {
  const nbPath = writeNotebook(['console.log(process.pid)', 'while (true) {}', 'console.log("never")']);
  const out = join(nbPath, '..', 'out');
  const p = spawn(process.execPath, ['--import', 'tsx', ...CLI, 'run', nbPath, '--out', out], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve) =>
    p.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('▶ Cell 2')) resolve();
    }),
  );
  const kernelPid = Number((parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8')).cells[0]!.outputs[0] as { text: string }).text);
  assert.ok(kernelPid > 0 && processAlive(kernelPid), 'the kernel runs cell 2');
  await new Promise((r) => setTimeout(r, 300));
  p.kill('SIGINT');
  const { code, signal } = await exited;
  assert.equal(kernelPid !== p.pid && !processAlive(kernelPid), true, 'the kernel process is gone when the CLI exits');
  assert.deepEqual({ code, signal }, { code: 130, signal: null });
  assert.match(stderr, /Interrupted \(SIGINT\): stopping Cell 2/);
  assert.match(stderr, /Interrupted in Cell 2; the cells before it are saved: .*test\.mpnb/);
  const saved = parseNotebook(readFileSync(join(out, 'test.mpnb'), 'utf8'));
  assert.equal(saved.cells[0]!.outputs[0]!.kind, 'stream');
  assert.equal(saved.cells[1]!.outputs.at(-1)!.kind, 'error');
  assert.deepEqual(saved.cells[2]!.outputs, []);
});

test('gc right after a run keeps what cells made but did not display (the preview MP4), and still removes orphans', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-cli-gc-'));
  const nbPath = writeNotebook(
    [
      `const head = mp.flame.demoHead();
const sequence = mp.demo.drivingSequence(head, { frames: 4 });
const portrait = await mp.demo.portrait(head, 128);
const instant = await mp.preview({ image: portrait }, sequence, { workers: 1 });
await display(instant);`,
      'console.log(instant.video.path)',
    ],
    undefined,
    dir,
  );
  const out = join(dir, 'out');
  const cache = join(dir, 'cache');
  const r = cli(['run', nbPath, '--out', out], { MAGICPORTRAIT_CACHE: cache });
  assert.equal(r.status, 0, r.stderr);
  const executed = join(out, 'test.mpnb');
  const mp4 = (parseNotebook(readFileSync(executed, 'utf8')).cells[1]!.outputs[0] as { text: string }).text.trim();
  assert.match(mp4, /\.mp4$/);
  assert.ok(existsSync(mp4));
  // the frames display does not reference the MP4: the cell's metadata keeps it
  assert.doesNotMatch(JSON.stringify(parseNotebook(readFileSync(executed, 'utf8')).cells[0]!.outputs), new RegExp(mp4.slice(-68, -4)));
  writeFileSync(join(`${executed}.artifacts`, `${'b'.repeat(64)}.png`), 'orphan');
  const g = cli(['gc', executed]);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /Removed 1 unreferenced/);
  assert.ok(existsSync(mp4), 'the preview MP4 survives gc');
  assert.ok(!existsSync(join(`${executed}.artifacts`, `${'b'.repeat(64)}.png`)));
});

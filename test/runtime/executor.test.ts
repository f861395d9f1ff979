import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelClient } from '../../src/kernel/runtime/client';
import { MIME } from '../../src/shared/outputs';
import { run, testKernel } from './kernel-harness';

describe('cell runtime in a kernel process', () => {
  let kernel: KernelClient;
  before(async () => {
    kernel = testKernel();
    await kernel.start();
  });
  after(() => kernel.shutdown());

  test('top-level declarations persist across cells, including destructuring, functions and classes', async () => {
    await run(kernel, `const a: number = 2; let { b, c: [d] } = { b: 3, c: [4] };\nfunction twice(n: number) { return 2 * n }\nclass Box { constructor(public v: number) {} }`);
    const r = await run(kernel, 'new Box(twice(a) + b + d).v', 'Cell 2');
    assert.equal(r.outcome.status, 'ok');
    assert.equal(r.outcome.status === 'ok' && r.outcome.result?.['text/plain'], '11');
  });

  test('re-running a cell that declares const replaces the value without a redeclaration error', async () => {
    await run(kernel, 'const x = 1');
    const again = await run(kernel, 'const x = 41; x + 1');
    assert.equal(again.outcome.status, 'ok');
    assert.equal(again.outcome.status === 'ok' && again.outcome.result?.['text/plain'], '42');
  });

  test('top-level await works and functions are hoisted within a cell', async () => {
    const r = await run(kernel, 'const v = await later(5);\nasync function later(n: number) { await new Promise(r => setTimeout(r, 10)); return n * 3 }\nv');
    assert.equal(r.outcome.status === 'ok' && r.outcome.result?.['text/plain'], '15');
  });

  test('console.log and console.error stream into the cell while it runs', async () => {
    const r = await run(kernel, 'console.log("hello", 1); console.error("oops"); await mp.sleep(5); console.log({ k: 2 })');
    assert.equal(r.stdout, 'hello 1\n{ k: 2 }\n');
    assert.equal(r.stderr, 'oops\n');
  });

  test('an uncaught error reports the message and the cell\'s own line numbers', async () => {
    const r = await run(kernel, 'const ok = 1;\n\n\ntype T = { a: number };\nfunction boom(): never {\n  throw new RangeError("bad value " + ok);\n}\nboom();', 'Cell 7');
    assert.equal(r.outcome.status, 'error');
    if (r.outcome.status !== 'error') return;
    assert.equal(r.outcome.error.name, 'RangeError');
    assert.equal(r.outcome.error.message, 'bad value 1');
    assert.match(r.outcome.error.stack, /at boom \(Cell 7, line 6\)/);
    assert.match(r.outcome.error.stack, /Cell 7, line 8/);
    assert.doesNotMatch(r.outcome.error.stack, /executor|node:internal/);
  });

  test('a function from an earlier cell keeps its own cell label in later stack traces', async () => {
    await run(kernel, '\nfunction fails() {\n  throw new Error("from cell A");\n}', 'Cell A');
    const r = await run(kernel, 'fails()', 'Cell B');
    assert.ok(r.outcome.status === 'error');
    if (r.outcome.status === 'error') {
      assert.match(r.outcome.error.stack, /fails \(Cell A, line 3\)/);
      assert.match(r.outcome.error.stack, /Cell B, line 1/);
    }
  });

  test('a syntax error names the cell line', async () => {
    const r = await run(kernel, 'const a = 1;\nconst = 2;', 'Cell 9');
    assert.equal(r.outcome.status, 'error');
    if (r.outcome.status === 'error') assert.match(r.outcome.error.stack, /Cell 9, line 2/);
  });

  test('display() emits rich MIME bundles; imports of node modules work', async () => {
    const r = await run(kernel, 'import { basename } from "node:path";\nawait display({ file: basename("/a/b.png") }); await display("plain")');
    assert.equal(r.outcome.status, 'ok');
    assert.deepEqual(r.displays[0]!.bundle['application/json'], { file: 'b.png' });
    assert.equal(r.displays[1]!.bundle['text/plain'], 'plain');
  });

  test('dynamic import() works in cells, nested too, and imports have their default export', async () => {
    const r = await run(
      kernel,
      `const fs = await import('node:fs');
import path from 'node:path';
async function load() { return (await import('node:os')).default.platform(); }
[typeof fs.readFileSync, typeof fs.default.existsSync, path.basename('/a/b.png'), await load()].join(' ')`,
    );
    assert.equal(r.outcome.status, 'ok', r.outcome.status !== 'ok' ? r.outcome.error.message : '');
    assert.equal(r.outcome.status === 'ok' && r.outcome.result?.['text/plain'], `function function b.png ${process.platform}`);
  });

  test('mp.progress shows a live bar that is updated in place and finishes', async () => {
    const r = await run(kernel, 'const p = mp.progress("Steps", 5, "steps"); for (let i = 0; i < 5; i++) { await mp.sleep(120); p.tick() } p.finish()');
    assert.equal(r.outcome.status, 'ok');
    assert.equal(r.displays.length, 1);
    const id = r.displays[0]!.displayId!;
    assert.ok(r.updates.length >= 3, `updates: ${r.updates.length}`);
    assert.ok(r.updates.every((u) => u.displayId === id));
    const last = r.updates.at(-1)!.bundle[MIME.progress] as { done: number; total: number; finished: boolean };
    assert.deepEqual([last.done, last.total, last.finished], [5, 5, true]);
  });

  test('frame sequences go to the content-addressed artifact store, not into the output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-nb-'));
    const nb = join(dir, 'demo.mpnb');
    const code = `const frames = Array.from({ length: 3 }, (_, k) => ({ width: 8, height: 4, channels: 3 as const, data: new Uint8Array(96).fill(k * 40) }));
await display(mp.frames([{ name: 'a', frames }, { name: 'b', frames }]))`;
    const r = await run(kernel, code, 'Cell 1', nb);
    assert.equal(r.outcome.status, 'ok');
    const out = r.displays[0]!.bundle[MIME.frames] as { tracks: { frames: { hash: string }[] }[] };
    assert.equal(out.tracks.length, 2);
    // Identical frames in two tracks are stored once.
    assert.equal(readdirSync(`${nb}.artifacts`).length, 3);
    assert.equal(out.tracks[0]!.frames[1]!.hash, out.tracks[1]!.frames[1]!.hash);
  });
});

describe('interrupt and crash recovery', () => {
  test('interrupt stops a cooperative cell at once and the kernel keeps its variables', async () => {
    const kernel = testKernel();
    try {
      await run(kernel, 'const keep = 7');
      const started = Date.now();
      const pending = run(kernel, 'for (let i = 0; i < 1000; i++) await mp.sleep(50)');
      await new Promise((r) => setTimeout(r, 300));
      kernel.interrupt();
      const r = await pending;
      assert.equal(r.outcome.status, 'cancelled');
      assert.ok(Date.now() - started < 2000);
      const after = await run(kernel, 'keep');
      assert.equal(after.outcome.status === 'ok' && after.outcome.result?.['text/plain'], '7');
    } finally {
      await kernel.shutdown();
    }
  });

  test('interrupt of a busy while(true) loop kills and restarts the kernel after the grace period', async () => {
    const kernel = testKernel({ interruptGraceMs: 500 });
    try {
      await run(kernel, 'const lost = 1');
      const pid = kernel.pid;
      const pending = run(kernel, 'while (true) {}');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      kernel.interrupt();
      const r = await pending;
      const latency = Date.now() - t0;
      assert.equal(r.outcome.status, 'died');
      assert.ok(latency >= 450 && latency < 1500, `latency ${latency} ms`);
      if (r.outcome.status === 'died') assert.match(r.outcome.error.message, /did not stop/);
      const next = await run(kernel, 'typeof lost');
      assert.equal(next.outcome.status === 'ok' && next.outcome.result?.['text/plain'], 'undefined');
      assert.notEqual(kernel.pid, pid);
    } finally {
      await kernel.shutdown();
    }
  });

  test('process.exit() in a cell is reported and the next cell runs in a fresh kernel', async () => {
    const kernel = testKernel();
    try {
      const r = await run(kernel, 'process.exit(3)');
      assert.equal(r.outcome.status, 'died');
      if (r.outcome.status === 'died') assert.match(r.outcome.error.message, /exit code 3/);
      const next = await run(kernel, '1 + 1');
      assert.equal(next.outcome.status === 'ok' && next.outcome.result?.['text/plain'], '2');
    } finally {
      await kernel.shutdown();
    }
  });

  test('an out-of-memory kill in a cell is reported as a crash', async () => {
    const kernel = testKernel({ env: { NODE_OPTIONS: '--max-old-space-size=64' } });
    try {
      const r = await run(kernel, 'const hog: number[][] = []; while (true) hog.push(new Array(1e6).fill(1.5))');
      assert.equal(r.outcome.status, 'died');
      const next = await run(kernel, '"alive"');
      assert.equal(next.outcome.status === 'ok' && next.outcome.result?.['text/plain'], 'alive');
    } finally {
      await kernel.shutdown();
    }
  });
});

import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StageCache } from '../../src/kernel/pipeline/cache';
import { contentHash, CONTENT_KEY } from '../../src/kernel/io/content-hash';

const fresh = () => new StageCache(mkdtempSync(join(tmpdir(), 'mp-cache-')));
const stage = { name: 'square', version: 1 };

test('a hit returns the stored result without computing; typed arrays come back intact', async () => {
  const cache = fresh();
  let calls = 0;
  const compute = () => {
    calls++;
    return { v: new Float32Array([1, 2, 3]).map((x) => x * x), note: 'ok' };
  };
  const a = await cache.run(stage, { x: new Float32Array([1, 2, 3]) }, { k: 1 }, compute);
  const b = await cache.run(stage, { x: new Float32Array([1, 2, 3]) }, { k: 1 }, compute);
  assert.equal(calls, 1);
  assert.deepEqual(b, a);
  assert.ok(b.v instanceof Float32Array);
  assert.deepEqual(cache.stats, { hits: 1, misses: 1, corrupt: 0 });
});

test('changing inputs, options, stage version or typed-array contents is a miss', async () => {
  const cache = fresh();
  let calls = 0;
  const compute = () => ++calls;
  await cache.run(stage, { x: new Float32Array([1, 2]) }, {}, compute);
  await cache.run(stage, { x: new Float32Array([1, 3]) }, {}, compute);
  await cache.run(stage, { x: new Float32Array([1, 2]) }, { smoothing: 0.5 }, compute);
  await cache.run({ ...stage, version: 2 }, { x: new Float32Array([1, 2]) }, {}, compute);
  await cache.run(stage, { x: new Float64Array([1, 2]) }, {}, compute);
  assert.equal(calls, 5);
});

test('results survive a new cache object on the same folder (a restarted kernel)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-cache-'));
  await new StageCache(dir).run(stage, 'in', {}, () => [1, 2, 3]);
  let called = false;
  const again = await new StageCache(dir).run(stage, 'in', {}, () => ((called = true), []));
  assert.deepEqual(again, [1, 2, 3]);
  assert.equal(called, false);
});

test('a corrupt entry is detected, dropped and recomputed', async () => {
  const cache = fresh();
  await cache.run(stage, 'in', {}, () => 'first');
  const sub = readdirSync(cache.dir)[0]!;
  const file = join(cache.dir, sub, readdirSync(join(cache.dir, sub))[0]!);
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);
  const v = await cache.run(stage, 'in', {}, () => 'recomputed');
  assert.equal(v, 'recomputed');
  assert.equal(cache.stats.corrupt, 1);
  // The rewritten entry is good again.
  assert.equal(await cache.run(stage, 'in', {}, () => 'third'), 'recomputed');
  writeFileSync(file, Buffer.from('garbage'));
  assert.equal(await cache.run(stage, 'in', {}, () => 'fourth'), 'fourth');
});

test('content hashes ignore key order, respect types, and use content keys', () => {
  assert.equal(contentHash({ a: 1, b: [2, 'x'] }), contentHash({ b: [2, 'x'], a: 1 }));
  assert.notEqual(contentHash(1), contentHash('1'));
  assert.notEqual(contentHash(new Uint8Array([1])), contentHash(new Int8Array([1])));
  assert.equal(contentHash({ [CONTENT_KEY]: 'file:abc', big: 1 }), contentHash({ [CONTENT_KEY]: 'file:abc', big: 2 }));
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  assert.throws(() => contentHash(cyc), /cyclic/);
});

test('a cache entry whose writer was killed mid-write leaves no temp file behind once the cache is used again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-cache-'));
  // The writer is SIGKILLed after writing its temp file and before renaming it (as a Ctrl-C or an interrupt that ends
  // in a kill would): deterministic, no race with the write.
  const script = `require('node:fs').renameSync = () => process.kill(process.pid, 'SIGKILL');
const { StageCache } = require(${JSON.stringify(join(__dirname, '../../src/kernel/pipeline/cache.ts'))});
new StageCache(${JSON.stringify(dir)}).run({ name: 'big', version: 1 }, {}, {}, () => new Float32Array(1 << 20));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  const temps = () => readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));
  assert.equal(temps().length, 1, 'the torn write left its temp file');
  // a temp file of a writer that is still running (this process) is left alone
  const sub = readdirSync(dir)[0]!;
  writeFileSync(join(dir, sub, `.live.bin.${process.pid}.0123abcd.tmp`), 'in progress');
  const cache = new StageCache(dir);
  assert.equal(await cache.run(stage, { x: 1 }, {}, () => 7), 7);
  assert.deepEqual(temps(), [join(sub, `.live.bin.${process.pid}.0123abcd.tmp`)]);
});

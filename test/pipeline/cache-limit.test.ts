// The stage cache's size limit (least-recently-used eviction), its streamed file entries, and `magicportrait cache`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StageCache } from '../../src/kernel/pipeline/cache';
import { DEFAULT_CACHE_MAX_BYTES } from '../../src/kernel/settings';
import { FrameFileReader, FrameFileWriter } from '../../src/kernel/pipeline/frame-file';
import { repoRoot } from '../runtime/kernel-harness';

const stage = { name: 'blob', version: 1 };
const blob = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** Sets an entry's last use (the LRU order is the files' modification times). */
function age(cache: StageCache, secondsAgo: Record<string, number>): void {
  for (const e of cache.entries()) {
    const key = Object.keys(secondsAgo).find((k) => e.file.includes(cache.key(stage, k, {})));
    if (key) utimesSync(e.file, new Date(Date.now() - 1000 * secondsAgo[key]!), new Date(Date.now() - 1000 * secondsAgo[key]!));
  }
}

test('over its limit the cache evicts the least recently used entries; a hit counts as a use', async () => {
  const cache = new StageCache(mkdtempSync(join(tmpdir(), 'mp-lru-')), { maxBytes: 350_000 });
  for (const k of ['a', 'b', 'c']) await cache.run(stage, k, {}, () => blob(100_000, k.charCodeAt(0)));
  assert.equal(cache.entries().length, 3);
  age(cache, { a: 30, b: 20, c: 10 });
  // a is the oldest, but reading it makes it the most recent: b goes first
  assert.equal((await cache.run(stage, 'a', {}, () => blob(1, 0)))[0], 'a'.charCodeAt(0));
  await cache.run(stage, 'd', {}, () => blob(100_000, 100));
  const kept = (k: string) => cache.has(stage, k);
  assert.deepEqual(['a', 'b', 'c', 'd'].map(kept), [true, false, true, true]);
  assert.equal(cache.evicted, 1);
  assert.ok(cache.info().bytes <= 350_000);
  // an entry larger than the whole limit is still stored (the others make room), and goes next time
  await cache.run(stage, 'huge', {}, () => blob(400_000, 1));
  assert.ok(cache.has(stage, 'huge'));
  assert.deepEqual(['a', 'c', 'd'].map(kept), [false, false, false]);
});

test('the default limit is 10 GiB, MAGICPORTRAIT_CACHE_MAX_BYTES overrides it, 0 means none', () => {
  const before = process.env.MAGICPORTRAIT_CACHE_MAX_BYTES;
  try {
    delete process.env.MAGICPORTRAIT_CACHE_MAX_BYTES;
    assert.equal(new StageCache('/nonexistent').maxBytes, DEFAULT_CACHE_MAX_BYTES);
    assert.equal(DEFAULT_CACHE_MAX_BYTES, 10 * 1024 ** 3);
    process.env.MAGICPORTRAIT_CACHE_MAX_BYTES = '12345';
    assert.equal(new StageCache('/nonexistent').maxBytes, 12345);
    process.env.MAGICPORTRAIT_CACHE_MAX_BYTES = '0';
    assert.equal(new StageCache('/nonexistent').enforceLimit().evicted, 0);
  } finally {
    if (before === undefined) delete process.env.MAGICPORTRAIT_CACHE_MAX_BYTES;
    else process.env.MAGICPORTRAIT_CACHE_MAX_BYTES = before;
  }
});

test('a file entry is streamed into place only when complete; an interrupted one leaves nothing', async () => {
  const cache = new StageCache(mkdtempSync(join(tmpdir(), 'mp-file-')));
  const planes = [6, 2];
  const produce = async (path: string) => {
    const w = new FrameFileWriter<{ n: number }>(path, planes);
    for (let i = 0; i < 5; i++) w.append([blob(6, i), blob(2, 10 + i)]);
    w.finish({ n: 5 });
  };
  const a = await cache.runFile(stage, 'frames', {}, 'frames', produce, FrameFileReader.isComplete);
  assert.equal(a.hit, false);
  const r = new FrameFileReader<{ n: number }>(a.path);
  assert.deepEqual([r.count, r.meta.n], [5, 5]);
  assert.deepEqual(r.read(3).map((p) => Array.from(p)), [[3, 3, 3, 3, 3, 3], [13, 13]]);
  const b = await cache.runFile(stage, 'frames', {}, 'frames', () => assert.fail('a hit does not produce'), FrameFileReader.isComplete);
  assert.deepEqual(b, { path: a.path, hit: true });
  // a stage that fails half-way: no entry, no temporary file
  await assert.rejects(cache.runFile(stage, 'broken', {}, 'frames', async (path) => {
    const w = new FrameFileWriter(path, planes);
    w.append([blob(6, 1), blob(2, 1)]);
    w.abort();
    throw new Error('interrupted');
  }, FrameFileReader.isComplete), /interrupted/);
  const files = readdirSync(join(cache.dir, readdirSync(cache.dir)[0]!));
  assert.ok(files.every((f) => !f.endsWith('.tmp')), files.join(', '));
  assert.equal(cache.entries().length, 1);
  // an evicted entry stays readable for the sequence that has it open
  const open = new FrameFileReader(a.path);
  rmSync(a.path);
  assert.deepEqual(Array.from(open.read(4)[1]!), [14, 14]);
  open.close();
  r.close();
  // a frame damaged on disk is reported, not shown
  const c = await cache.runFile(stage, 'frames', {}, 'frames', produce, FrameFileReader.isComplete);
  const bytes = readFileSync(c.path);
  bytes[8] ^= 0xff;
  writeFileSync(c.path, bytes);
  const damaged = new FrameFileReader(c.path);
  assert.throws(() => damaged.read(0), /Frame 0 of .* is damaged \(checksum mismatch\)/);
  assert.deepEqual(Array.from(damaged.read(1)[1]!), [11, 11]);
  damaged.close();
});

test('magicportrait cache show / clear', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mp-cachecli-'));
  const cache = new StageCache(join(root, 'stages'));
  await cache.run(stage, 'x', {}, () => blob(2048, 1));
  await cache.run(stage, 'y', {}, () => blob(2048, 2));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/kernel/cli/main.ts'), 'cache', ...args], { cwd: repoRoot, encoding: 'utf8' });
  const show = cli('show', '--dir', root, '--max-gb', '1');
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`Stage cache ${join(root, 'stages').replace(/[/.]/g, '\\$&')}`));
  assert.match(show.stdout, /2 entries, 4 KiB of its 1\.00 GiB limit \(0%; least recently used entries are evicted beyond it\)/);
  const clear = cli('clear', '--dir', root);
  assert.equal(clear.status, 0, clear.stderr);
  assert.match(clear.stdout, /Removed 2 entries \(4 KiB\)/);
  assert.equal(existsSync(join(root, 'stages')), false);
  assert.match(cli('show', '--dir', root).stdout, /0 entries/);
  const bad = cli('purge', '--dir', root);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Unknown cache command 'purge'/);
});

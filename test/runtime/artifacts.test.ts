import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ArtifactStore, notebookReferences, referencedHashes, unreferencedWrites, withKeptArtifacts } from '../../src/kernel/runtime/artifacts';

test('artifacts are stored once by content hash and read back verified', () => {
  const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'mp-art-')));
  const bytes = new TextEncoder().encode('frame data');
  const a = store.put(bytes, 'bin', 'application/octet-stream');
  const b = store.put(bytes, 'bin', 'application/octet-stream');
  assert.equal(a.hash, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(a, b);
  assert.equal(readdirSync(store.dir).length, 1);
  assert.deepEqual([...store.read(a)], [...bytes]);
});

test('a damaged or missing artifact is reported, not shown', () => {
  const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'mp-art-')));
  const ref = store.put(new Uint8Array([1, 2, 3]), 'bin', 'application/octet-stream');
  writeFileSync(store.path(ref), new Uint8Array([9]));
  assert.throws(() => store.read(ref), /damaged/);
  assert.throws(() => store.read({ hash: '0'.repeat(64), ext: 'png' }), /missing/);
  assert.throws(() => store.path({ hash: '../../etc/passwd', ext: 'png' }), /Not an artifact/);
});

test('garbage collection keeps referenced artifacts and removes the rest', () => {
  const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'mp-art-')));
  const keep = store.put(new Uint8Array([1]), 'png', 'image/png');
  const drop = store.put(new Uint8Array([2]), 'png', 'image/png');
  const outputs = [{ data: { 'application/vnd.magicportrait.frames+json': { tracks: [{ frames: [keep] }] } } }];
  const refs = referencedHashes(outputs);
  assert.deepEqual([...refs], [keep.hash]);
  const r = store.collectGarbage(refs);
  assert.equal(r.removed, 1);
  assert.deepEqual(store.list().map((x) => x.hash), [keep.hash]);
  assert.ok(!store.list().some((x) => x.hash === drop.hash));
});

test('garbage collection removes temp files of writers that are gone and keeps those of a running writer', () => {
  const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'mp-art-')));
  store.put(new Uint8Array([1]), 'png', 'image/png');
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
  writeFileSync(join(store.dir, `.${'c'.repeat(64)}.mp4.${gone}.0badc0de.tmp`), new Uint8Array(1000));
  const live = `.${'d'.repeat(64)}.mp4.${process.pid}.0badc0de.tmp`;
  writeFileSync(join(store.dir, live), new Uint8Array(10));
  const r = store.collectGarbage(new Set());
  assert.deepEqual(r, { removed: 2, bytes: 1001 });
  assert.deepEqual(readdirSync(store.dir), [live]);
});

test('what a cell wrote but does not show is listed in its metadata, and garbage collection keeps it', () => {
  const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'mp-art-')));
  const shown = store.put(new Uint8Array([1]), 'png', 'image/png');
  const video = store.put(new Uint8Array([2]), 'mp4', 'video/mp4');
  // displays store through forDisplay(): not listed as written
  store.forDisplay().put(new Uint8Array([3]), 'png', 'image/png');
  assert.deepEqual(store.written, [{ hash: shown.hash, ext: 'png' }, { hash: video.hash, ext: 'mp4' }]);
  const outputs = [{ kind: 'display', data: { 'application/vnd.magicportrait.frames+json': { tracks: [{ frames: [shown] }] } } }];
  const kept = unreferencedWrites(store.written, referencedHashes(outputs));
  assert.deepEqual(kept, [{ hash: video.hash, ext: 'mp4' }]);
  const metadata = withKeptArtifacts({ tags: ['x'], magicportrait: { other: 1, artifacts: [{ hash: 'f'.repeat(64), ext: 'png' }] } }, kept);
  assert.deepEqual(metadata, { tags: ['x'], magicportrait: { other: 1, artifacts: [{ hash: video.hash, ext: 'mp4' }] } });
  assert.deepEqual(withKeptArtifacts({ tags: ['x'], magicportrait: { artifacts: [] } }, []), { tags: ['x'] });
  const refs = notebookReferences([{ outputs, metadata }]);
  assert.equal(store.collectGarbage(refs).removed, 1, 'only the display-only PNG that no output references');
  assert.deepEqual(store.list().map((a) => a.ext).sort(), ['mp4', 'png']);
});

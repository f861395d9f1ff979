import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ArtifactStore, referencedHashes } from '../../src/kernel/runtime/artifacts';

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

/**
 * The download helper against a local HTTP server on 127.0.0.1 (node:http) that serves fixture bytes and records what
 * it was asked and what it sent: full download with SHA-256, resume after a dropped connection (only the rest is
 * sent), restart when Range is ignored, hash and size mismatches, redirects with the hub's X-Linked-* headers, 404,
 * cancel, candidates falling back, and licence-gated entries refused without any request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModels, selectEntries, type CatalogueEntry } from '../../src/kernel/models/download';
import { downloadFile } from '../../src/kernel/io/download';
import { MagicPortraitError } from '../../src/kernel/errors';
import { modelsDownloadCommand } from '../../src/kernel/models/download-cli';

// ---- fixture server

const BODY = randomBytes(300 * 1024);
const SHA = createHash('sha256').update(BODY).digest('hex');
const CUT = 100 * 1024;

interface Seen {
  path: string;
  range?: string;
  ifRange?: string;
  sent: number;
}
const seen: Seen[] = [];
const cutOnce = new Set<string>();
let server: http.Server;
let base: string;
let root: string;

/** Serves BODY with Range support (or not), counting the body bytes it sends. */
function serve(req: http.IncomingMessage, res: http.ServerResponse, rec: Seen, o: { range: boolean; cutFirst?: boolean; slow?: boolean }): void {
  const m = o.range ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
  const ifRangeOk = !req.headers['if-range'] || req.headers['if-range'] === '"v1"';
  const start = m && ifRangeOk ? Number(m[1]) : 0;
  const body = BODY.subarray(start);
  const headers: http.OutgoingHttpHeaders = { 'content-length': body.length, etag: '"v1"', 'accept-ranges': o.range ? 'bytes' : 'none' };
  if (start > 0) headers['content-range'] = `bytes ${start}-${BODY.length - 1}/${BODY.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (o.cutFirst && !cutOnce.has(rec.path)) {
    cutOnce.add(rec.path);
    rec.sent = CUT;
    res.write(body.subarray(0, CUT), () => res.socket?.destroy());
    return;
  }
  if (o.slow) {
    let i = 0;
    const step = () => {
      if (res.destroyed) return;
      const c = body.subarray(i, i + 16 * 1024);
      i += c.length;
      rec.sent += c.length;
      if (i >= body.length) res.end(c);
      else res.write(c, () => setTimeout(step, 15));
    };
    step();
    return;
  }
  rec.sent = body.length;
  res.end(body);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mp-download-'));
  server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const rec: Seen = { path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, sent: 0 };
    seen.push(rec);
    if (path.startsWith('/ok/') || path.startsWith('/cdn/')) return serve(req, res, rec, { range: true });
    if (path.startsWith('/cut/')) return serve(req, res, rec, { range: true, cutFirst: true });
    if (path.startsWith('/norange/')) return serve(req, res, rec, { range: false, cutFirst: true });
    if (path.startsWith('/slow/')) return serve(req, res, rec, { range: true, slow: true });
    if (path.startsWith('/hub/')) {
      // as the hub does for LFS files: a redirect carrying the file's SHA-256 and size
      res.writeHead(302, { location: `/cdn/${path.slice(5)}`, 'x-linked-etag': `"${path.includes('bad') ? 'f'.repeat(64) : SHA}"`, 'x-linked-size': String(BODY.length) });
      return res.end();
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Entry not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

const requestsFor = (prefix: string) => seen.filter((s) => s.path.startsWith(prefix));
const dest = (name: string) => join(root, name);
const sameBytes = (p: string) => assert.ok(readFileSync(p).equals(BODY), `${p} holds the served bytes`);

// ---- tests

test('full download: bytes, SHA-256 verified, no part file left', async () => {
  const r = await downloadFile(`${base}/ok/a.bin`, dest('ok/a.bin'), { sha256: SHA });
  sameBytes(dest('ok/a.bin'));
  assert.deepEqual([r.bytes, r.sha256, r.verified, r.resumedFrom, r.transferred], [BODY.length, SHA, 'sha256', 0, BODY.length]);
  assert.ok(!existsSync(dest('ok/a.bin.part')) && !existsSync(dest('ok/a.bin.part.json')));
});

test('a dropped connection keeps the part; the next run asks for the rest only (Range + If-Range)', async () => {
  const d = dest('cut/b.bin');
  await assert.rejects(downloadFile(`${base}/cut/b.bin`, d, { sha256: SHA, retries: 0 }), (e: MagicPortraitError) => e.code === 'interrupted' && /resume/.test(e.message));
  assert.ok(!existsSync(d));
  const kept = statSync(`${d}.part`).size;
  assert.ok(kept > 0 && kept <= CUT, `kept ${kept} bytes`);
  const r = await downloadFile(`${base}/cut/b.bin`, d, { sha256: SHA });
  const [first, second] = requestsFor('/cut/');
  assert.equal(first!.range, undefined);
  assert.equal(second!.range, `bytes=${kept}-`);
  assert.equal(second!.ifRange, '"v1"');
  assert.equal(second!.sent, BODY.length - kept, 'the server sent only the rest');
  assert.equal(r.transferred, BODY.length - kept);
  assert.equal(r.resumedFrom, kept);
  sameBytes(d);
});

test('a dropped connection is resumed automatically within the retries', async () => {
  cutOnce.delete('/cut/c.bin');
  const r = await downloadFile(`${base}/cut/c.bin`, dest('cut/c.bin'), { sha256: SHA });
  sameBytes(dest('cut/c.bin'));
  const reqs = requestsFor('/cut/c.bin');
  assert.equal(reqs.length, 2);
  assert.match(reqs[1]!.range ?? '', /^bytes=\d+-$/);
  assert.equal(r.verified, 'sha256');
});

test('a server that ignores Range: the download starts over and the file is not duplicated', async () => {
  const d = dest('norange/d.bin');
  await assert.rejects(downloadFile(`${base}/norange/d.bin`, d, { retries: 0 }), /interrupted/);
  assert.ok(statSync(`${d}.part`).size > 0);
  const r = await downloadFile(`${base}/norange/d.bin`, d, { sha256: SHA });
  const second = requestsFor('/norange/')[1]!;
  assert.match(second.range ?? '', /^bytes=\d+-$/, 'a resume was asked for');
  assert.equal(second.sent, BODY.length, 'but the whole file came');
  assert.equal(r.resumedFrom, 0);
  sameBytes(d);
});

test('redirects are followed and the hub\'s X-Linked-Etag SHA-256 is the check', async () => {
  const r = await downloadFile(`${base}/hub/e.bin`, dest('hub/e.bin'));
  assert.equal(r.verified, 'sha256');
  assert.equal(r.sha256, SHA);
  sameBytes(dest('hub/e.bin'));
  assert.deepEqual(requestsFor('/cdn/e.bin').length, 1);
});

test('a hash mismatch is an error and leaves neither the file nor a part', async () => {
  const d = dest('hub/bad.bin');
  await assert.rejects(downloadFile(`${base}/hub/bad.bin`, d), (e: MagicPortraitError) => e.code === 'hash-mismatch' && e.message.includes(SHA) && /deleted/.test(e.message));
  assert.ok(!existsSync(d) && !existsSync(`${d}.part`) && !existsSync(`${d}.part.json`));
  const d2 = dest('ok/wrong.bin');
  await assert.rejects(downloadFile(`${base}/ok/wrong.bin`, d2, { sha256: '0'.repeat(64) }), /does not match/);
  assert.ok(!existsSync(d2) && !existsSync(`${d2}.part`));
});

test('a size mismatch is an error and leaves nothing', async () => {
  const d = dest('ok/size.bin');
  await assert.rejects(downloadFile(`${base}/ok/size.bin`, d, { bytes: BODY.length + 1 }), (e: MagicPortraitError) => e.code === 'size-mismatch' && e.message.includes(String(BODY.length + 1)));
  assert.ok(!existsSync(d) && !existsSync(`${d}.part`));
});

test('404 names the status and the URL', async () => {
  await assert.rejects(downloadFile(`${base}/nothing/here.bin`, dest('x/here.bin')), (e: MagicPortraitError) => e.code === 'not-found' && e.message.includes('404') && e.message.includes(`${base}/nothing/here.bin`));
  assert.ok(!existsSync(dest('x/here.bin')));
});

test('cancelling leaves the part file, and the next run resumes from it', async () => {
  const d = dest('slow/f.bin');
  const ac = new AbortController();
  await assert.rejects(
    downloadFile(`${base}/slow/f.bin`, d, { signal: ac.signal, onProgress: (p) => p.received >= 32 * 1024 && ac.abort() }),
    (e: MagicPortraitError) => e.code === 'cancelled',
  );
  assert.ok(!existsSync(d));
  const kept = statSync(`${d}.part`).size;
  assert.ok(kept >= 32 * 1024 && kept < BODY.length);
  const r = await downloadFile(`${base}/slow/f.bin`, d, { sha256: SHA });
  assert.equal(requestsFor('/slow/').at(-1)!.range, `bytes=${kept}-`);
  assert.equal(r.resumedFrom, kept);
  sameBytes(d);
});

test('catalogue: candidates fall back on 404, present files are kept', async () => {
  const catalogue: CatalogueEntry[] = [{ name: 'weights', what: 'test weights', files: [{ candidates: ['nothing/w.safetensors', 'ok/w.bin'], sha256: SHA }] }];
  const to = join(root, 'models');
  const r = await downloadModels(to, { baseUrl: base, catalogue, only: ['weights'] });
  assert.deepEqual(r.files.map((f) => [f.dest, f.status, f.verified]), [[join(to, 'ok/w.bin'), 'downloaded', 'sha256']]);
  sameBytes(join(to, 'ok/w.bin'));
  const n = seen.length;
  const again = await downloadModels(to, { baseUrl: base, catalogue });
  assert.equal(again.files[0]!.status, 'present');
  assert.equal(seen.length, n, 'nothing fetched again');
});

test('licence-gated FLAME/DECA are refused with the notice, before any request', async () => {
  const n = seen.length;
  for (const name of ['flame', 'deca']) {
    await assert.rejects(downloadModels(join(root, 'gated'), { baseUrl: base, only: [name] }), (e: MagicPortraitError) => {
      assert.equal(e.code, 'licence-required');
      assert.match(e.message, /licence/);
      assert.match(e.message, name === 'flame' ? /flame\.is\.tue\.mpg\.de/ : /deca\.is\.tue\.mpg\.de/);
      return true;
    });
  }
  assert.throws(() => selectEntries(['sd15-unet', 'flame']), /cannot be downloaded automatically/);
  assert.throws(() => selectEntries(['nope']), /Unknown model file set 'nope'/);
  assert.equal(seen.length, n);
  assert.ok(!existsSync(join(root, 'gated')));
  // the CLI says the same and lists the registration pages
  const lines: string[] = [];
  assert.equal(await modelsDownloadCommand(['--list'], (l) => lines.push(l)), 0);
  assert.match(lines.join('\n'), /flame\.is\.tue\.mpg\.de[\s\S]*deca\.is\.tue\.mpg\.de/);
  await assert.rejects(modelsDownloadCommand(['--to', join(root, 'gated'), '--only', 'flame']), /cannot be downloaded automatically/);
});

/**
 * The CUDA provider installer against a local NuGet v3 feed on 127.0.0.1 (node:http): service index → registration
 * leaf (served gzip-encoded, as nuget.org's compressed hives are) → catalog entry with the package's SHA-512 → the
 * .nupkg (a real zip built here, one entry deflated and one stored). Checks the installed bytes, the marker, that
 * nothing half-written is left, resume after a dropped connection (only the rest is sent), idempotence, a wrong
 * published hash (nothing installed, package deleted), an unpublished version, and the CUDA / cuDNN library check on
 * fake library folders and a fake `ldconfig -p`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { CUDA_MARKER, CUDA_PACKAGE, installCudaProvider } from '../../src/kernel/onnx/install-cuda';
import { CUDA_LIBRARIES, checkCudaLibraries, describeCudaCheck, parseLdconfig } from '../../src/kernel/onnx/cuda-runtime';
import { providerStatuses, resolveProvider } from '../../src/kernel/onnx/providers';
import { MagicPortraitError } from '../../src/kernel/errors';

const VERSION = '1.30.0';
const ID = CUDA_PACKAGE.toLowerCase();
// the provider library compresses (deflate); the shared one is random (stored)
const CUDA_SO = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7) % 13));
const SHARED_SO = randomBytes(256 * 1024);
const NUPKG = Buffer.from(
  zipSync({
    [`${CUDA_PACKAGE}.nuspec`]: new TextEncoder().encode('<package/>'),
    'runtimes/linux-x64/native/libonnxruntime_providers_cuda.so': [new Uint8Array(CUDA_SO), { level: 6 }],
    'runtimes/linux-x64/native/libonnxruntime_providers_shared.so': [new Uint8Array(SHARED_SO), { level: 0 }],
  }),
);
const SHA512 = createHash('sha512').update(NUPKG).digest('base64');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Seen {
  path: string;
  range?: string;
  sent: number;
}
const seen: Seen[] = [];
let cutNext = false;
let server: http.Server;
let base: string;
let root: string;

function json(res: http.ServerResponse, body: unknown, gzip = false): void {
  const raw = Buffer.from(JSON.stringify(body));
  const data = gzip ? gzipSync(raw) : raw;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': data.length, ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
  res.end(data);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mp-cuda-'));
  server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const rec: Seen = { path, range: req.headers.range, sent: 0 };
    seen.push(rec);
    // /<feed>/... : feed 'good' publishes the right hash, 'bad' a wrong one
    const [, feed, ...rest] = path.split('/');
    const p = rest.join('/');
    const at = `${base}/${feed}`;
    if (p === 'v3/index.json')
      return json(res, { version: '3.0.0', resources: [{ '@id': `${at}/reg-gz/`, '@type': 'RegistrationsBaseUrl/3.6.0' }, { '@id': `${at}/flat/`, '@type': 'PackageBaseAddress/3.0.0' }] });
    if (p === `reg-gz/${ID}/${VERSION}.json`) return json(res, { '@id': `${at}/${p}`, catalogEntry: `${at}/catalog/${ID}.${VERSION}.json`, packageContent: `${at}/flat/${ID}/${VERSION}/${ID}.${VERSION}.nupkg` }, true);
    if (p === `catalog/${ID}.${VERSION}.json`)
      return json(res, { id: CUDA_PACKAGE, version: VERSION, packageHashAlgorithm: 'SHA512', packageHash: feed === 'bad' ? createHash('sha512').update('other').digest('base64') : SHA512, packageSize: NUPKG.length });
    if (p === `flat/${ID}/${VERSION}/${ID}.${VERSION}.nupkg`) {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const body = NUPKG.subarray(start);
      res.writeHead(start ? 206 : 200, { 'content-length': body.length, etag: '"n1"', ...(start ? { 'content-range': `bytes ${start}-${NUPKG.length - 1}/${NUPKG.length}` } : {}) });
      if (cutNext) {
        cutNext = false;
        rec.sent = Math.floor(body.length / 3);
        res.write(body.subarray(0, rec.sent), () => res.socket?.destroy());
        return;
      }
      rec.sent = body.length;
      return res.end(body);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

/** A folder with every NVIDIA soname (empty files; only presence matters to the loader check). */
function fakeCudaLibs(dir: string, skip: string[] = []): string {
  mkdirSync(dir, { recursive: true });
  for (const { soname } of CUDA_LIBRARIES) if (!skip.includes(soname)) writeFileSync(join(dir, soname), '');
  return dir;
}
const noSystem = { ldconfig: '', ldLibraryPath: '', hintDirs: [] as string[] };

test('install: the verified package\'s two libraries land in the binary folder, atomically, marker last; the CUDA check is reported', async () => {
  const binDir = join(root, 'bin1');
  const libs = fakeCudaLibs(join(root, 'cuda-ok'));
  const lines: string[] = [];
  cutNext = true; // the first package request drops after a third: the helper resumes with Range
  const r = await installCudaProvider({ index: `${base}/good/v3/index.json`, version: VERSION, binDir, cacheDir: join(root, 'cache1'), anyPlatform: true, log: (l) => lines.push(l), check: { extraDirs: [libs], ...noSystem } });
  assert.equal(r.installed, true);
  assert.equal(r.packageSha512, SHA512);
  assert.deepEqual(readFileSync(join(binDir, 'libonnxruntime_providers_cuda.so')), CUDA_SO);
  assert.deepEqual(readFileSync(join(binDir, 'libonnxruntime_providers_shared.so')), SHARED_SO);
  assert.deepEqual(readdirSync(binDir).sort(), ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', CUDA_MARKER], 'nothing else (no .partial) is left');
  const marker = JSON.parse(readFileSync(join(binDir, CUDA_MARKER), 'utf8'));
  assert.equal(marker.version, VERSION);
  assert.deepEqual(marker.files.map((f: { sha256: string }) => f.sha256).sort(), [sha256(CUDA_SO), sha256(SHARED_SO)].sort());
  assert.ok(!existsSync(join(root, 'cache1', `${ID}.${VERSION}.nupkg`)), 'the package is removed once installed');
  const pkgReqs = seen.filter((s) => s.path.startsWith('/good/flat/'));
  assert.equal(pkgReqs.length, 2, 'one dropped request, one resume');
  assert.equal(pkgReqs[1]!.range, `bytes=${pkgReqs[0]!.sent}-`);
  assert.equal(pkgReqs[1]!.sent, NUPKG.length - pkgReqs[0]!.sent, 'only the rest was sent');
  assert.ok(r.cuda.ok, 'all NVIDIA libraries found in the fake folder');
  assert.ok(lines.some((l) => /Verified the package's SHA-512/.test(l)));

  // installed → ready for the session factory: 'cuda' and 'auto' pick it
  const statusOpts = { binDir, libraryDirs: [libs] };
  assert.equal(providerStatuses(statusOpts).find((s) => s.name === 'cuda')!.ready, true);
  assert.equal(resolveProvider('cuda', statusOpts), 'cuda');

  // again: nothing fetched
  const before = seen.length;
  const again = await installCudaProvider({ index: `${base}/good/v3/index.json`, version: VERSION, binDir, cacheDir: join(root, 'cache1'), anyPlatform: true, check: { extraDirs: [libs], ...noSystem } });
  assert.equal(again.installed, false);
  assert.equal(seen.length, before, 'no request for an installed version');
});

test('a package whose SHA-512 is not the published one installs nothing and is deleted', async () => {
  const binDir = join(root, 'bin2');
  const cacheDir = join(root, 'cache2');
  await assert.rejects(
    installCudaProvider({ index: `${base}/bad/v3/index.json`, version: VERSION, binDir, cacheDir, anyPlatform: true, check: noSystem }),
    (e: MagicPortraitError) => e.code === 'hash-mismatch' && /SHA-512/.test(e.message) && /nothing was installed/.test(e.message),
  );
  assert.ok(!existsSync(binDir) || readdirSync(binDir).length === 0, 'nothing in the binary folder');
  assert.ok(!existsSync(join(cacheDir, `${ID}.${VERSION}.nupkg`)));
});

test('a version NuGet does not publish is named in the error', async () => {
  await assert.rejects(
    installCudaProvider({ index: `${base}/good/v3/index.json`, version: '9.9.9', binDir: join(root, 'bin3'), cacheDir: join(root, 'cache3'), anyPlatform: true, check: noSystem }),
    (e: MagicPortraitError) => e.code === 'not-found' && e.message.includes('9.9.9') && e.message.includes(CUDA_PACKAGE),
  );
});

test('CUDA / cuDNN check: found through LD_LIBRARY_PATH or the ld.so cache, missing ones named, off-path ones located', () => {
  const onPath = fakeCudaLibs(join(root, 'ld-path'), ['libcudnn.so.9', 'libcublasLt.so.12']);
  const cudaHome = fakeCudaLibs(join(root, 'usr-local-cuda'), ['libcudnn.so.9']);
  // a versioned file behind the soname link gives the full version
  writeFileSync(join(root, 'libcudart.so.12.4.127'), '');
  rmSync(join(onPath, 'libcudart.so.12'));
  symlinkSync(join(root, 'libcudart.so.12.4.127'), join(onPath, 'libcudart.so.12'));
  const ldconfig = `1 libs found in cache \`/etc/ld.so.cache'\n\tlibcublasLt.so.12 (libc6,x86-64) => ${join(cudaHome, 'libcublasLt.so.12')}\n\tlibfoo.so.1 (libc6,x86-64) => /usr/lib/libfoo.so.1\n`;
  assert.equal(parseLdconfig(ldconfig).get('libcublasLt.so.12'), join(cudaHome, 'libcublasLt.so.12'));
  const c = checkCudaLibraries({ ldLibraryPath: onPath, ldconfig, hintDirs: [cudaHome, join(root, 'nowhere')] });
  assert.equal(c.ok, false);
  assert.deepEqual(c.missing, ['libcudnn.so.9']);
  assert.deepEqual(c.offPath, []);
  assert.equal(c.found.find((f) => f.soname === 'libcudart.so.12')!.version, '4.127');
  assert.equal(c.found.find((f) => f.soname === 'libcublasLt.so.12')!.path, join(cudaHome, 'libcublasLt.so.12'));
  const text = describeCudaCheck(c);
  assert.match(text, /CUDA 12\.x and cuDNN 9\.x/);
  assert.match(text, /MISSING libcudnn\.so\.9 +cuDNN 9/);

  // present only in a CUDA folder the loader does not search: say which folder to add
  const hidden = fakeCudaLibs(join(root, 'cuda-hidden'));
  const c2 = checkCudaLibraries({ ldLibraryPath: '', ldconfig: '', hintDirs: [hidden] });
  assert.equal(c2.found.length, 0);
  assert.equal(c2.offPath.length, CUDA_LIBRARIES.length);
  assert.match(describeCudaCheck(c2), new RegExp(`present in ${hidden.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, which the loader does not search: add it to LD_LIBRARY_PATH`));
  assert.match(describeCudaCheck(c2), /No NVIDIA driver/);
});

test('the session factory refuses CUDA clearly while its libraries are missing, and names the install command', () => {
  const binDir = join(root, 'bin-empty');
  mkdirSync(binDir, { recursive: true });
  const cuda = providerStatuses({ binDir }).find((s) => s.name === 'cuda')!;
  if (!cuda.built) return assert.match(cuda.detail, /only in the Linux x64 binary/);
  assert.equal(cuda.ready, false);
  assert.throws(() => resolveProvider('cuda', { binDir }), (e: MagicPortraitError) => e.code === 'provider-unavailable' && /Install CUDA Runtime/.test(e.message) && /runtime install-cuda/.test(e.message) && /Available here: cpu/.test(e.message));
  assert.equal(resolveProvider('auto', { binDir }), process.platform === 'win32' ? 'dml' : process.platform === 'darwin' ? 'coreml' : 'cpu');
});

/**
 * Installs ONNX Runtime's CUDA provider libraries for exactly the bundled onnxruntime-node version (Linux x64).
 *
 * Source: the NuGet package ONNX Runtime publishes for its Linux GPU build, `Microsoft.ML.OnnxRuntime.Gpu.Linux`,
 * version = onnxruntime-node's own version — where onnxruntime-node's install script fetches the same files from
 * (`script/install-metadata.js`: `runtimes/linux-x64/native/libonnxruntime_providers_{cuda,shared}.so`); our
 * offline `npm ci` skips that script (`.npmrc`: onnxruntime-node-install=skip).
 *
 *   1. NuGet v3 service index → the registration and package-content resources;
 *   2. the version's registration leaf → its catalog entry, which publishes the package's size and hash
 *      (`packageHash`, SHA-512, base64) — the hash nuget.org computed for the package it serves;
 *   3. the .nupkg through the download helper (models/download.ts: resumable `.part`, redirects, size check), then
 *      its SHA-512 against the published one (a mismatch deletes it);
 *   4. the two libraries are inflated from the zip to temporary names in onnxruntime-node's binary folder (where
 *      the runtime loads provider plug-ins from: the folder of libonnxruntime.so) and renamed into place, the
 *      marker `magicportrait-cuda.json` (version, package hash, file SHA-256s) last.
 * Then NVIDIA's CUDA 12 / cuDNN 9 libraries are checked (cuda-runtime.ts) and reported.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflateRaw } from 'node:zlib';
import { MagicPortraitError } from '../errors';
import { openFileSource } from '../io/source';
import { ZipReader } from '../io/zip';
import { downloadFile, type DownloadProgress } from '../io/download';
import { CUDA_PROVIDER_LIBRARIES, type CudaLibraryCheck, checkCudaLibraries, describeCudaCheck, ortBinaryDir } from './cuda-runtime';
import { cacheDir as cacheFolder } from '../settings';

export const NUGET_INDEX = 'https://api.nuget.org/v3/index.json';
export const CUDA_PACKAGE = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
export const CUDA_MARKER = 'magicportrait-cuda.json';

/** The onnxruntime-node version installed beside this code. */
export function bundledOrtVersion(): string {
  return (JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
}

export interface InstallCudaOptions {
  /** NuGet v3 service index (tests: a local server). */
  index?: string;
  /** Package version (default: onnxruntime-node's). */
  version?: string;
  /** Where the libraries go (default: onnxruntime-node's binary folder for linux-x64). */
  binDir?: string;
  /** Where the .nupkg is downloaded and kept for resuming (default ~/.cache/magicportrait/ort-cuda). */
  cacheDir?: string;
  /** Keep the verified .nupkg after installing (default false). */
  keepPackage?: boolean;
  /** Install even on a platform other than linux-x64 (tests). */
  anyPlatform?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (line: string) => void;
  /** Options of the CUDA library check that follows (tests). */
  check?: Parameters<typeof checkCudaLibraries>[0];
}

export interface InstallCudaResult {
  version: string;
  package: string;
  packageUrl: string;
  packageSha512: string;
  files: { name: string; path: string; bytes: number; sha256: string }[];
  /** The NVIDIA libraries the provider needs, as found on this machine. */
  cuda: CudaLibraryCheck;
  /** false when the files were already installed for this version (nothing downloaded). */
  installed: boolean;
}

interface Marker {
  package: string;
  version: string;
  packageSha512: string;
  files: { name: string; bytes: number; sha256: string }[];
}

function getJson(url: string, signal?: AbortSignal, hops = 0): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const get = u.protocol === 'https:' ? httpsGet : u.protocol === 'http:' ? httpGet : null;
    if (!get) return reject(new MagicPortraitError(`Cannot fetch ${url}: only http and https are supported.`, 'bad-url'));
    const req = get(u, { headers: { 'user-agent': 'magicportrait-studio', accept: 'application/json' }, signal }, (res) => {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location && hops < 10) {
        res.resume();
        return resolve(getJson(new URL(res.headers.location, u).href, signal, hops + 1));
      }
      if (status !== 200) {
        res.resume();
        return reject(new MagicPortraitError(status === 404 ? `Not found (HTTP 404): ${url}` : `${url}: HTTP ${status}`, status === 404 ? 'not-found' : 'download-failed'));
      }
      // NuGet's compressed registration hives are served with Content-Encoding: gzip whatever the request says
      const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
      const chunks: Buffer[] = [];
      body.on('data', (c: Buffer) => chunks.push(c));
      body.on('error', (e) => reject(new MagicPortraitError(`${url}: ${(e as Error).message}`, 'download-failed')));
      body.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new MagicPortraitError(`${url} did not return JSON: ${(e as Error).message}`, 'download-failed'));
        }
      });
    });
    req.on('error', (e) => reject(signal?.aborted ? e : new MagicPortraitError(`Could not connect to ${url}: ${e.message}`, 'download-failed')));
  });
}

interface Resolved {
  packageUrl: string;
  sha512Base64: string;
  bytes: number;
}

/** Finds the package's download URL and its published size and SHA-512 through the NuGet v3 API. */
export async function resolveNugetPackage(index: string, id: string, version: string, signal?: AbortSignal): Promise<Resolved> {
  const idx = (await getJson(index, signal)) as { resources?: { '@id': string; '@type': string }[] };
  const res = idx.resources ?? [];
  const find = (...types: string[]) => types.map((t) => res.find((r) => r['@type'] === t)?.['@id']).find(Boolean);
  const reg = find('RegistrationsBaseUrl/3.6.0', 'RegistrationsBaseUrl/3.4.0', 'RegistrationsBaseUrl');
  const flat = find('PackageBaseAddress/3.0.0');
  if (!reg || !flat) throw new MagicPortraitError(`${index} is not a NuGet v3 service index (no RegistrationsBaseUrl / PackageBaseAddress).`, 'download-failed');
  const lid = id.toLowerCase();
  const lver = version.toLowerCase();
  const slash = (u: string) => (u.endsWith('/') ? u : `${u}/`);
  let leaf: { catalogEntry?: string | { '@id': string }; packageContent?: string };
  try {
    leaf = (await getJson(`${slash(reg)}${lid}/${lver}.json`, signal)) as typeof leaf;
  } catch (e) {
    if (e instanceof MagicPortraitError && e.code === 'not-found')
      throw new MagicPortraitError(`${id} ${version} is not published on ${index} (onnxruntime-node ${version} needs exactly this version).`, 'not-found');
    throw e;
  }
  const catalogUrl = typeof leaf.catalogEntry === 'string' ? leaf.catalogEntry : leaf.catalogEntry?.['@id'];
  if (!catalogUrl) throw new MagicPortraitError(`${id} ${version}: the registration leaf names no catalog entry.`, 'download-failed');
  const cat = (await getJson(catalogUrl, signal)) as { id?: string; version?: string; packageHash?: string; packageHashAlgorithm?: string; packageSize?: number };
  if (cat.id?.toLowerCase() !== lid || cat.version?.toLowerCase() !== lver)
    throw new MagicPortraitError(`${catalogUrl} describes ${cat.id} ${cat.version}, not ${id} ${version}.`, 'download-failed');
  if (cat.packageHashAlgorithm?.toUpperCase() !== 'SHA512' || !cat.packageHash || !/^[A-Za-z0-9+/]{86}==$/.test(cat.packageHash))
    throw new MagicPortraitError(`${catalogUrl} publishes no SHA-512 package hash (got ${cat.packageHashAlgorithm ?? 'none'}): refusing to install unverified binaries.`, 'download-failed');
  const packageUrl = leaf.packageContent ?? `${slash(flat)}${lid}/${lver}/${lid}.${lver}.nupkg`;
  return { packageUrl, sha512Base64: cat.packageHash, bytes: Number(cat.packageSize) || 0 };
}

async function fileDigest(path: string, algorithm: 'sha256' | 'sha512', encoding: 'hex' | 'base64'): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(path), h);
  return h.digest(encoding);
}

function readMarker(binDir: string): Marker | null {
  try {
    return JSON.parse(readFileSync(join(binDir, CUDA_MARKER), 'utf8')) as Marker;
  } catch {
    return null;
  }
}

/** The installed provider libraries for `version`, when the marker and the files agree (sizes). */
export function installedCuda(binDir: string, version: string): Marker | null {
  const m = readMarker(binDir);
  if (!m || m.version !== version) return null;
  for (const name of CUDA_PROVIDER_LIBRARIES) {
    const f = m.files.find((x) => x.name === name);
    if (!f || !existsSync(join(binDir, name)) || statSync(join(binDir, name)).size !== f.bytes) return null;
  }
  return m;
}

/**
 * Downloads, verifies and installs the CUDA provider libraries; see the module comment. Idempotent: when the marker
 * says this version is installed (and the files match it), nothing is fetched. The NVIDIA library check runs either
 * way and is returned (a missing CUDA / cuDNN is reported, not thrown: the provider files are still correct).
 */
export async function installCudaProvider(o: InstallCudaOptions = {}): Promise<InstallCudaResult> {
  const log = o.log ?? (() => {});
  if (!o.anyPlatform && `${process.platform}-${process.arch}` !== 'linux-x64')
    throw new MagicPortraitError(
      `onnxruntime-node's CUDA provider exists for Linux x64 only (this is ${process.platform}-${process.arch}). ` +
        (process.platform === 'win32' ? "On Windows choose the 'dml' (DirectML) execution provider." : process.platform === 'darwin' ? "On macOS choose 'coreml'." : "Use the 'cpu' provider here."),
      'unsupported-platform',
    );
  const version = o.version ?? bundledOrtVersion();
  const binDir = o.binDir ?? ortBinaryDir('linux', 'x64');
  const check = () => checkCudaLibraries({ binDir, ...o.check });
  const have = installedCuda(binDir, version);
  if (have) {
    log(`The CUDA provider libraries for ONNX Runtime ${version} are already installed in ${binDir}.`);
    const cuda = check();
    log(describeCudaCheck(cuda));
    return { version, package: have.package, packageUrl: '', packageSha512: have.packageSha512, files: have.files.map((f) => ({ ...f, path: join(binDir, f.name) })), cuda, installed: false };
  }
  const index = o.index ?? NUGET_INDEX;
  log(`Looking up ${CUDA_PACKAGE} ${version} on ${index} …`);
  const pkg = await resolveNugetPackage(index, CUDA_PACKAGE, version, o.signal);
  const cacheDir = o.cacheDir ?? cacheFolder('ort-cuda');
  const nupkg = join(cacheDir, `${CUDA_PACKAGE.toLowerCase()}.${version}.nupkg`);
  if (existsSync(nupkg) && (await fileDigest(nupkg, 'sha512', 'base64')) !== pkg.sha512Base64) rmSync(nupkg, { force: true });
  if (!existsSync(nupkg)) {
    log(`Downloading ${pkg.packageUrl}${pkg.bytes ? ` (${(pkg.bytes / 1024 ** 2).toFixed(0)} MiB)` : ''} …`);
    await downloadFile(pkg.packageUrl, nupkg, { bytes: pkg.bytes || undefined, signal: o.signal, onProgress: o.onProgress });
  }
  const sha512 = await fileDigest(nupkg, 'sha512', 'base64');
  if (sha512 !== pkg.sha512Base64) {
    rmSync(nupkg, { force: true });
    throw new MagicPortraitError(`${pkg.packageUrl}: SHA-512 ${sha512} does not match the published ${pkg.sha512Base64}. The file was deleted; nothing was installed.`, 'hash-mismatch');
  }
  log(`Verified the package's SHA-512 against the one NuGet publishes.`);

  // extract to temporary names beside the targets, then rename: a reader never sees half a library
  try {
    mkdirSync(binDir, { recursive: true });
    accessSync(binDir, constants.W_OK);
  } catch (e) {
    throw new MagicPortraitError(`Cannot write the CUDA provider into ${binDir} (where ONNX Runtime loads it from): ${(e as Error).message}. The verified package is kept in ${nupkg}.`, 'write-failed');
  }
  const src = await openFileSource(nupkg);
  const staged: { tmp: string; final: string; name: string }[] = [];
  const files: InstallCudaResult['files'] = [];
  try {
    const zip = await ZipReader.open(src);
    for (const name of CUDA_PROVIDER_LIBRARIES) {
      const entryName = `runtimes/linux-x64/native/${name}`;
      const e = zip.get(entryName);
      if (!e) throw new MagicPortraitError(`${nupkg} has no ${entryName}: not the ONNX Runtime GPU package this version expects.`, 'bad-file');
      if (e.method !== 0 && e.method !== 8) throw new MagicPortraitError(`${nupkg}: ${entryName} uses zip method ${e.method}.`, 'bad-file');
      const start = await zip.dataOffset(e);
      const tmp = join(binDir, `.${name}.${randomBytes(4).toString('hex')}.partial`);
      staged.push({ tmp, final: join(binDir, name), name });
      const raw = createReadStream(nupkg, { start, end: start + e.compressedSize - 1 });
      const hash = createHash('sha256');
      const out = createWriteStream(tmp, { mode: 0o755 });
      let bytes = 0;
      const body = e.method === 8 ? raw.pipe(createInflateRaw()) : raw;
      body.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      await pipeline(body, out);
      if (bytes !== e.size) throw new MagicPortraitError(`${nupkg}: ${entryName} inflated to ${bytes} bytes, the zip says ${e.size}.`, 'bad-file');
      files.push({ name, path: join(binDir, name), bytes, sha256: hash.digest('hex') });
    }
  } catch (e) {
    for (const s of staged) rmSync(s.tmp, { force: true });
    throw e;
  } finally {
    await src.close();
  }
  rmSync(join(binDir, CUDA_MARKER), { force: true });
  for (const s of staged) renameSync(s.tmp, s.final);
  const marker: Marker = { package: CUDA_PACKAGE, version, packageSha512: sha512, files: files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })) };
  const mtmp = join(binDir, `.${CUDA_MARKER}.${randomBytes(4).toString('hex')}`);
  writeFileSync(mtmp, JSON.stringify(marker, null, 2) + '\n');
  renameSync(mtmp, join(binDir, CUDA_MARKER));
  if (!o.keepPackage) rmSync(nupkg, { force: true });
  for (const f of files) log(`Installed ${f.path} (${f.bytes} bytes, SHA-256 ${f.sha256})`);
  const cuda = check();
  log(describeCudaCheck(cuda));
  return { version, package: CUDA_PACKAGE, packageUrl: pkg.packageUrl, packageSha512: sha512, files, cuda, installed: true };
}

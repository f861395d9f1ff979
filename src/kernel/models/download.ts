/**
 * Download helper for users with internet access: fetches the public MagicPortrait files from the model hub the
 * MagicPortrait README names (`mengtingwei/MagicPortrait`, laid out as its `./pre_trained` folder; reference-pipeline.md
 * §8.1) with resume, redirects and SHA-256 verification. node:http/https only. Nothing here runs unless the user asks
 * (`magicportrait models download`); the extension itself never downloads at run time.
 *
 * Resume: bytes go to `<file>.part` (with `<file>.part.json` remembering the URL and the server's validator); a later
 * run asks for the rest with `Range` + `If-Range`, and starts over when the server answers 200 (Range ignored or the
 * file changed). The finished file is hashed and only then renamed into place, so a final path always holds a
 * complete, verified file.
 *
 * Hashes: no SHA-256 is written into the catalogue unless it is known for certain (none is, today). Instead the hub's
 * own published hash is used: for LFS files, the `resolve` URL's redirect carries `X-Linked-Etag` (the LFS oid, the
 * file's SHA-256) and `X-Linked-Size`. Small git files (configs, tokenizer) have no published SHA-256; they are checked
 * against their Content-Length and their computed SHA-256 is reported.
 *
 * FLAME and DECA are licence-gated (MPI non-commercial terms that each user must accept): the helper never fetches them
 * and prints the licence notice and the registration pages instead.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync, createReadStream } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';

// ------------------------------------------------------------------------------------------------------------------
// Catalogue

export const HUB_REPO = 'mengtingwei/MagicPortrait';
export const HUB_BASE = `https://huggingface.co/${HUB_REPO}/resolve/main`;

/** One file to fetch. `candidates` are hub paths tried in order (404 → next), as the diffusers loaders prefer
 *  safetensors and fall back to .bin; the file keeps its hub path under the target folder. */
export interface CatalogueFile {
  candidates: string[];
  /** Exact size in bytes, only when known for certain (otherwise the hub's X-Linked-Size / Content-Length). */
  bytes?: number;
  /** Lower-case hex SHA-256, only when known for certain (otherwise the hub's X-Linked-Etag at download time). */
  sha256?: string;
}

export interface CatalogueEntry {
  /** `--only` name. */
  name: string;
  what: string;
  files: CatalogueFile[];
}

/** A file the helper refuses to fetch: the user must register and accept the licence. */
export interface GatedEntry {
  name: string;
  what: string;
  /** Where the reference expects the files. */
  files: string[];
  licence: string;
  register: string[];
}

const sd = (p: string) => `stable-diffusion-v1-5/${p}`;
const st = (base: string): string[] => [`${base}.safetensors`, `${base}.bin`];

/** The public files the importer needs (`magicportrait import`), in the hub's layout. */
export const PUBLIC_FILES: readonly CatalogueEntry[] = [
  { name: 'denoising-unet', what: 'MagicPortrait denoising UNet state dict (ckpts/denoising_unet.pth)', files: [{ candidates: ['ckpts/denoising_unet.pth'] }] },
  { name: 'reference-unet', what: 'MagicPortrait reference UNet state dict (ckpts/reference_unet.pth)', files: [{ candidates: ['ckpts/reference_unet.pth'] }] },
  {
    name: 'guidance-encoders',
    what: 'MagicPortrait geometric guidance encoders (depth, normal, render)',
    files: ['depth', 'normal', 'render'].map((t) => ({ candidates: [`ckpts/guidance_encoder_${t}.pth`] })),
  },
  { name: 'motion-module', what: 'AnimateDiff motion module (ckpts/motion_module-47360.pth)', files: [{ candidates: ['ckpts/motion_module-47360.pth'] }] },
  {
    name: 'sd15-unet',
    what: 'Stable Diffusion 1.5 UNet (config + weights)',
    files: [{ candidates: [sd('unet/config.json')] }, { candidates: st(sd('unet/diffusion_pytorch_model')) }],
  },
  {
    name: 'sd15-text-encoder',
    what: 'Stable Diffusion 1.5 CLIP text encoder and tokenizer (for the fixed prompt embedding)',
    files: [
      { candidates: [sd('text_encoder/config.json')] },
      { candidates: [sd('text_encoder/model.safetensors'), sd('text_encoder/pytorch_model.bin')] },
      { candidates: [sd('tokenizer/vocab.json')] },
      { candidates: [sd('tokenizer/merges.txt')] },
    ],
  },
  {
    name: 'vae',
    what: 'sd-vae-ft-mse VAE (config + weights)',
    files: [{ candidates: ['sd-vae-ft-mse/config.json'] }, { candidates: st('sd-vae-ft-mse/diffusion_pytorch_model') }],
  },
];

const MPI_TERMS =
  'released by the Max Planck Institute for Intelligent Systems under a non-commercial licence that each user has to ' +
  'read and accept personally (registration required). MagicPortrait Studio never downloads them for you.';

export const GATED_FILES: readonly GatedEntry[] = [
  {
    name: 'flame',
    what: 'FLAME 2020 head model and texture space',
    files: ['decalib/data/generic_model.pkl', 'decalib/data/FLAME_texture.npz'],
    licence: `FLAME is ${MPI_TERMS}`,
    register: ['https://flame.is.tue.mpg.de'],
  },
  {
    name: 'deca',
    what: 'DECA model and data files',
    files: ['decalib/data/deca_model.tar', 'decalib/data/landmark_embedding.npy', 'decalib/data/head_template.obj'],
    licence: `DECA is ${MPI_TERMS}`,
    register: ['https://deca.is.tue.mpg.de', 'https://github.com/yfeng95/DECA'],
  },
];

/** The licence notice printed whenever a gated entry is asked for (and by `--list`). */
export function licenceNotice(entries: readonly GatedEntry[] = GATED_FILES): string {
  const lines = ['Licence-gated files (not downloaded automatically):'];
  for (const g of entries) {
    lines.push(`  ${g.name}: ${g.what}`, `    ${g.licence}`, `    Register and download at: ${g.register.join(' , ')}`, `    Files (in the reference's layout): ${g.files.join(', ')}`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------------------------
// One file

export interface DownloadProgress {
  url: string;
  dest: string;
  /** Bytes of the file on disk so far (including a resumed part). */
  received: number;
  /** Expected total, when known. */
  total?: number;
  /** Bytes that were already there when this transfer started. */
  resumedFrom: number;
}

export interface DownloadFileOptions {
  /** Expected size in bytes (else X-Linked-Size, else Content-Length / Content-Range). */
  bytes?: number;
  /** Expected SHA-256 (else the hub's X-Linked-Etag when it is a SHA-256). */
  sha256?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Automatic resumes after a dropped connection (default 2). */
  retries?: number;
  /** Redirects followed per request (default 10). */
  maxRedirects?: number;
}

export interface DownloadResult {
  dest: string;
  bytes: number;
  sha256: string;
  /** What the file was checked against: a published SHA-256, or only its size. */
  verified: 'sha256' | 'size';
  /** Bytes that came from an earlier interrupted run. */
  resumedFrom: number;
  /** Bytes received over the network by this call. */
  transferred: number;
}

interface PartMeta {
  url: string;
  /** Strong ETag or Last-Modified of the final response: the If-Range validator. */
  validator?: string;
  total?: number;
  linkedSha256?: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

class Interrupted extends Error {}

function request(url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<http.IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!mod) return Promise.reject(new MagicPortraitError(`Cannot download ${url.href}: only http and https URLs are supported.`, 'bad-url'));
  return new Promise((res, rej) => {
    const req = mod.request(url, { method: 'GET', headers: { 'user-agent': 'magicportrait-studio', 'accept-encoding': 'identity', ...headers }, signal }, res);
    req.on('error', rej);
    req.end();
  });
}

interface Opened {
  res: http.IncomingMessage;
  url: URL;
  linkedSha256?: string;
  linkedSize?: number;
}

/** GET with redirects followed by hand (hubs redirect LFS files to a CDN), collecting the hub's X-Linked-* headers. */
async function openFollowing(start: string, headers: Record<string, string>, o: DownloadFileOptions): Promise<Opened> {
  let url = new URL(start);
  let linkedSha256: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; ; hop++) {
    const res = await request(url, headers, o.signal);
    const etag = String(res.headers['x-linked-etag'] ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
    if (SHA256_RE.test(etag)) linkedSha256 = etag;
    const size = Number(res.headers['x-linked-size']);
    if (Number.isSafeInteger(size) && size > 0) linkedSize = size;
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      if (hop >= (o.maxRedirects ?? 10)) throw new MagicPortraitError(`Too many redirects downloading ${start}.`, 'download-failed');
      url = new URL(res.headers.location, url);
      continue;
    }
    return { res, url, linkedSha256, linkedSize };
  }
}

function hashFile(path: string, h: Hash): Promise<void> {
  return new Promise((res, rej) => createReadStream(path).on('data', (d) => h.update(d)).on('end', () => res()).on('error', rej));
}

function readMeta(path: string): PartMeta | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PartMeta;
  } catch {
    return null;
  }
}

function dropPart(part: string, meta: string): void {
  rmSync(part, { force: true });
  rmSync(meta, { force: true });
}

/**
 * Downloads `url` to `dest` (resuming `<dest>.part`), verifies size and SHA-256, then renames it into place.
 * Errors: 404 and other HTTP failures, size or hash mismatches (the part file is deleted: it can never become right),
 * dropped connections after the retries (the part file is kept for the next run); cancelling via `signal` throws
 * CancelledError and keeps the part file.
 */
export async function downloadFile(url: string, dest: string, o: DownloadFileOptions = {}): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const metaPath = `${dest}.part.json`;
  mkdirSync(dirname(dest), { recursive: true });
  let transferred = 0;
  let firstResumedFrom: number | null = null;
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw new CancelledError('download');
    let meta = readMeta(metaPath);
    if (meta && meta.url !== url) {
      dropPart(part, metaPath);
      meta = null;
    }
    const have = existsSync(part) ? statSync(part).size : 0;
    const headers: Record<string, string> = {};
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      if (meta?.validator) headers['if-range'] = meta.validator;
    }
    let opened: Opened;
    try {
      opened = await openFollowing(url, headers, o);
    } catch (e) {
      if (o.signal?.aborted) throw new CancelledError('download');
      if (e instanceof MagicPortraitError) throw e;
      throw new MagicPortraitError(`Could not connect to download ${url}: ${(e as Error).message}`, 'download-failed');
    }
    const { res } = opened;
    const status = res.statusCode ?? 0;
    if (status === 416 && have > 0 && meta?.total === have) {
      // the part is already complete (an earlier run stopped before verifying)
      res.resume();
    } else if (status !== 200 && status !== 206) {
      res.resume();
      if (status === 416) {
        dropPart(part, metaPath);
        if (attempt < 1) continue;
      }
      throw new MagicPortraitError(
        status === 404 ? `Not found (HTTP 404): ${opened.url.href}` : `Download of ${opened.url.href} failed: HTTP ${status} ${res.statusMessage ?? ''}`.trim(),
        status === 404 ? 'not-found' : 'download-failed',
      );
    }

    // where this response's bytes go
    let offset = have;
    let total: number | undefined;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== have) {
        // a range we did not ask for: start over
        res.destroy();
        dropPart(part, metaPath);
        if (attempt < 1) continue;
        throw new MagicPortraitError(`Download of ${url} failed: the server answered an unexpected range (${res.headers['content-range'] ?? 'none'}).`, 'download-failed');
      }
      total = m[3] === '*' ? undefined : Number(m[3]);
    } else if (status === 200) {
      offset = 0; // Range ignored, or If-Range said the file changed: start over
      const len = Number(res.headers['content-length']);
      total = Number.isSafeInteger(len) ? len : undefined;
    } else total = have;
    total ??= opened.linkedSize;
    const validatorHeader = String(res.headers.etag ?? '');
    const validator = validatorHeader && !validatorHeader.startsWith('W/') ? validatorHeader : (res.headers['last-modified'] as string | undefined);
    writeFileSync(metaPath, JSON.stringify({ url, validator, total, linkedSha256: opened.linkedSha256 ?? meta?.linkedSha256 } satisfies PartMeta));
    firstResumedFrom ??= offset;

    const hash = createHash('sha256');
    if (offset > 0) await hashFile(part, hash);
    const fd = openSync(part, offset > 0 ? 'a' : 'w');
    let received = offset;
    try {
      if (status !== 416)
        await new Promise<void>((done, fail) => {
          const onAbort = () => res.destroy(new CancelledError('download'));
          o.signal?.addEventListener('abort', onAbort, { once: true });
          res.on('data', (chunk: Buffer) => {
            writeSync(fd, chunk);
            hash.update(chunk);
            received += chunk.length;
            transferred += chunk.length;
            o.onProgress?.({ url, dest, received, total, resumedFrom: firstResumedFrom! });
          });
          res.on('error', (e) => fail(e));
          res.on('close', () => {
            o.signal?.removeEventListener('abort', onAbort);
            if (o.signal?.aborted) fail(new CancelledError('download'));
            else if (!res.complete) fail(new Interrupted(`connection closed after ${received} bytes`));
            else done();
          });
        });
    } catch (e) {
      closeSync(fd);
      if (o.signal?.aborted || e instanceof CancelledError) throw new CancelledError('download');
      if (attempt < (o.retries ?? 2)) continue;
      throw new MagicPortraitError(
        `Download of ${url} was interrupted (${(e as Error).message}). ${received} bytes are kept in ${part}; run the download again to resume.`,
        'interrupted',
      );
    }
    const onDisk = fstatSync(fd).size;
    closeSync(fd);

    // verify, then move into place
    const expectBytes = o.bytes ?? opened.linkedSize ?? total;
    if (expectBytes !== undefined && onDisk !== expectBytes) {
      dropPart(part, metaPath);
      throw new MagicPortraitError(`Download of ${url}: got ${onDisk} bytes, expected ${expectBytes}. The partial file was deleted; run again to retry.`, 'size-mismatch');
    }
    const sha256 = hash.digest('hex');
    const expectSha = o.sha256?.toLowerCase() ?? opened.linkedSha256 ?? meta?.linkedSha256;
    if (expectSha && sha256 !== expectSha) {
      dropPart(part, metaPath);
      throw new MagicPortraitError(`Download of ${url}: SHA-256 ${sha256} does not match the published ${expectSha}. The file was deleted; run again to retry.`, 'hash-mismatch');
    }
    renameSync(part, dest);
    rmSync(metaPath, { force: true });
    return { dest, bytes: onDisk, sha256, verified: expectSha ? 'sha256' : 'size', resumedFrom: firstResumedFrom ?? 0, transferred };
  }
}

// ------------------------------------------------------------------------------------------------------------------
// The catalogue

export interface DownloadModelsOptions {
  /** `--only` names; default every public entry. Naming a licence-gated entry throws with the notice. */
  only?: string[];
  /** Base URL the catalogue paths are relative to (default HUB_BASE). */
  baseUrl?: string;
  catalogue?: readonly CatalogueEntry[];
  gated?: readonly GatedEntry[];
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (line: string) => void;
  retries?: number;
}

export interface ModelsDownloadReport {
  files: (DownloadResult & { status: 'downloaded' | 'present' })[];
}

/** Entries to fetch for `only`; a gated or unknown name is a MagicPortraitError (the gated one carries the notice). */
export function selectEntries(only: string[] | undefined, catalogue: readonly CatalogueEntry[] = PUBLIC_FILES, gated: readonly GatedEntry[] = GATED_FILES): CatalogueEntry[] {
  if (!only?.length) return [...catalogue];
  const gatedAsked = gated.filter((g) => only.includes(g.name));
  if (gatedAsked.length) throw new MagicPortraitError(`${gatedAsked.map((g) => g.name).join(', ')} cannot be downloaded automatically.\n${licenceNotice(gatedAsked)}`, 'licence-required');
  const unknown = only.filter((n) => !catalogue.some((c) => c.name === n));
  if (unknown.length)
    throw new MagicPortraitError(`Unknown model file set '${unknown.join(', ')}'. Known: ${catalogue.map((c) => c.name).join(', ')} (licence-gated: ${gated.map((g) => g.name).join(', ')}).`, 'bad-argument');
  return catalogue.filter((c) => only.includes(c.name));
}

/**
 * Fetches the selected public files into `to` (hub layout). A file already in place is kept (and re-hashed only when
 * the catalogue states its SHA-256). Each file's candidates are tried in order; a 404 moves to the next.
 */
export async function downloadModels(to: string, o: DownloadModelsOptions = {}): Promise<ModelsDownloadReport> {
  const root = resolve(to);
  const base = (o.baseUrl ?? HUB_BASE).replace(/\/$/, '');
  const entries = selectEntries(o.only, o.catalogue ?? PUBLIC_FILES, o.gated ?? GATED_FILES);
  const report: ModelsDownloadReport = { files: [] };
  for (const entry of entries) {
    o.log?.(`${entry.name}: ${entry.what}`);
    for (const file of entry.files) {
      const present = file.candidates.map((c) => join(root, c)).find((p) => existsSync(p));
      if (present) {
        const size = statSync(present).size;
        let sha256 = '';
        if (file.sha256) {
          const h = createHash('sha256');
          await hashFile(present, h);
          sha256 = h.digest('hex');
          if (sha256 !== file.sha256) throw new MagicPortraitError(`${present} exists but its SHA-256 ${sha256} is not the catalogue's ${file.sha256}; delete it to download it again.`, 'hash-mismatch');
        }
        o.log?.(`  ${present}: already present (${size} bytes)`);
        report.files.push({ dest: present, bytes: size, sha256, verified: file.sha256 ? 'sha256' : 'size', resumedFrom: 0, transferred: 0, status: 'present' });
        continue;
      }
      let lastError: MagicPortraitError | null = null;
      for (const c of file.candidates) {
        try {
          const r = await downloadFile(`${base}/${c}`, join(root, c), { bytes: file.bytes, sha256: file.sha256, signal: o.signal, onProgress: o.onProgress, retries: o.retries });
          o.log?.(`  ${r.dest}: ${r.bytes} bytes, SHA-256 ${r.sha256} (${r.verified === 'sha256' ? 'verified against the published hash' : 'size checked; no published SHA-256'})`);
          report.files.push({ ...r, status: 'downloaded' });
          lastError = null;
          break;
        } catch (e) {
          if (e instanceof MagicPortraitError && e.code === 'not-found') {
            lastError = e;
            continue;
          }
          throw e;
        }
      }
      if (lastError)
        throw new MagicPortraitError(`None of ${file.candidates.join(', ')} was found at ${base} (${lastError.message}).`, 'not-found');
    }
  }
  return report;
}

/** The `magicportrait import` folders for a download into `to` (the hub layout). */
export function importPathsFor(to: string): { sd15Dir: string; vaeDir: string; motionModule: string; ckptDir: string } {
  const root = resolve(to);
  return { sd15Dir: join(root, 'stable-diffusion-v1-5'), vaeDir: join(root, 'sd-vae-ft-mse'), motionModule: join(root, 'ckpts', 'motion_module-47360.pth'), ckptDir: join(root, 'ckpts') };
}

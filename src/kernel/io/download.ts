/**
 * Downloads one file over HTTP(S) with resume, redirects, retries and SHA-256 / size verification (node:http/https
 * only). Used by the model download helper (models/download.ts) and the CUDA runtime installer (onnx/install-cuda.ts).
 *
 * Resume: bytes go to `<file>.part` (with `<file>.part.json` remembering the URL and the server's validator); a later
 * run asks for the rest with `Range` + `If-Range`, and starts over when the server answers 200 (Range ignored or the
 * file changed). The finished file is hashed and only then renamed into place, so a final path always holds a
 * complete, verified file.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync, createReadStream } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { dirname } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';

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

/** Feeds a file's bytes into a running hash. */
export function hashFile(path: string, h: Hash): Promise<void> {
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

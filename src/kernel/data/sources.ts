/**
 * What `prepare-data --videos DIR` prepares: every video file (mp4, mov, webm, mkv) and every folder of frame images
 * (jpg, jpeg, png, in natural name order; a folder with no videos and no subfolders) under DIR, each one clip, in a fixed order (sorted relative paths)
 * so that shards on different machines agree. Folders that hold neither are reported, not fatal. Also the frame
 * streams of both kinds, and the content hash that identifies a source.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, sep } from 'node:path';
import { MagicPortraitError } from '../errors';
import { readImage, type Image } from '../io/image';
import { probeVideo, readFrames, type VideoFrame } from '../io/video';
import { clipIdFromName } from './layout';

export const VIDEO_EXTENSIONS = ['.mp4', '.mov', '.webm', '.mkv'];
export const FRAME_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

export interface Source {
  kind: 'video' | 'frames';
  /** Absolute path (a file, or a folder of frames). */
  path: string;
  /** Path relative to the --videos folder (what meta.json records). */
  rel: string;
  /** Clip id (from rel; unique within the run). */
  clip: string;
}

export interface EmptyFolder {
  path: string;
  rel: string;
}

const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare;

function frameFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => !f.startsWith('.') && FRAME_EXTENSIONS.includes(extname(f).toLowerCase()) && statSync(join(dir, f)).isFile()).sort(natural);
}

/** The clips under `root` (see the file header) and the folders that held nothing to prepare. */
export function listSources(root: string): { sources: Source[]; empty: EmptyFolder[] } {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new MagicPortraitError(`--videos ${root} is not a folder`, 'bad-argument');
  const sources: Omit<Source, 'clip'>[] = [];
  const empty: EmptyFolder[] = [];
  // A folder of images (and no videos) is one clip; in a folder with videos the videos are the clips and loose images
  // beside them (e.g. portraits) are not prepared.
  const walk = (dir: string): number => {
    const names = readdirSync(dir).filter((n) => !n.startsWith('.')).sort(natural);
    const rel = relative(root, dir).split(sep).join('/');
    const videos = names.filter((n) => VIDEO_EXTENSIONS.includes(extname(n).toLowerCase()) && statSync(join(dir, n)).isFile());
    const subdirs = names.filter((n) => statSync(join(dir, n)).isDirectory());
    if (!videos.length && !subdirs.length && frameFiles(dir).length) {
      sources.push({ kind: 'frames', path: dir, rel: rel || basename(dir) });
      return 1;
    }
    let found = 0;
    for (const n of videos) {
      sources.push({ kind: 'video', path: join(dir, n), rel: relative(root, join(dir, n)).split(sep).join('/') });
      found++;
    }
    for (const n of subdirs) {
      const k = walk(join(dir, n));
      if (k === 0) empty.push({ path: join(dir, n), rel: relative(root, join(dir, n)).split(sep).join('/') });
      found += k;
    }
    return found;
  };
  walk(root);
  sources.sort((a, b) => natural(a.rel, b.rel));
  const used = new Set<string>();
  const withIds = sources.map((s) => {
    const stem = s.kind === 'video' ? s.rel.slice(0, -extname(s.rel).length) : s.rel;
    const base = clipIdFromName(stem.split('/').join('__'));
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}_${k}`;
    used.add(id);
    return { ...s, clip: id };
  });
  return { sources: withIds, empty };
}

/** SHA-256 of a video file, or of a frame folder (names and contents, in order). */
export async function sourceHash(s: Source): Promise<string> {
  const h = createHash('sha256');
  const add = (p: string) => new Promise<void>((resolve, reject) => {
    createReadStream(p).on('data', (d) => h.update(d)).on('end', () => resolve()).on('error', reject);
  });
  try {
    if (s.kind === 'video') await add(s.path);
    else for (const f of frameFiles(s.path)) {
      h.update(`${f}\0`);
      await add(join(s.path, f));
    }
  } catch (e) {
    throw new MagicPortraitError(`Cannot read ${s.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'bad-file');
  }
  return h.digest('hex');
}

export interface SourceInfo {
  frames: number;
  fps: number;
  width: number;
  height: number;
}

/** Frame count (estimated from the header when the file is damaged), rate and size (a frame folder: its first image's
 * size, 25 fps unless given). */
export function probeSource(s: Source, folderFps = 25): SourceInfo {
  if (s.kind === 'video') {
    let v: ReturnType<typeof probeVideo>;
    try {
      v = probeVideo(s.path);
    } catch {
      // a damaged file whose packets cannot all be read may still decode in part: its header gives rate and size
      v = probeVideo(s.path, { countFrames: false });
    }
    return { frames: v.frameCount, fps: v.fps, width: v.width, height: v.height };
  }
  const files = frameFiles(s.path);
  const first = readImage(join(s.path, files[0]!));
  return { frames: files.length, fps: folderFps, width: first.width, height: first.height };
}

/**
 * The frames of a source, streamed. Reading problems are reported through `onError` instead of being thrown: a video
 * that fails to decode ends the stream there (`ended`: the frames before it are still prepared); an unreadable image
 * of a frame folder, or one of another size than the first, is skipped (its index is reported).
 */
export async function* sourceFrames(s: Source, maxFrames: number, onError: (message: string, frame: number, ended: boolean) => void): AsyncGenerator<VideoFrame> {
  let n = 0;
  if (s.kind === 'video') {
    try {
      const onDecodeErrors = (message: string, decoded: number) => onError(`ffmpeg reported decoding errors after ${decoded} frame(s) (a truncated or damaged file?): ${message}`, decoded, true);
      for await (const f of readFrames(s.path, { maxFrames, onDecodeErrors })) {
        n++;
        yield f;
      }
    } catch (e) {
      if (!(e instanceof MagicPortraitError) || e.code === 'cancelled') throw e;
      onError(e.message, n, true);
    }
    return;
  }
  const files = frameFiles(s.path).slice(0, maxFrames);
  let size: [number, number] | null = null;
  for (let i = 0; i < files.length; i++) {
    let image: Image;
    try {
      image = readImage(join(s.path, files[i]!));
    } catch (e) {
      onError((e as Error).message, i, false);
      continue;
    }
    if (size && (image.width !== size[0] || image.height !== size[1])) {
      onError(`${files[i]} is ${image.width}×${image.height}, the first frame ${size[0]}×${size[1]}`, i, false);
      continue;
    }
    size ??= [image.width, image.height];
    yield { index: i, image };
  }
}

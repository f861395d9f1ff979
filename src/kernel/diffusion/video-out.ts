/**
 * H.264 MP4 output of the sampler, and the video display value (MIME.video).
 *
 * Encoding goes through `src/kernel/io/video.ts` (`writeVideo`: yuv420p, +faststart, streamed from a frame iterator)
 * when that module is present. TEMPORARY: until it lands on main, a minimal equivalent (same flags) spawns ffmpeg
 * from the same places; delete `fallbackWriteVideo` then.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { MagicPortraitError } from '../errors';
import type { ArtifactRef, ArtifactStore } from '../runtime/artifacts';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import type { RgbImage } from '../runtime/frames';
import { MIME, type MimeBundle } from '../runtime/protocol';
import { asRgb } from './image-ops';

type Frames = AsyncIterable<RgbImage> | Iterable<RgbImage>;
type WriteVideo = (path: string, frames: Frames, options: { fps: number; crf?: number; preset?: string }) => Promise<number>;

let writer: WriteVideo | null = null;

async function videoWriter(): Promise<WriteVideo> {
  if (writer) return writer;
  try {
    const mod = './../io/video';
    const m = (await import(mod)) as { writeVideo?: WriteVideo };
    if (typeof m.writeVideo === 'function') return (writer = m.writeVideo);
  } catch {
    /* io/video.ts not on this branch yet */
  }
  return (writer = fallbackWriteVideo);
}

/** Encodes frames to an H.264 yuv420p +faststart MP4 at `path`. Returns the frame count. */
export async function encodeMp4(path: string, frames: Frames, fps: number): Promise<number> {
  return (await videoWriter())(path, frames, { fps, crf: 18, preset: 'medium' });
}

function findFfmpeg(): string {
  const env = process.env.MAGICPORTRAIT_FFMPEG;
  const ok = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (env && ok(env)) return env;
  try {
    const req = createRequire(__filename);
    const dir = join(req.resolve(`@ffmpeg-installer/${process.platform}-${process.arch}/package.json`), '..');
    const p = join(dir, process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg');
    if (existsSync(p) && ok(p)) return p;
  } catch {
    /* not installed */
  }
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d && ok(join(d, 'ffmpeg'))) return join(d, 'ffmpeg');
  throw new MagicPortraitError('ffmpeg was not found (set magicportrait.ffmpegPath or MAGICPORTRAIT_FFMPEG).', 'no-ffmpeg');
}

async function fallbackWriteVideo(path: string, frames: Frames, o: { fps: number; crf?: number; preset?: string }): Promise<number> {
  let proc: ReturnType<typeof spawn> | undefined;
  let closed: Promise<number | null> | undefined;
  let stderr = '';
  let w = 0;
  let h = 0;
  let count = 0;
  try {
    for await (const f0 of frames as AsyncIterable<RgbImage>) {
      const f = asRgb(f0);
      if (!proc) {
        [w, h] = [f.width, f.height];
        const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-r', String(o.fps), '-i', 'pipe:0'];
        if (w % 2 || h % 2) args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2');
        args.push('-c:v', 'libx264', '-preset', o.preset ?? 'medium', '-crf', String(o.crf ?? 18), '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-an', '-f', 'mp4', path);
        const p = spawn(findFfmpeg(), args, { stdio: ['pipe', 'ignore', 'pipe'] });
        proc = p;
        p.stderr!.setEncoding('utf8');
        p.stderr!.on('data', (d: string) => void (stderr.length < 8192 && (stderr += d)));
        p.stdin!.on('error', () => undefined);
        closed = new Promise((res) => {
          p.on('close', (c) => res(c));
          p.on('error', () => res(-1));
        });
      } else if (f.width !== w || f.height !== h) throw new MagicPortraitError(`Video frame ${count} is ${f.width}×${f.height}, the first was ${w}×${h}.`, 'bad-argument');
      const stdin = proc.stdin!;
      if (!stdin.write(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength)))
        await Promise.race([new Promise((r) => stdin.once('drain', r)), closed]);
      count++;
    }
  } catch (e) {
    proc?.kill('SIGKILL');
    throw e;
  }
  if (!proc || !count) throw new MagicPortraitError('No frames to encode.', 'bad-argument');
  proc.stdin!.end();
  const code = await closed!;
  if (code !== 0) throw new MagicPortraitError(`Encoding ${path} failed: ${stderr.trim().split('\n').slice(-2).join(' | ') || `ffmpeg exit ${code}`}`, 'encode-failed');
  return count;
}

export interface VideoInfo {
  title: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** e.g. 'untrained demo weights'. */
  label?: string;
}

/** An MP4 in the artifact store, displayable as the video renderer's MIME type. */
export class VideoOutput implements Displayable {
  constructor(
    readonly ref: ArtifactRef,
    readonly info: VideoInfo,
    private readonly store: ArtifactStore,
  ) {}

  /** The MP4 file (inside the artifact store). */
  get path(): string {
    return this.store.path(this.ref);
  }

  [DISPLAY](ctx: DisplayContext): MimeBundle {
    // content-addressed: putting into another store (another notebook) is a copy, into the same one a no-op
    const ref = ctx.artifacts.dir === this.store.dir ? this.ref : ctx.artifacts.put(readFileSync(this.path), 'mp4', 'video/mp4');
    const i = this.info;
    return {
      [MIME.video]: { title: i.title, video: ref, width: i.width, height: i.height, fps: i.fps, frames: i.frames, ...(i.label ? { label: i.label } : {}) },
      'text/plain': `${i.title}${i.label ? ` (${i.label})` : ''}: ${i.frames} frames ${i.width}×${i.height} at ${i.fps} fps (H.264 MP4, ${(this.ref.size / 1024).toFixed(0)} KiB)`,
    };
  }
}

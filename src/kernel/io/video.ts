/**
 * Video through ffmpeg: probe, streamed RGB frame decoding (an async iterator with backpressure: only a few frames
 * are ever in memory), and H.264 (yuv420p, +faststart) MP4 encoding from a frame iterator.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { MagicPortraitError } from '../errors';
import { locateFfmpeg } from './ffmpeg';
import type { Image } from './image';

export interface VideoInfo {
  width: number;
  height: number;
  /** Frame rate; for a variable-frame-rate video, the typical rate (1 / median frame interval) it is read at. */
  fps: number;
  /** Exact count of video frames (from the container packets, without decoding); for a variable-frame-rate video,
   * the frames it is read as at `fps` (from the real timestamps). */
  frameCount: number;
  /** Seconds, from the container (0 when unknown). */
  duration: number;
  codec: string;
  /** Variable frame rate (frame intervals differ): frames are read at `fps` by their real timestamps. */
  vfr?: boolean;
  /** The file ends before its index says (a cut download or copy): what is there, and what should be. */
  truncated?: { frames: number; seconds: number; expectedSeconds: number; message: string };
}

/** Packet timestamps of the first video stream (no decoding), memoised per file version. */
interface VideoScan {
  /** Presentation times in seconds, sorted. */
  pts: number[];
  /** When the last frame ends (its presentation time plus its duration; NaN when the packets carry no duration). */
  end: number;
  /** ffmpeg reported damaged or missing data while reading the packets. */
  damaged: boolean;
  hasAudio: boolean;
}

const scans = new Map<string, { scan: VideoScan; stderr: string; status: number | null }>();

function scanPackets(path: string, ff: string): { scan: VideoScan; stderr: string; status: number | null } {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  const hit = scans.get(key);
  if (hit) return hit;
  const r = spawnSync(ff, ['-hide_banner', '-nostdin', '-i', path, '-map', '0:v:0', '-c', 'copy', '-f', 'framecrc', '-'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const err = r.stderr ?? '';
  const tb = /#tb 0: (\d+)\/(\d+)/.exec(r.stdout ?? '');
  const unit = tb ? Number(tb[1]) / Number(tb[2]) : 0;
  const pts: number[] = [];
  let end = NaN;
  for (const line of (r.stdout ?? '').split('\n')) {
    if (!line || line[0] === '#') continue;
    const f = line.split(',');
    const p = Number(f[2]), d = Number(f[3]);
    if (f.length >= 5 && Number.isFinite(p)) {
      pts.push(p * unit);
      if (d > 0) end = Number.isFinite(end) ? Math.max(end, (p + d) * unit) : (p + d) * unit;
    }
  }
  pts.sort((a, b) => a - b);
  const scan: VideoScan = {
    pts, end, damaged: /corrupt|partial file|truncat|Invalid data|error reading|End of file/i.test(err.replace(/^.*Press \[q\].*$/m, '')),
    hasAudio: /Stream #\d+:\d+[^:]*: Audio:/.test(err),
  };
  const out = { scan, stderr: err, status: r.status };
  if (scans.size > 64) scans.clear();
  scans.set(key, out);
  return out;
}

function median(a: number[]): number {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

function checkFile(path: string): void {
  if (!existsSync(path) || !statSync(path).isFile())
    throw new MagicPortraitError(`Video file not found: ${path}`, 'bad-file');
}

function lastLines(text: string, n = 3): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

export interface ProbeOptions {
  /**
   * Count the frames exactly by reading every packet (no decoding; default true). Without it only the header is
   * read and `frameCount` is estimated from duration × fps.
   */
  countFrames?: boolean;
}

/** Reads size, frame rate, codec and the frame count of the first video stream. */
export function probeVideo(path: string, options: ProbeOptions = {}): VideoInfo {
  checkFile(path);
  const ff = locateFfmpeg().path;
  const count = options.countFrames ?? true;
  let err: string, status: number | null, scan: VideoScan | null = null;
  if (count) ({ scan, stderr: err, status } = scanPackets(path, ff));
  else {
    const r = spawnSync(ff, ['-hide_banner', '-nostdin', '-i', path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    err = r.stderr ?? '';
    status = r.status;
  }
  const stream = /Stream #\d+:\d+[^:]*: Video: ([^\n]+)/.exec(err);
  // Without an output, ffmpeg exits 1 after printing the stream list: only a missing stream is an error then. With the
  // packet scan, errors after some packets mean a damaged or truncated file whose first frames still decode (reported
  // as `truncated` below); only a file with no readable packet at all is unreadable.
  const unreadable = count ? scan!.pts.length === 0 && (status !== 0 || /Invalid data found|moov atom not found/.test(err)) : /Invalid data found|moov atom not found/.test(err);
  if (!stream || unreadable)
    throw new MagicPortraitError(
      `${basename(path)} is not a readable video${stream ? '' : ' (no video stream)'}: ${lastLines(err) || `ffmpeg exit ${status}`}`,
      'bad-video',
    );
  const desc = stream[1]!;
  const codec = desc.split(/[ ,]/)[0] ?? 'unknown';
  const size = /,\s*(\d{2,5})x(\d{2,5})/.exec(desc);
  const fpsM = /([\d.]+)\s*fps/.exec(desc) ?? /([\d.]+)\s*tbr/.exec(desc);
  if (!size) throw new MagicPortraitError(`${basename(path)}: could not read the video size from ffmpeg.`, 'bad-video');
  let width = Number(size[1]);
  let height = Number(size[2]);
  // Rotated phone videos: ffmpeg auto-rotates when decoding, so report the displayed size.
  const rot = /rotate\s*:\s*(-?\d+)/.exec(err) ?? /rotation of (-?[\d.]+) degrees/.exec(err);
  if (rot && Math.abs(Math.round(Number(rot[1])) % 180) === 90) [width, height] = [height, width];
  const dur = /Duration: (\d+):(\d+):([\d.]+)/.exec(err);
  const duration = dur ? Number(dur[1]) * 3600 + Number(dur[2]) * 60 + Number(dur[3]) : 0;
  const counted = scan ? scan.pts.length : 0;
  let fps = fpsM ? Number(fpsM[1]) : duration > 0 && counted > 0 ? counted / duration : 25;
  let frameCount = count ? counted : Math.round(duration * fps);
  const info: VideoInfo = { width, height, fps, frameCount, duration, codec };
  if (scan && scan.pts.length >= 3) {
    const pts = scan.pts;
    const gaps: number[] = [];
    for (let i = 1; i < pts.length; i++) gaps.push(pts[i]! - pts[i - 1]!);
    const typical = median(gaps);
    if (typical > 0) {
      // variable frame rate: intervals that differ from the typical one by more than a quarter, beyond timestamp rounding
      const odd = gaps.filter((g) => Math.abs(g - typical) > 0.25 * typical).length;
      const end = Number.isFinite(scan.end) && scan.end > pts[pts.length - 1]! ? scan.end : pts[pts.length - 1]! + typical;
      if (odd > Math.max(1, 0.02 * gaps.length)) {
        info.vfr = true;
        fps = info.fps = Math.round(1000 / typical) / 1000;
        frameCount = info.frameCount = Math.max(1, Math.round((end - pts[0]!) * fps));
      }
      // cut short: the packets stop well before the index's duration (with damage reported, or no other stream that
      // could make the container longer than the video)
      const shortBy = duration - end;
      if (duration > 0 && shortBy > 2 * typical && shortBy > 0.04 * duration && (scan.damaged || !scan.hasAudio)) {
        const expected = Math.round(duration * (info.vfr ? fps : fps));
        info.truncated = {
          frames: frameCount, seconds: end, expectedSeconds: duration,
          message: `${basename(path)} is truncated: its index says ${duration.toFixed(2)} s (about ${expected} frames) but the data ends at ${end.toFixed(2)} s; only the first ${frameCount} frames can be read (the file was probably cut short while downloading or copying).`,
        };
      }
    }
  }
  return info;
}

export interface ReadFramesOptions {
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Scale every frame to this size (ffmpeg bilinear) instead of the native size. */
  width?: number;
  height?: number;
  /** Keep only every n-th frame (1 = all). Frame indices in the result still count the original frames. */
  step?: number;
  /** Told about problems with the file that do not stop reading (a truncated file: which frames are missing). */
  onWarning?: (message: string) => void;
  /**
   * Called once at the end when ffmpeg exited normally but reported decoding errors (e.g. a truncated file: ffmpeg
   * decodes what it can and exits 0), with its last error lines and the number of frames decoded.
   */
  onDecodeErrors?: (message: string, framesDecoded: number) => void;
}

export interface VideoFrame {
  /** Index of the frame in the video (0-based, counting every decoded frame). */
  index: number;
  image: Image;
}

/**
 * Decodes a video into RGB frames, one at a time. The ffmpeg pipe is only read when the consumer asks for the next
 * frame, so a long video is never held in memory. Breaking out of the loop stops ffmpeg.
 */
export async function* readFrames(path: string, options: ReadFramesOptions = {}): AsyncGenerator<VideoFrame> {
  // the packet scan (timestamps, no decoding; once per file) finds variable frame rates and truncated files
  const info = probeVideo(path, { countFrames: true });
  if (info.truncated) options.onWarning?.(info.truncated.message);
  const width = options.width ?? info.width;
  const height = options.height ?? info.height;
  const step = Math.max(1, Math.floor(options.step ?? 1));
  const max = options.maxFrames ?? Infinity;
  if (max <= 0) return;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-map', '0:v:0'];
  const filters: string[] = [];
  // a variable-frame-rate video is sampled at its typical rate by the real timestamps (frames held where it is slower)
  if (info.vfr) filters.push(`fps=${info.fps}`);
  if (width !== info.width || height !== info.height) filters.push(`scale=${width}:${height}:flags=bilinear`);
  if (filters.length) args.push('-vf', filters.join(','));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-vsync', '0', 'pipe:1');
  const proc = spawn(locateFfmpeg().path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    if (stderr.length < 16384) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => proc.on('error', resolve));
  const frameBytes = width * height * 3;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  let index = 0;
  let yielded = 0;
  let finished = false;
  try {
    for await (const chunk of proc.stdout! as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        frame.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          if (index % step === 0) {
            yield { index, image: { width, height, channels: 3, data: frame } };
            if (++yielded >= max) {
              finished = true;
              return;
            }
            frame = new Uint8Array(frameBytes);
          }
          index++;
          filled = 0;
        }
      }
    }
    finished = true;
    const code = await Promise.race([exited, spawnError.then((e) => e)]);
    if (code instanceof Error) throw new MagicPortraitError(`Could not start ffmpeg: ${code.message}`, 'no-ffmpeg');
    if (code !== 0 || (index === 0 && info.duration > 0))
      throw new MagicPortraitError(
        `Decoding ${basename(path)} failed after ${index} frame(s): ${lastLines(stderr) || `ffmpeg exit ${code}`}`,
        'bad-video',
      );
    if (stderr.trim() && options.onDecodeErrors) options.onDecodeErrors(lastLines(stderr), index);
  } finally {
    if (!finished || proc.exitCode === null) stop(proc);
  }
}

function stop(proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

export interface WriteVideoOptions {
  fps: number;
  /** x264 constant rate factor (default 18, visually lossless). */
  crf?: number;
  /** x264 preset (default 'medium'). */
  preset?: string;
}

type FrameSource = AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>;

/**
 * Encodes frames (all the same size, RGB or RGBA) as H.264 yuv420p MP4 with +faststart (plays in VS Code and
 * browsers). Odd sizes are padded by one pixel. Returns the number of frames written.
 */
export async function writeVideo(path: string, frames: FrameSource, options: WriteVideoOptions): Promise<number> {
  if (!(options.fps > 0)) throw new MagicPortraitError(`writeVideo: fps must be positive, got ${options.fps}`, 'bad-argument');
  let proc: ChildProcess | undefined;
  let exited: Promise<number | null> | undefined;
  let stderr = '';
  let w = 0;
  let h = 0;
  let count = 0;
  let rgb: Uint8Array | undefined;
  try {
    for await (const item of frames as AsyncIterable<Image | VideoFrame>) {
      const img = 'image' in item ? item.image : item;
      if (!proc) {
        w = img.width;
        h = img.height;
        rgb = new Uint8Array(w * h * 3);
        const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24'];
        args.push('-s', `${w}x${h}`, '-r', String(options.fps), '-i', 'pipe:0');
        if (w % 2 || h % 2) args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2');
        args.push('-c:v', 'libx264', '-preset', options.preset ?? 'medium', '-crf', String(options.crf ?? 18));
        args.push('-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-an', path);
        proc = spawn(locateFfmpeg().path, args, { stdio: ['pipe', 'ignore', 'pipe'] });
        proc.stderr!.setEncoding('utf8');
        proc.stderr!.on('data', (d: string) => {
          if (stderr.length < 16384) stderr += d;
        });
        proc.stdin!.on('error', () => undefined); // reported through the exit code
        const p = proc;
        exited = new Promise((resolve) => {
          p.on('close', (code) => resolve(code));
          p.on('error', () => resolve(-1));
        });
      } else if (img.width !== w || img.height !== h)
        throw new MagicPortraitError(`writeVideo: frame ${count} is ${img.width}×${img.height}, the first was ${w}×${h}.`, 'bad-argument');
      let buf: Uint8Array;
      if (img.channels === 3) buf = img.data.slice();
      else {
        const n = w * h;
        for (let i = 0; i < n; i++) {
          rgb![i * 3] = img.data[i * 4]!;
          rgb![i * 3 + 1] = img.data[i * 4 + 1]!;
          rgb![i * 3 + 2] = img.data[i * 4 + 2]!;
        }
        buf = rgb!.slice();
      }
      const stdin = proc.stdin!;
      if (!stdin.write(buf)) {
        const ok = await Promise.race([
          new Promise<boolean>((r) => stdin.once('drain', () => r(true))),
          exited!.then(() => false),
        ]);
        if (!ok) break;
      }
      count++;
    }
  } catch (e) {
    if (proc) stop(proc);
    throw e;
  }
  if (!proc || count === 0) throw new MagicPortraitError(`writeVideo: no frames to write to ${basename(path)}.`, 'bad-argument');
  proc.stdin!.end();
  const code = await exited!;
  if (code !== 0)
    throw new MagicPortraitError(`Encoding ${basename(path)} failed: ${lastLines(stderr) || `ffmpeg exit ${code}`}`, 'encode-failed');
  return count;
}

/**
 * Locates the ffmpeg binary. The one place that knows where ffmpeg comes from; video.ts spawns it.
 *
 * Order: an explicit path (setting) or MAGICPORTRAIT_FFMPEG, then `ffmpeg-static` (if installed and its binary
 * exists), then the binary inside `@ffmpeg-installer/ffmpeg`, then `ffmpeg` on PATH.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { MagicPortraitError } from '../errors';

export interface FfmpegLocation {
  path: string;
  source: 'setting' | 'env' | 'ffmpeg-static' | '@ffmpeg-installer/ffmpeg' | 'PATH';
}

let explicitPath: string | undefined;
let cached: FfmpegLocation | undefined;

/** Sets (or clears, with undefined) the ffmpeg path chosen by the user, e.g. from the extension settings. */
export function setFfmpegPath(path: string | undefined): void {
  explicitPath = path || undefined;
  cached = undefined;
}

const req = createRequire(__filename);

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function fromFfmpegStatic(): string | undefined {
  try {
    const p = req('ffmpeg-static') as unknown;
    const path = typeof p === 'string' ? p : (p as { path?: string } | null)?.path;
    return path && isExecutable(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

function fromInstaller(): string | undefined {
  try {
    // Resolve the platform package directly: requiring @ffmpeg-installer/ffmpeg throws on unsupported platforms.
    const platformPkg = `@ffmpeg-installer/${process.platform}-${process.arch}`;
    const dir = join(req.resolve(`${platformPkg}/package.json`), '..');
    const path = join(dir, process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg');
    if (isExecutable(path)) return path;
  } catch {
    /* fall through */
  }
  try {
    const p = (req('@ffmpeg-installer/ffmpeg') as { path?: string }).path;
    return p && isExecutable(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

function fromPath(): string | undefined {
  const names = process.platform === 'win32' ? ['ffmpeg.exe', 'ffmpeg'] : ['ffmpeg'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const n of names) {
      const p = join(dir, n);
      if (isExecutable(p)) return p;
    }
  }
  return undefined;
}

/** Finds ffmpeg or throws a MagicPortraitError that says how to provide one. */
export function locateFfmpeg(): FfmpegLocation {
  if (cached) return cached;
  const check = (path: string, source: FfmpegLocation['source']): FfmpegLocation => {
    if (!existsSync(path) || !isExecutable(path))
      throw new MagicPortraitError(
        `ffmpeg was configured (${source === 'env' ? 'MAGICPORTRAIT_FFMPEG' : 'setting magicportrait.ffmpegPath'}) as ${path}, but that is not an executable file.`,
        'no-ffmpeg',
      );
    return { path, source };
  };
  if (explicitPath) return (cached = check(explicitPath, 'setting'));
  const env = process.env.MAGICPORTRAIT_FFMPEG;
  if (env) return (cached = check(env, 'env'));
  let p = fromFfmpegStatic();
  if (p) return (cached = { path: p, source: 'ffmpeg-static' });
  p = fromInstaller();
  if (p) return (cached = { path: p, source: '@ffmpeg-installer/ffmpeg' });
  p = fromPath();
  if (p) return (cached = { path: p, source: 'PATH' });
  throw new MagicPortraitError(
    'ffmpeg was not found: set magicportrait.ffmpegPath (or the MAGICPORTRAIT_FFMPEG environment variable) to an ffmpeg binary, ' +
      'or install ffmpeg so that it is on PATH.',
    'no-ffmpeg',
  );
}

/** Forgets the cached location (tests, or after the environment changed). */
export function resetFfmpegLocation(): void {
  cached = undefined;
}

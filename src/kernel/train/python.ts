/**
 * The Python that runs the trainer (`python -m training …`): MAGICPORTRAIT_PYTHON (the extension's
 * `magicportrait.pythonPath` setting), else the first of `python3`, `/usr/bin/python3` that imports torch, numpy and
 * Pillow. A missing interpreter or package is a MagicPortraitError saying what to install. The trainer's package is
 * found beside the code: `training/` in the repository or the installed extension.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { ENV } from '../settings';

export interface PythonInfo {
  path: string;
  version: string;
  torch: string;
}

const PROBE = 'import sys, torch, numpy, PIL; print(sys.version.split()[0], torch.__version__)';
const found = new Map<string, PythonInfo>();

/** Checks one interpreter: its version and torch's, or why it cannot run the trainer. */
export function probePython(path: string): PythonInfo | { path: string; error: string } {
  const r = spawnSync(path, ['-c', PROBE], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { path, error: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message };
  if (r.status !== 0) {
    const missing = /No module named '([^']+)'/.exec(r.stderr)?.[1];
    return { path, error: missing ? `has no '${missing}' module` : r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}` };
  }
  const [version, torch] = r.stdout.trim().split(/\s+/);
  return { path, version: version ?? '?', torch: torch ?? '?' };
}

/** The trainer's Python (see the module comment); cached per process. */
export function findPython(explicit = process.env[ENV.python]): PythonInfo {
  const candidates = explicit ? [explicit] : ['python3', '/usr/bin/python3'];
  const key = candidates.join('\0');
  const hit = found.get(key);
  if (hit) return hit;
  const tried: string[] = [];
  for (const c of candidates) {
    const p = probePython(c);
    if ('error' in p) {
      tried.push(`${c}: ${p.error}`);
      continue;
    }
    found.set(key, p);
    return p;
  }
  throw new MagicPortraitError(
    `No Python with PyTorch to run the trainer (${tried.join('; ')}). Install Python 3 with torch ≥ 1.13, numpy and Pillow ` +
      `(Debian: apt-get install python3-torch python3-numpy python3-pil) and, if it is not ${candidates.join(' or ')}, point ` +
      `the magicportrait.pythonPath setting (MAGICPORTRAIT_PYTHON for the CLI) at it.`,
    'missing-python',
  );
}

/** The folder holding the trainer's `training/` package (MAGICPORTRAIT_TRAINER_ROOT, else found above this module). */
export function trainerRoot(): string {
  const env = process.env.MAGICPORTRAIT_TRAINER_ROOT;
  if (env) return resolve(env);
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, 'training', '__main__.py')) && existsSync(join(d, 'training', 'cli.py'))) return d;
    if (dirname(d) === d) break;
  }
  throw new MagicPortraitError(`The trainer (training/__main__.py) was not found above ${start}; set MAGICPORTRAIT_TRAINER_ROOT to the folder that holds it.`, 'missing-file');
}

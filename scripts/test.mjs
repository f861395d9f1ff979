#!/usr/bin/env node
// Runs the test suite with Node's built-in test runner (TypeScript through tsx).
//   node scripts/test.mjs            unit + integration + end-to-end (what CI runs)
//   node scripts/test.mjs --unit     everything except the end-to-end tests in real VS Code
//   node scripts/test.mjs --e2e      only the end-to-end tests
//   node scripts/test.mjs FILE...    just those files (test/training/*.py files run under pytest)
// The full and --unit runs first check the import rules (.dependency-cruiser.cjs, `npm run check:imports`): a
// violation fails the run, after the tests have run.
// The trainer's tests (test/training/, Python + PyTorch) run with pytest after the TypeScript tests in the full and
// --unit runs. They need a Python with torch, numpy, Pillow and pytest: MP_PYTHON, else /usr/bin/python3 (Debian's
// python3-torch python3-numpy python3-pil python3-pytest), else python3; a missing one is a failure, not a skip.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const explicit = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.test\.ts$/.test(name)) out.push(relative(root, p));
  }
  return out;
}

let files = explicit.length ? explicit.filter((f) => !f.endsWith('.py')) : [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), [])].sort();
const isE2E = (f) => f.includes('/e2e/');
if (flags.has('--unit')) files = files.filter((f) => !isE2E(f));
if (flags.has('--e2e')) files = files.filter(isE2E);
const pyTests = explicit.length ? explicit.filter((f) => f.endsWith('.py')) : flags.has('--e2e') ? [] : ['test/training'];
// End-to-end tests need a built extension: build it once up front (once scripts/build.mjs exists; the harness
// self-test in test/e2e/ does not need it). They also need code-server, playwright-core and vsce in .e2e/tools:
// installing them the first time takes minutes, so do it here rather than inside a test's timeout (a no-op later).
if (files.some(isE2E)) {
  if (existsSync(join(root, 'scripts', 'build.mjs'))) {
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) process.exit(b.status ?? 1);
  }
  const s = spawnSync('bash', ['scripts/e2e-setup.sh'], { cwd: root, stdio: 'inherit' });
  if (s.status !== 0) process.exit(s.status ?? 1);
}
// The stages cache their results by input and version, not by code: a run of the tests gets its own cache root (models
// converted, stage results) so a result cached by an earlier build can never stand in for this build's. Set
// MAGICPORTRAIT_CACHE to share one on purpose.
let ownCache = null;
if (!process.env.MAGICPORTRAIT_CACHE) process.env.MAGICPORTRAIT_CACHE = ownCache = mkdtempSync(join(tmpdir(), 'mp-test-cache-'));
let status = 0;
if (!explicit.length) status = checkImports();
if (files.length) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
    { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } },
  );
  status = r.status ?? 1;
}
if (pyTests.length) status = runPytest(pyTests) || status;
if (ownCache) rmSync(ownCache, { recursive: true, force: true });
process.exit(status);

/** The layer rules of the kernel, extension and webviews (dependency-cruiser); 1 when any is broken. */
function checkImports() {
  const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const r = spawnSync(process.execPath, [bin, 'src', 'webviews', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) console.error('Import rules broken (see above; .dependency-cruiser.cjs explains each rule).');
  return r.status === 0 ? 0 : 1;
}

/** The trainer's pytest suite; a clear failure when no Python with its packages is found. */
function runPytest(paths) {
  const candidates = process.env.MP_PYTHON ? [process.env.MP_PYTHON] : ['/usr/bin/python3', 'python3'];
  const probe = 'import torch, numpy, PIL, pytest';
  const python = candidates.find((p) => spawnSync(p, ['-c', probe], { stdio: 'ignore' }).status === 0);
  if (!python) {
    console.error(
      `\nThe trainer's tests (${paths.join(' ')}) need Python 3 with torch, numpy, Pillow and pytest; none of ${candidates.join(', ')} has them.\n` +
        'Debian/Ubuntu: apt-get install python3-torch python3-numpy python3-pil python3-pytest (or set MP_PYTHON to such an interpreter).',
    );
    return 1;
  }
  console.log(`\n# trainer tests: ${python} -m pytest ${paths.join(' ')}`);
  const r = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...paths], { cwd: root, stdio: 'inherit', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return r.status ?? 1;
}

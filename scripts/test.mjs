#!/usr/bin/env node
// Runs the test suite with Node's built-in test runner (TypeScript through tsx).
//   node scripts/test.mjs            unit + integration + end-to-end (what CI runs)
//   node scripts/test.mjs --unit     everything except the end-to-end tests in real VS Code
//   node scripts/test.mjs --e2e      only the end-to-end tests
//   node scripts/test.mjs FILE...    just those files
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

let files = explicit.length ? explicit : [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), [])].sort();
const isE2E = (f) => f.includes('/e2e/');
if (flags.has('--unit')) files = files.filter((f) => !isE2E(f));
if (flags.has('--e2e')) files = files.filter(isE2E);
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
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } },
);
process.exit(r.status ?? 1);

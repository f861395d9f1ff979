#!/usr/bin/env node
// Runs the bundled CLI (dist/cli.js, as in the packaged extension). In a source checkout where dist/ is missing or
// older than src/, it runs the TypeScript sources through tsx instead, so a stale build never runs by mistake.
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
const built = join(root, 'dist', 'cli.js');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const hasSources = existsSync(join(root, 'src', 'kernel'));
const useBuilt = existsSync(built) && (!hasSources || statSync(built).mtimeMs >= newestSource(join(root, 'src')));
let main;
if (useBuilt) ({ main } = require(built));
else {
  require('tsx/cjs');
  ({ main } = require(join(root, 'src', 'kernel', 'cli', 'main.ts')));
}
main(process.argv.slice(2)).then((code) => process.exit(code));

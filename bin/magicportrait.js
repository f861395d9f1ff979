#!/usr/bin/env node
// Runs the bundled CLI when built (dist/cli.js, as in the packaged extension), else the TypeScript sources via tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const built = join(__dirname, '..', 'dist', 'cli.js');
let main;
if (existsSync(built)) ({ main } = require(built));
else {
  require('tsx/cjs');
  ({ main } = require(join(__dirname, '..', 'src', 'kernel', 'cli', 'main.ts')));
}
main(process.argv.slice(2)).then((code) => process.exit(code));

/**
 * The packaged extension the E2E tests install: `npm run package` (production build through vscode:prepublish, then
 * vsce with the runtime dependencies, linux-x64), done once per test process.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './harness';

let vsix: string | undefined;

export function packagedExtension(): string {
  if (vsix) return vsix;
  const r = spawnSync('npm', ['run', 'package'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run package failed:\n${r.stdout}\n${r.stderr}`);
  const file = join(REPO, 'magicportrait-studio.vsix');
  if (statSync(file).size < 1e6) throw new Error(`${file} is only ${statSync(file).size} bytes`);
  return (vsix = file);
}

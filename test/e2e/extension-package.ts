/**
 * The extension the E2E tests install, built once per test process: `npm run package` (production build through
 * once, then vsce with the runtime dependencies for linux-x64 only) → the .vsix.
 *
 * In a git worktree whose node_modules is a symlink to another checkout's, vsce cannot list the dependencies
 * (`npm list --production` reports every linked package as extraneous, ELSPROBLEMS); there the same production build
 * is installed as the unpacked extension folder (the repository itself, linked by the harness), which loads the
 * same dist/ and the same node_modules.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './harness';

let built: string | undefined;

export function packagedExtension(): string {
  if (built) return built;
  if (lstatSync(join(REPO, 'node_modules')).isSymbolicLink()) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs', '--production'], { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`production build failed:\n${r.stdout}\n${r.stderr}`);
    return (built = REPO);
  }
  const r = spawnSync('npm', ['run', 'package', '--', '--target', 'linux-x64'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run package failed:\n${r.stdout}\n${r.stderr}`);
  const file = join(REPO, 'magicportrait-studio.vsix');
  if (statSync(file).size < 1e6) throw new Error(`${file} is only ${statSync(file).size} bytes`);
  return (built = file);
}

#!/usr/bin/env node
// `npm run package`: one .vsix per platform, each carrying only that platform's native binaries.
//   node scripts/package.mjs [--target linux-x64[,win32-x64…]] [--out DIR]
// Builds dist/ once (production), then for each target runs vsce with --target and an ignore file = .vscodeignore +
// that target's exclusions: the other platforms' ONNX Runtime binaries (onnxruntime-node ships all of them in
// bin/napi-v6/<platform>/<arch>/) and, off linux-x64, the linux-x64 ffmpeg that npm installed here (those packages use
// the ffmpeg on PATH or the magicportrait.ffmpegPath setting). Writes DIR/magicportrait-studio-<target>.vsix (DIR
// defaults to the repository root) and, for the machine's own platform, magicportrait-studio.vsix.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const TARGETS = {
  // what each target keeps of onnxruntime-node's bin/napi-v6 and which execution providers that binary offers
  'linux-x64': { ort: 'linux/x64', providers: 'cpu, webgpu, cuda (after Install CUDA Runtime)', ffmpeg: true },
  'linux-arm64': { ort: 'linux/arm64', providers: 'cpu', ffmpeg: false },
  'win32-x64': { ort: 'win32/x64', providers: 'cpu, dml, webgpu', ffmpeg: false },
  'darwin-arm64': { ort: 'darwin/arm64', providers: 'cpu, coreml, webgpu', ffmpeg: false },
};
const ORT_DIRS = ['darwin/arm64', 'darwin/x64', 'linux/arm64', 'linux/x64', 'win32/arm64', 'win32/x64'];

/** The .vscodeignore lines a target adds to the shared ones. */
export function targetIgnores(target) {
  const t = TARGETS[target];
  if (!t) throw new Error(`unknown target '${target}' (known: ${Object.keys(TARGETS).join(', ')})`);
  const lines = [`# ${target}: only its own ONNX Runtime binaries`];
  for (const d of ORT_DIRS) if (d !== t.ort) lines.push(`node_modules/onnxruntime-node/bin/napi-v*/${d}/**`);
  if (!t.ffmpeg) lines.push('# the ffmpeg binaries npm installed are for linux-x64', 'node_modules/@ffmpeg-installer/linux-x64/**', 'node_modules/ffmpeg-static/ffmpeg');
  return lines;
}

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function main() {
  const root = resolve(new URL('..', import.meta.url).pathname);
  const args = process.argv.slice(2);
  const get = (flag) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const targets = (get('--target') ?? Object.keys(TARGETS).join(',')).split(',').filter(Boolean);
  for (const t of targets) targetIgnores(t); // validates
  const out = resolve(get('--out') ?? root);
  process.chdir(root);
  run(process.execPath, ['scripts/build.mjs', '--production']);
  const base = readFileSync('.vscodeignore', 'utf8');
  const tmp = mkdtempSync(join(tmpdir(), 'mp-package-'));
  const vsce = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
  try {
    for (const target of targets) {
      const ignore = join(tmp, `${target}.vscodeignore`);
      writeFileSync(ignore, `${base.trimEnd()}\n${targetIgnores(target).join('\n')}\n`);
      const file = join(out, `magicportrait-studio-${target}.vsix`);
      // dist/ is built above: vscode:prepublish sees MAGICPORTRAIT_PREBUILT and does not build it again per target
      run(vsce, ['package', '--target', target, '--ignoreFile', ignore, '--allow-missing-repository', '--skip-license', '-o', file], { MAGICPORTRAIT_PREBUILT: '1' });
      if (target === `${process.platform}-${process.arch}`) copyFileSync(file, join(out, 'magicportrait-studio.vsix'));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (resolve(process.argv[1] ?? '') === resolve(new URL(import.meta.url).pathname)) main();

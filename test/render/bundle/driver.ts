// Entry bundled by sequence.test.ts with esbuild into one CJS file (plus render-worker.js) to check that the
// worker is found and used from a bundle. Prints one JSON line.
import { renderSequence } from '../../../src/kernel/render';

const faces = new Int32Array([0, 1, 2, 0, 2, 3]);
const verts = new Float32Array([-0.5, -0.5, 0, 0.5, -0.5, 0, 0.5, 0.5, 0, -0.5, 0.5, 0.1]);
const frames = Array.from({ length: 6 }, () => ({ verts, transVerts: verts }));
void renderSequence(frames, { assets: { faces }, maps: ['depth', 'mask'], width: 64, height: 64, workers: 2 }).then((r) => {
  console.log(JSON.stringify({ mode: r.mode, workers: r.workers, reason: r.reason, covered: r.frames.map((f) => f.covered) }));
});

// Entry bundled by bundle.test.ts with esbuild into one CJS file (plus preview-worker.js) to check that the preview
// worker is found and used from a bundle. Prints one JSON line: the mode and a checksum of every frame.
import { createHash } from 'node:crypto';
import { createDemoHead } from '../../../src/kernel/flame';
import { framingCamera } from '../../../src/kernel/pipeline/render-guidance';
import { renderPreviewFramesParallel, resolvePreview } from '../../../src/kernel/preview';

const model = createDemoHead();
const S = 64;
const data = new Uint8Array(S * S * 3);
for (let p = 0; p < S * S; p++) { data[3 * p] = (p * 7) % 251; data[3 * p + 1] = (p * 13) % 241; data[3 * p + 2] = (p * 3) % 239; }
const image = { width: S, height: S, channels: 3 as const, data };
const frames = [0, 0.2, -0.3].map((yaw) => {
  const pose = new Float32Array(3 * model.numJoints);
  pose[1] = yaw;
  return { expression: new Float32Array(model.numExpression), pose };
});
const r = resolvePreview({ image }, { model, shape: new Float32Array(0), frames, cam: framingCamera(model) });
void renderPreviewFramesParallel(r, image, { workers: 2 }).then((out) => {
  const sums = out.frames.map((f) => createHash('sha256').update(f.data).digest('hex').slice(0, 16));
  console.log(JSON.stringify({ mode: out.mode, reason: out.reason, sums }));
});

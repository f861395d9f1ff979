/** Tracking through the shared driving videos, and identity consistency across their frames. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, DRIVING, FACE_API, missingPackage } from './helpers';
import { createImage, readImage, type Image } from '../../src/kernel/io/image';
import { probeVideo, readFrames } from '../../src/kernel/io/video';
import { trackFaces } from '../../src/kernel/perception/track';
import { descriptorDistance, faceDescriptor } from '../../src/kernel/perception/landmarks';

test('≥ 99% of the frames of every driving video have a face (every frame checked)', async () => {
  for (const v of DRIVING) {
    const path = join(dataDir, v);
    const { frameCount } = probeVideo(path);
    let n = 0, found = 0, tracked = 0;
    for await (const r of trackFaces(readFrames(path))) {
      assert.equal(r.index, n);
      n++;
      if (r.face) found++;
      if (r.source === 'tracked') tracked++;
    }
    console.log(`# ${v}: ${found}/${n} frames with a face (${tracked} tracked from the previous frame)`);
    assert.equal(n, frameCount);
    assert.ok(found >= 0.99 * n, `${v}: ${found}/${n}`);
    assert.ok(tracked > 0.9 * n, 'the previous box is re-used');
  }
});

test('frames without a face are reported, and the face is found again afterwards', async () => {
  const boy = readImage(join(dataDir, 'magicportrait/boy_cropped.jpg'));
  const blank = createImage(boy.width, boy.height);
  blank.data.fill(90);
  const frames: Image[] = [boy, boy, blank, blank, boy];
  const out = [];
  for await (const r of trackFaces(frames, { landmarks: ['68'] })) out.push(r);
  assert.deepEqual(out.map((r) => r.source), ['detected', 'tracked', 'none', 'none', 'detected']);
  assert.deepEqual(out.map((r) => r.index), [0, 1, 2, 3, 4]);
  assert.equal(out[2]!.face, null);
  assert.equal(out[4]!.landmarks68?.points.length, 68);
});

test('identity: frames of one driving video stay close to that video\'s identity; d0 and d3 are different people', { skip: missingPackage(FACE_API) }, async () => {
  const desc: Record<string, Float32Array[]> = {};
  for (const v of DRIVING) {
    desc[v] = [];
    for await (const r of trackFaces(readFrames(join(dataDir, v), { step: 10 }), { landmarks: ['68'] }))
      if (r.landmarks68) desc[v]!.push(await faceDescriptor(r.image, r.landmarks68));
  }
  for (const v of DRIVING) {
    const d = desc[v]!;
    const mean = new Float32Array(128);
    for (const x of d) for (let k = 0; k < 128; k++) mean[k]! += x[k]! / d.length;
    const toMean = d.map((x) => descriptorDistance(x, mean));
    const pair: number[] = [];
    for (let i = 0; i < d.length; i++) for (let j = i + 1; j < d.length; j++) pair.push(descriptorDistance(d[i]!, d[j]!));
    pair.sort((a, b) => a - b);
    console.log(
      `# identity ${v}: ${d.length} frames, to identity max ${Math.max(...toMean).toFixed(3)}; pairwise median ${pair[pair.length >> 1]!.toFixed(3)}, max ${pair[pair.length - 1]!.toFixed(3)}`,
    );
    toMean.forEach((x, i) => assert.ok(x < 0.4, `${v}: sampled frame ${i * 10} is ${x.toFixed(3)} from the video's identity`));
  }
  let cross = Infinity;
  for (const a of desc['liveportrait/d0.mp4']!) for (const b of desc['liveportrait/d3.mp4']!) cross = Math.min(cross, descriptorDistance(a, b));
  console.log(`# identity d0 vs d3: min distance over all frame pairs ${cross.toFixed(3)}`);
  assert.ok(cross > 0.5, `d0 vs d3 closest pair ${cross}`);
});

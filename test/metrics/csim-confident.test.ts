// CSIM counts only confident faces: the detector "sees" faces in colour noise (what an untrained or failed generation
// looks like) at scores 0.5–0.66 with no face-mesh presence; those frames no longer count, and the coverage (frames
// with a face) is shown beside the score.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDir, missingPerception } from '../fit/helpers';
import { detectFaces } from '../../src/kernel/perception/detect';
import { readFrames, writeVideo } from '../../src/kernel/io/video';
import type { Image } from '../../src/kernel/io/image';
import { csimFrames, CSIM_MIN_DETECTION, identityEmbedding } from '../../src/kernel/metrics/identity';
import { evaluate } from '../../src/kernel/metrics/evaluate';
import { MetricsReport } from '../../src/kernel/pipeline/metrics';

const skip = missingPerception();

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Smooth colour noise (a 32×32 random grid, bilinear up to 512²): blotches like an untrained sampler's output. */
function noise(seed: number): Image {
  const r = rng(seed), S = 512, cells = 32;
  const g = Float32Array.from({ length: cells * cells * 3 }, () => r() * 255);
  const data = new Uint8Array(S * S * 3);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const gx = (x / S) * (cells - 1), gy = (y / S) * (cells - 1), x0 = Math.floor(gx), y0 = Math.floor(gy), fx = gx - x0, fy = gy - y0;
      for (let c = 0; c < 3; c++) {
        const at = (i: number, j: number) => g[(j * cells + i) * 3 + c]!;
        data[(y * S + x) * 3 + c] = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
      }
    }
  return { width: S, height: S, channels: 3, data };
}

async function realFrames(n: number): Promise<Image[]> {
  const out: Image[] = [];
  for await (const f of readFrames(join(dataDir, 'magicportrait/driving.mp4'), { maxFrames: n, step: 10 })) out.push(f.image);
  return out;
}

test('noise frames the detector takes for faces do not count for CSIM; real faces all do', { skip }, async () => {
  const noisy = Array.from({ length: 24 }, (_, i) => noise(1000 * (i + 1) + 32));
  // the detector alone (MediaPipe's 0.5 threshold) finds "faces" in several of them
  const seen = (await Promise.all(noisy.map((im) => detectFaces(im)))).filter((f) => f.length);
  assert.ok(seen.length >= 3, `${seen.length} noise frames with a detection`);
  assert.ok(seen.every((f) => f[0]!.score < CSIM_MIN_DETECTION));
  const real = await realFrames(8);
  const reference = (await realFrames(1))[0]!;
  // what CSIM used to count: any detection (its embeddings are what made noise look like the reference)
  const counted = (await Promise.all(noisy.map((im) => identityEmbedding(im, { confident: false })))).filter(Boolean).length;
  assert.equal(counted, seen.length);
  const onNoise = await csimFrames(reference, noisy);
  assert.equal(onNoise.facesFound, 0);
  assert.equal(onNoise.coverage, 0);
  assert.ok(Number.isNaN(onNoise.mean));
  const onReal = await csimFrames(reference, real);
  assert.equal(onReal.facesFound, 8);
  assert.equal(onReal.coverage, 1);
  assert.ok(onReal.mean > 0.8, `same person: ${onReal.mean}`);
});

test('metrics show the CSIM coverage beside the score: a video half faces, half noise', { skip }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mp-csim-'));
  const video = join(tmp, 'half.mp4');
  const real = await realFrames(6);
  await writeVideo(video, [...real, ...Array.from({ length: 6 }, (_, i) => noise(1000 * (i + 1) + 32))], { fps: 24, crf: 12 });
  const result = await evaluate(video, null, { mode: 'cross', reference: { video: join(dataDir, 'magicportrait/driving.mp4'), frame: 0 } });
  assert.equal(result.details.csimFacesFound, 6);
  assert.equal(result.details.csimCoverage, 0.5);
  assert.ok(result.perFrame.csim!.slice(6).every(Number.isNaN), 'noise frames are not scored');
  const text = String(new MetricsReport(result, { title: 'half' }));
  assert.match(text, /CSIM +0\.\d{4} \(faces in 6 of 12 frames, 50%\)/);
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Image } from '../../src/kernel/io/image';
import { parseEvalArgs } from '../../src/kernel/metrics/batch/cli';
import { parseManifest } from '../../src/kernel/metrics/batch/manifest';
import { runEval } from '../../src/kernel/metrics/batch/run';
import { evaluate, resultToJson, type ClipFeatureNetwork } from '../../src/kernel/metrics/evaluate';
import { frechetDistanceFromFeatures } from '../../src/kernel/metrics/frechet';
import { I3dFeatures } from '../../src/kernel/metrics/nets/i3d';
import { dataDir, decodeFrames, rng } from './helpers';
import { i3dStateDict } from './i3dWeights';

const D = (rel: string) => join(dataDir, rel);
const tmp = mkdtempSync(join(tmpdir(), 'mp-fvd-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A cheap stand-in clip network (2×2-block mean colours of each frame of the clip): the clip / pooling logic does not depend on the net. */
function blockClips(clipLength: number): ClipFeatureNetwork {
  const dim = clipLength * 12;
  return {
    name: 'clip block means (test)',
    dim,
    clipLength,
    key: `clip-blocks-${clipLength}`,
    async features(frames) {
      assert.equal(frames.length % clipLength, 0);
      const out = new Float32Array((frames.length / clipLength) * dim);
      frames.forEach((im, f) => {
        const bw = im.width / 2, bh = im.height / 2;
        for (let y = 0; y < im.height; y++)
          for (let x = 0; x < im.width; x++)
            for (let c = 0; c < 3; c++) out[f * 12 + (Math.floor(y / bh) * 2 + Math.floor(x / bw)) * 3 + c]! += im.data[(y * im.width + x) * 3 + c]! / (bw * bh * 255);
      });
      return out;
    },
  };
}

function noisy(frames: readonly Image[], amplitude: number, seed: number): Image[] {
  const r = rng(seed);
  return frames.map((im) => ({ ...im, data: im.data.map((v) => Math.min(255, Math.max(0, Math.round(v + (r() * 2 - 1) * amplitude)))) }));
}

test('FVD with the I3D network (hash weights): a video against itself ≈ 0, and it grows monotonically with noise on one side', async () => {
  const net = await I3dFeatures.fromStateDict(i3dStateDict(), 'hash weights');
  try {
    // 40 frames → two 16-frame clips per video, 8 frames left over
    const self = await evaluate(D('liveportrait/d0.mp4'), D('liveportrait/d0.mp4'), { fvd: net, maxFrames: 40, csim: false });
    assert.equal(self.details.fvdClips, 2);
    assert.match(self.details.fvdFeatures!, /I3D logits \(videogpt variant, 16-frame clips/);
    const { generated, target, dim } = self.clipFeatures!;
    assert.equal(dim, 400);
    assert.deepEqual(generated, target);
    // identical features: the exact value is 0; the eigenvalue route leaves round-off ≪ the features' total variance
    let variance = 0;
    for (let j = 0; j < dim; j++) variance += (generated[j]! - generated[dim + j]!) ** 2 / 2;
    assert.ok(Math.abs(self.summary.fvd!) <= 1e-9 * variance, `FVD(video, itself) = ${self.summary.fvd} (total variance ${variance})`);
    assert.match(self.notes.join(' '), /FVD over 2 clips of 16 frames: the last 8 frame\(s\) are not used/);
    assert.equal(JSON.stringify(resultToJson(self)).includes('clipFeatures'), false);

    // the features evaluate computed for the first 32 frames serve as the clean side
    const clean = await decodeFrames('liveportrait/d0.mp4', 32);
    const fc = generated.subarray(0, 2 * dim);
    const fvds: number[] = [];
    for (const amplitude of [4, 16, 48]) {
      const fn = await net.features(noisy(clean, amplitude, amplitude));
      fvds.push(frechetDistanceFromFeatures(fn, 2, fc, 2, dim));
    }
    assert.ok(fvds[0]! > 0 && fvds[0]! < fvds[1]! && fvds[1]! < fvds[2]!, `FVD by noise amplitude 4, 16, 48: ${fvds.join(', ')}`);
    // evaluate wires the same clips into the same Fréchet distance
    const viaEvaluate = await evaluate(noisy(clean, 16, 16), clean, { fvd: net, csim: false });
    assert.ok(Math.abs(viaEvaluate.summary.fvd! - fvds[1]!) <= 1e-9 * fvds[1]!, `${viaEvaluate.summary.fvd} vs ${fvds[1]}`);
    if (process.env.MP_TEST_VERBOSE) console.log(`FVD self ${self.summary.fvd} (variance ${variance}); noise 4/16/48: ${fvds.join(', ')}`);
  } finally {
    await net.dispose();
  }
});

test('FVD absent reasons: no weights, fewer than two clips (the single clip is still kept for pooling)', async () => {
  const frames = await decodeFrames('liveportrait/d3.mp4', 6);
  const none = await evaluate(frames, frames, { csim: false });
  assert.match(none.absent.fvd!, /^no I3D weights given \(options\.fvd: /);
  const short = await evaluate(frames, frames, { fvd: blockClips(8), csim: false });
  assert.match(short.absent.fvd!, /FVD needs at least 2 clips of 8 frames per video \(16 compared frames\), got 6 frame\(s\)$/);
  assert.equal(short.details.fvdClips, 0);
  assert.equal(short.clipFeatures, undefined);
  const one = await evaluate(frames, frames, { fvd: blockClips(4), csim: false });
  assert.match(one.absent.fvd!, /got 6 frame\(s\): the clip’s features are kept for pooling/);
  assert.equal(one.details.fvdClips, 1);
  assert.equal(one.clipFeatures!.generated.length, 48);
  assert.equal(one.summary.fvd, undefined);
});

test('FVD in a batch: per-pair clips pooled into the self aggregate; --fvd-weights and options.fvd are parsed', async () => {
  const mpath = join(tmp, 'fvd-pairs.json');
  writeFileSync(
    mpath,
    JSON.stringify({
      version: 1,
      options: { maxFrames: 6, csim: false },
      pairs: [
        { id: 'self-d0-gen-d3', mode: 'self', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d3.mp4') },
        { id: 'self-d0', mode: 'self', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d0.mp4') },
      ],
    }),
  );
  const net = blockClips(3);
  const out = join(tmp, 'fvd');
  const s = await runEval({ manifest: mpath, out, fvd: net, lpips: null, fid: null, log: () => {} });
  const t = s.table!;
  // 6 frames → 2 clips of 3 per pair: per-pair FVDs, and the aggregate over all 4 clips
  assert.ok((t.rows[0]!.values.fvd as number) > 0);
  assert.ok(Math.abs(t.rows[1]!.values.fvd as number) < 1e-9);
  const [d0, d3] = [await decodeFrames('liveportrait/d0.mp4', 6), await decodeFrames('liveportrait/d3.mp4', 6)];
  const gen = await net.features([...d3, ...d0]), tgt = await net.features([...d0, ...d0]);
  const pooled = frechetDistanceFromFeatures(gen, 4, tgt, 4, net.dim);
  assert.ok(pooled > 0.01);
  assert.ok(Math.abs((t.aggregate.self.values.fvd as number) - pooled) < 1e-9 * pooled);
  assert.match(t.aggregateNotes.join(' '), /FVD \(self\) is pooled over 4 clips of 2 pair/);
  assert.ok(existsSync(join(out, 'pairs', 'self-d0-gen-d3.fvd-features.npz')));

  const args = parseEvalArgs(['--manifest', mpath, '--fvd-weights', 'i3d_pretrained_400.pt']);
  assert.equal(args.fvd, 'i3d_pretrained_400.pt');
  assert.equal(parseEvalArgs(['--manifest', mpath, '--no-fvd']).fvd, null);
  writeFileSync(join(tmp, 'i3d.pt'), 'x');
  const m = parseManifest({ version: 1, options: { fvd: { weights: 'i3d.pt' } }, pairs: [{ id: 'a', mode: 'self', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d0.mp4') }] }, mpath);
  assert.equal(m.fvd, join(tmp, 'i3d.pt'));
});

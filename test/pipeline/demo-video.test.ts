import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { demoDrivingSequence, demoPortrait, type FlameSequence } from '../../src/kernel/pipeline/render-guidance';
import { demoDrivingVideo } from '../../src/kernel/pipeline/demo-video';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { readFrames } from '../../src/kernel/io/video';
import { psnr } from '../../src/kernel/metrics/image';

test('the demo driving video: one frame per sequence frame, a neutral frame is the demo portrait, and the MP4 holds the same frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-demo-video-'));
  setStageCache(new StageCache(join(dir, 'cache')));
  setCurrentRun(detachedContext(dir, join(dir, 'artifacts')));
  const head = createDemoHead();
  const motion = demoDrivingSequence(head, { frames: 6 });
  // Frame 0 neutral: the same head, camera and light as the portrait, so it must reproduce the portrait exactly.
  const neutral = { expression: new Float32Array(head.numExpression), pose: new Float32Array(head.numJoints * 3) };
  const seq: FlameSequence = { ...motion, frames: [neutral, ...motion.frames.slice(1)] };
  const video = await demoDrivingVideo(head, seq, { size: 128 });
  try {
    assert.equal(video.length, 6);
    assert.deepEqual(video.frames[0]!.data, (await demoPortrait(head, 128)).data);
    assert.notDeepEqual(video.frames[2]!.data, video.frames[0]!.data, 'the head moves');
    assert.ok(existsSync(video.path) && video.path.startsWith(join(dir, 'artifacts')));
    const decoded = [];
    for await (const f of readFrames(video.path)) decoded.push(f.image);
    assert.equal(decoded.length, 6);
    // H.264 at crf 18 (yuv420p) is lossy but close: every decoded frame is the frame it encoded.
    decoded.forEach((f, i) => {
      const p = psnr(f, video.frames[i]!);
      assert.ok(p > 33, `frame ${i}: ${p.toFixed(1)} dB`);
      if (i > 0) assert.ok(p > psnr(f, video.frames[i - 1]!), `frame ${i} is not its predecessor`);
    });
  } finally {
    setCurrentRun(null);
  }
});

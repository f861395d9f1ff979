import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeVideo, readFrames, writeVideo } from '../../src/kernel/io/video';
import { locateFfmpeg, resetFfmpegLocation, setFfmpegPath } from '../../src/kernel/io/ffmpeg';
import { MagicPortraitError } from '../../src/kernel/errors';
import type { Image } from '../../src/kernel/io/image';

const data = join(__dirname, '..', '..', '..', 'shared', 'data');
const tmp = mkdtempSync(join(tmpdir(), 'mp-video-'));

function* synthetic(n: number, w: number, h: number): Generator<Image> {
  for (let t = 0; t < n; t++) {
    const d = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 3;
        d[i] = (x * 4 + t * 8) & 255;
        d[i + 1] = (y * 4) & 255;
        d[i + 2] = 128;
      }
    yield { width: w, height: h, channels: 3, data: d };
  }
}

test('ffmpeg is located (the bundled installer binary here)', () => {
  const loc = locateFfmpeg();
  assert.ok(loc.path.length > 0);
  assert.ok(['ffmpeg-static', '@ffmpeg-installer/ffmpeg', 'PATH', 'env', 'setting'].includes(loc.source));
});

test('a configured ffmpeg path that does not exist is reported clearly', () => {
  setFfmpegPath('/nonexistent/ffmpeg');
  try {
    assert.throws(() => locateFfmpeg(), (e: Error) => e instanceof MagicPortraitError && /\/nonexistent\/ffmpeg/.test(e.message));
  } finally {
    setFfmpegPath(undefined);
    resetFfmpegLocation();
  }
});

test('write → probe → read round-trips an H.264 yuv420p faststart MP4', async () => {
  const path = join(tmp, 'synthetic.mp4');
  const n = await writeVideo(path, synthetic(12, 64, 48), { fps: 24, crf: 10 });
  assert.equal(n, 12);
  const info = probeVideo(path);
  assert.deepEqual([info.width, info.height, info.frameCount, info.codec], [64, 48, 12, 'h264']);
  assert.equal(info.fps, 24);
  const bytes = readFileSync(path);
  // +faststart: the moov atom comes before mdat.
  assert.ok(bytes.indexOf('moov') < bytes.indexOf('mdat'), 'moov before mdat');
  const src = [...synthetic(12, 64, 48)];
  let k = 0;
  for await (const f of readFrames(path)) {
    assert.equal(f.index, k);
    let err = 0;
    for (let i = 0; i < f.image.data.length; i++) err += Math.abs(f.image.data[i]! - src[k]!.data[i]!);
    assert.ok(err / f.image.data.length < 6, `frame ${k} mean abs error ${err / f.image.data.length}`);
    k++;
  }
  assert.equal(k, 12);
});

test('odd frame sizes are padded to even for yuv420p', async () => {
  const path = join(tmp, 'odd.mp4');
  await writeVideo(path, synthetic(3, 33, 17), { fps: 10 });
  const info = probeVideo(path);
  assert.deepEqual([info.width, info.height, info.frameCount], [34, 18, 3]);
});

test('real driving video: probe, stream with step/maxFrames, stop early', async () => {
  const path = join(data, 'liveportrait', 'd0.mp4');
  const info = probeVideo(path);
  assert.deepEqual([info.width, info.height, info.fps, info.frameCount], [512, 512, 25, 78]);
  const idx: number[] = [];
  for await (const f of readFrames(path, { step: 10, maxFrames: 5 })) {
    idx.push(f.index);
    assert.equal(f.image.data.length, 512 * 512 * 3);
  }
  assert.deepEqual(idx, [0, 10, 20, 30, 40]);
  let count = 0;
  for await (const f of readFrames(path, { width: 128, height: 128 })) {
    assert.equal(f.image.width, 128);
    count++;
  }
  assert.equal(count, 78);
});

test('a corrupt or missing video gives a clear error naming the file', async () => {
  const bad = join(tmp, 'broken.mp4');
  writeFileSync(bad, Buffer.from('this is not a video at all'));
  assert.throws(() => probeVideo(bad), (e: Error) => e instanceof MagicPortraitError && /broken\.mp4/.test(e.message));
  await assert.rejects(async () => {
    for await (const _ of readFrames(bad)) void _;
  }, /broken\.mp4/);
  assert.throws(() => probeVideo(join(tmp, 'missing.mp4')), /not found.*missing\.mp4/);
  const noexec = join(tmp, 'fake-ffmpeg');
  writeFileSync(noexec, '');
  chmodSync(noexec, 0o644);
  process.env.MAGICPORTRAIT_FFMPEG = noexec;
  resetFfmpegLocation();
  try {
    assert.throws(() => locateFfmpeg(), /MAGICPORTRAIT_FFMPEG/);
  } finally {
    delete process.env.MAGICPORTRAIT_FFMPEG;
    resetFfmpegLocation();
  }
});

test('header-only probe estimates the frame count without scanning the file', () => {
  const info = probeVideo(join(data, 'liveportrait', 'd3.mp4'), { countFrames: false });
  assert.deepEqual([info.width, info.height, info.fps], [512, 512, 30]);
  assert.ok(Math.abs(info.frameCount - 354) <= 2, `estimated ${info.frameCount}`);
});

// Inputs that used to give silently wrong results: a driving video with no face (every frame "held" and the maps
// rendered anyway), one with few faces, a truncated one, and a photo with two faces (the largest fitted without a
// word). Files are made here with ffmpeg from the shared data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDir, missingPerception } from './helpers';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { readImage } from '../../src/kernel/io/image';
import { MagicPortraitError } from '../../src/kernel/errors';
import { mp } from '../../src/kernel/mp';
import { MIN_TRACKED_FRACTION } from '../../src/kernel/fit';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';

const skip = missingPerception();
const tmp = mkdtempSync(join(tmpdir(), 'mp-realin-'));
// mp.fit.* are cached stages: a private cache, so every run tracks and fits afresh (not yesterday's results)
setStageCache(new StageCache(join(tmp, 'stages')));

function ffmpeg(args: string[]): void {
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', ...args]);
  assert.equal(r.status, 0, String(r.stderr));
}

/** Captures console.warn while `f` runs (the kernel streams it into the cell). */
async function warned<T>(f: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const orig = console.warn;
  console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
  try {
    return { value: await f(), warnings };
  } finally {
    console.warn = orig;
  }
}

test('tracking a video with no face fails with a clear message naming the file', { skip }, async () => {
  const video = join(tmp, 'no-face.mp4');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=256x256:rate=24:duration=0.5', '-pix_fmt', 'yuv420p', video]);
  await assert.rejects(() => mp.fit.track(video, { progress: false }), (e: unknown) => {
    assert.ok(e instanceof MagicPortraitError);
    assert.equal(e.code, 'no-face');
    assert.match(e.message, /No face could be tracked in '.*no-face\.mp4': no face was found in any of its 12 frames/);
    return true;
  });
});

test(`a video with a face in fewer than ${MIN_TRACKED_FRACTION * 100}% of its frames warns in the output`, { skip }, async () => {
  // 3 frames of driving.mp4, then 9 frames of a test pattern
  const video = join(tmp, 'few-faces.mp4');
  ffmpeg(['-i', join(dataDir, 'magicportrait/driving.mp4'), '-f', 'lavfi', '-i', 'testsrc=size=512x512:rate=24:duration=1',
    '-filter_complex', '[0:v]trim=end_frame=3,setpts=PTS-STARTPTS,format=yuv420p[a];[1:v]trim=end_frame=9,setpts=PTS-STARTPTS,format=yuv420p[b];[a][b]concat=n=2:v=1[out]',
    '-map', '[out]', '-r', '24', video]);
  const { value: track, warnings } = await warned(() => mp.fit.track(video, { progress: false }));
  assert.equal(track.numFrames, 12);
  assert.equal(track.frames.filter((f) => f.status === 'tracked').length, 3);
  assert.equal(track.warnings?.length, 1);
  assert.match(track.warnings![0]!, /Only 3 of the 12 frames of '.*few-faces\.mp4' \(25%\) have a face/);
  assert.ok(warnings.some((w) => w.includes('Only 3 of the 12 frames')), 'shown in the cell');
  // with enough faces there is nothing to say
  const fine = await mp.fit.track(join(dataDir, 'magicportrait/driving.mp4'), { read: { maxFrames: 6 }, progress: false });
  assert.deepEqual(fine.warnings, []);
});

test('tracking a truncated MP4 says it was shortened', { skip }, async () => {
  const fast = join(tmp, 'faststart.mp4'), cut = join(tmp, 'cut.mp4');
  ffmpeg(['-i', join(dataDir, 'magicportrait/driving.mp4'), '-c', 'copy', '-movflags', '+faststart', fast]);
  const bytes = readFileSync(fast);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.55)));
  const { value: track, warnings } = await warned(() => mp.fit.track(cut, { read: { maxFrames: 4 }, progress: false }));
  assert.equal(track.numFrames, 4);
  assert.match(track.warnings!.join('\n'), /cut\.mp4 is truncated: its index says 9\.17 s \(about 220 frames\)/);
  assert.ok(warnings.some((w) => /truncated/.test(w)));
});

test('a photo with two faces says which face was fitted and how to choose the other', { skip }, async () => {
  const photo = join(tmp, 'two.png');
  // boy.jpeg (face ≈ 294 px wide) beside s5.jpg scaled so its face is smaller (≈ 150 px)
  ffmpeg(['-i', join(dataDir, 'magicportrait/boy.jpeg'), '-i', join(dataDir, 'liveportrait/s5.jpg'),
    '-filter_complex', '[1:v]scale=700:700,pad=700:736:0:18[b];[0:v][b]hstack=inputs=2,format=rgb24', photo]);
  const image = readImage(photo);
  assert.deepEqual([image.width, image.height], [1436, 736]);
  const { value: first, warnings } = await warned(() => mp.fit.portrait(image));
  assert.equal(first.face?.count, 2);
  assert.equal(first.face?.index, 0);
  const cx = (b: { x1: number; x2: number }) => (b.x1 + b.x2) / 2;
  assert.ok(cx(first.face!.box) < 736, 'the largest face (the left photo) by default');
  assert.match(first.warnings![0]!, /shows 2 faces; fitted face 0 \(the largest, box \[.*\]\)\. To fit another, pass \{ face: i \} with i from 0 to 1/);
  assert.ok(first.flags.includes('several-faces'));
  assert.ok(warnings.some((w) => w.includes('shows 2 faces')), 'shown in the cell');
  const second = await mp.fit.portrait(image, { face: 1 });
  assert.equal(second.face?.index, 1);
  assert.ok(cx(second.face!.box) > 736, 'the other face (the right photo)');
  assert.equal(second.quality, 'good');
  // its landmarks are on the right-hand face
  for (let i = 0; i < 68; i++) assert.ok(second.detected[2 * i]! > 736);
  await assert.rejects(() => mp.fit.portrait(image, { face: 2 }), /face 2 requested but the image has 2 face\(s\)/);
});

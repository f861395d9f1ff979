// Real-world video files that used to give silently wrong results: a variable-frame-rate video (read as if it were
// constant-rate) and an MP4 cut short with its index at the front (silently shortened). Made here with ffmpeg.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { probeVideo, readFrames } from '../../src/kernel/io/video';

const tmp = mkdtempSync(join(tmpdir(), 'mp-vtime-'));
const data = join(__dirname, '..', '..', '..', 'shared', 'data');

function ffmpeg(args: string[]): void {
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', ...args]);
  assert.equal(r.status, 0, String(r.stderr));
}

async function frames(path: string) {
  const out: Uint8Array[] = [];
  for await (const f of readFrames(path)) out.push(f.image.data);
  return out;
}

test('a variable-frame-rate video is read by its real timestamps: frames held where the video is slower', async () => {
  // 48 distinct frames (testsrc draws a counter and moving pattern); the first 24 last 1/24 s, the other 24 last 3/24 s
  const cfr = join(tmp, 'cfr.mp4'), vfr = join(tmp, 'vfr.mp4');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=96x96:rate=24:duration=2', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', cfr]);
  ffmpeg(['-i', cfr, '-vf', "setpts='if(lt(N,24),N,24+(N-24)*3)/(24*TB)'", '-vsync', 'vfr', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', vfr]);
  const info = probeVideo(vfr);
  assert.equal(info.vfr, true);
  assert.equal(info.fps, 24);
  // 24 frames over 1 s, then 23 frames of 3/24 s and the last one (the container gives it 1/24 s): 94 frames at 24 fps
  assert.equal(info.frameCount, 94);
  const source = await frames(cfr);
  assert.equal(source.length, 48);
  assert.equal(probeVideo(cfr).vfr, undefined, 'a constant-rate video is not resampled');
  const read = await frames(vfr);
  assert.equal(read.length, 94);
  // each frame read at t = k/24 s is the source frame on screen at that time
  const closest = (f: Uint8Array) => {
    let best = -1, err = Infinity;
    source.forEach((s, j) => {
      let e = 0;
      for (let i = 0; i < s.length; i += 7) e += Math.abs(s[i]! - f[i]!);
      if (e < err) { err = e; best = j; }
    });
    return best;
  };
  for (let k = 0; k < 94; k++) {
    const expected = k < 24 ? k : 24 + Math.floor((k - 24) / 3);
    assert.equal(closest(read[k]!), expected, `frame ${k} (t = ${(k / 24).toFixed(3)} s)`);
  }
});

test('an MP4 cut short with its index at the front says it was shortened, and how much is there', async () => {
  const fast = join(tmp, 'faststart.mp4'), cut = join(tmp, 'cut.mp4');
  ffmpeg(['-i', join(data, 'magicportrait/driving.mp4'), '-c', 'copy', '-movflags', '+faststart', fast]);
  const whole = probeVideo(fast);
  assert.equal(whole.truncated, undefined);
  assert.equal(whole.frameCount, 220);
  const bytes = readFileSync(fast);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.55)));
  const info = probeVideo(cut);
  assert.ok(info.truncated, 'reported as truncated');
  assert.match(info.truncated.message, /cut\.mp4 is truncated: its index says 9\.17 s \(about 220 frames\) but the data ends at [\d.]+ s; only the first \d+ frames/);
  const warnings: string[] = [];
  let n = 0;
  for await (const _ of readFrames(cut, { onWarning: (w) => warnings.push(w) })) n++;
  assert.equal(warnings.length, 1);
  assert.ok(n > 100 && n < 220, `${n} frames decoded`);
  assert.ok(Math.abs(n - info.truncated.frames) <= 2, `decoded ${n}, announced ${info.truncated.frames}`);
  // shared clips with an audio track that ends with the video are not flagged
  assert.equal(probeVideo(join(data, 'liveportrait/d3.mp4')).truncated, undefined);
});

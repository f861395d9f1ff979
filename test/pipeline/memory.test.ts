// Long videos: guidance maps stream into the stage cache, preview frames into a store that spills to disk, displays
// show at most `displayFrames` frames: the peak memory of guidance → preview does not grow with the frame count
// (it used to grow by ~7.7 MB a frame). Measured in child processes (each its own peak RSS); the 5-minute clip
// figures are `npm run bench -- memory`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../runtime/kernel-harness';

function peak(frames: number): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/pipeline/memory-child.ts'), String(frames)], { cwd: repoRoot, encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as { frames: number; peakMB: number };
  assert.equal(line.frames, frames);
  return line.peakMB;
}

test('peak memory of guidance + preview (with their displays) does not grow with the number of frames', { timeout: 900_000 }, () => {
  const short = peak(96);
  const long = peak(480);
  console.log(`# peak RSS: 96 frames ${short} MB, 480 frames ${long} MB (+${((long - short) / 384).toFixed(2)} MB a frame)`);
  // 384 more frames at 512² would hold ~3 GB of maps and preview frames if they were kept in memory (7.7 MB a frame
  // before); what remains is the garbage collector's slack
  assert.ok(long - short < 200, `peak grew by ${long - short} MB over 384 frames`);
});

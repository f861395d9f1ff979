/**
 * The data pool on the one worker pool (src/kernel/workers.ts): with workers it runs its tasks on threads that said
 * they are ready, and writes the same files as on the calling thread; after close() it takes no more tasks.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPool } from '../../src/kernel/data/pool';

const tmp = mkdtempSync(join(tmpdir(), 'mp-data-pool-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function pixels(w: number, h: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7 + seed * 31) & 255);
}

test('tasks on the worker threads write the same files as on the calling thread; a closed pool refuses work', async () => {
  const workers = new DataPool(2);
  assert.equal(workers.mode, 'workers', workers.reason);
  const inline = new DataPool(0);
  assert.equal(inline.mode, 'inline');
  const jobs = [0, 1, 2, 3, 4].map((i) => ({ w: 16 + i, h: 12, seed: i }));
  await Promise.all(jobs.map((j, i) => workers.png(join(tmp, `w${i}.png`), j.w, j.h, pixels(j.w, j.h, j.seed))));
  await Promise.all(jobs.map((j, i) => inline.png(join(tmp, `i${i}.png`), j.w, j.h, pixels(j.w, j.h, j.seed))));
  for (let i = 0; i < jobs.length; i++) assert.ok(readFileSync(join(tmp, `w${i}.png`)).equals(readFileSync(join(tmp, `i${i}.png`))), `file ${i}`);
  assert.equal(workers.pending, 0);
  await workers.close();
  await inline.close();
  await assert.rejects(workers.png(join(tmp, 'late.png'), 4, 4, pixels(4, 4, 0)), /closed/);
});

test('a pool closed before its threads are ready waits for their start, ends them, and refuses work', async () => {
  const pool = new DataPool(2);
  assert.equal(pool.mode, 'workers');
  await pool.close();
  await assert.rejects(pool.png(join(tmp, 'never.png'), 4, 4, pixels(4, 4, 1)), /closed/);
});

/**
 * The one worker pool (src/kernel/workers.ts): threads are handed out once they said they are ready, kept for the
 * next take, and a thread that exits before it is ready fails the start instead of leaving it waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../src/kernel/workers';

const READY = "require('node:worker_threads').parentPort.postMessage({ type: 'ready' }); require('node:worker_threads').parentPort.on('message', () => {});";

test('take hands out ready threads and keeps them for the next take; close ends them', async () => {
  const pool = new WorkerPool({ entry: READY, eval: true });
  const a = await pool.take(2);
  assert.equal(a.length, 2);
  assert.equal(pool.size, 2);
  const b = await pool.take(1);
  assert.equal(b[0], a[0], 'the kept thread is reused');
  await pool.close();
  assert.equal(pool.size, 0);
});

test('a thread that exits before it is ready fails take (no hang), and the pool ends the others', async () => {
  const pool = new WorkerPool({ entry: 'process.exit(3)', eval: true }, { unref: false });
  await assert.rejects(pool.take(2), /exited \(code 3\) before it was ready/);
  assert.equal(pool.size, 0);
});

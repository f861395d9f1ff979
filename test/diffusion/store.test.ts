import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FloatRecordStore, RecordStore } from '../../src/kernel/diffusion/store';

const REPO = join(__dirname, '..', '..');

test('a store over its memory budget spills to a file and reads every record back exactly, in any order', () => {
  const recordBytes = 1000, count = 37;
  const store = new RecordStore(recordBytes, count, 4096);
  assert.equal(store.inMemory, false);
  const rec = (i: number) => Uint8Array.from({ length: recordBytes }, (_, k) => (i * 131 + k * 7) & 255);
  for (const i of [5, 0, 36, 17, ...Array.from({ length: count }, (_, i) => i)]) store.write(i, rec(i));
  for (let i = count - 1; i >= 0; i--) assert.deepEqual(store.read(i), rec(i), `record ${i}`);
  store.dispose();
  store.dispose(); // twice is fine
  assert.throws(() => store.read(0), /disposed/);
  const floats = new FloatRecordStore(3, 2, 0);
  floats.write(1, Float32Array.of(1.5, -2, 3e-8));
  floats.write(0, Float32Array.of(0, 0.25, -0));
  assert.deepEqual([...floats.read(1)], [1.5, -2, Math.fround(3e-8)]);
  floats.dispose();
});

test('a spilled store leaves nothing on disk, even when its process is killed (SIGKILL) without dispose()', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'store-test-'));
  // (tsx keeps its own cache under TMPDIR too)
  const spills = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('mp-store-'));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // a child process spills 8 MB to a store under its own TMPDIR, reports, and is killed while the store is open
    const script = `const { RecordStore } = require(${JSON.stringify(join(REPO, 'src/kernel/diffusion/store.ts'))});
      const s = new RecordStore(1 << 20, 8, 0);
      for (let i = 0; i < 8; i++) s.write(i, new Uint8Array(1 << 20).fill(i));
      if (s.read(7)[123] !== 7) process.exit(3);
      process.stdout.write('spilled ' + (s.spillDir ?? 'unlinked') + '\\n');
      setInterval(() => {}, 1000);`;
    // NODE_TEST_CONTEXT would make the child talk the test runner's protocol on stdout instead of printing
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO, env: { ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d) => {
        out += String(d);
        if (out.includes('\n')) resolve(out.trim());
      });
      child!.on('exit', (code) => reject(new Error(`child exited ${code} before spilling`)));
    });
    assert.match(line, /^spilled /);
    // while it runs, the spilled data is not visible as a file: the space is reclaimed with the descriptor
    if (process.platform !== 'win32') assert.deepEqual(spills(tmp), [], 'no mp-store folder while the store is open');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    assert.deepEqual(spills(tmp), [], 'nothing left after SIGKILL');
  } finally {
    child?.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});

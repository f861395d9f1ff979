import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

test('bundled by esbuild into one CJS file: uses preview-worker.js beside it, else renders inline with the same frames', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-preview-bundle-'));
  try {
    buildSync({
      entryPoints: { driver: join(__dirname, 'bundle', 'driver.ts'), 'preview-worker': join(__dirname, '../../src/kernel/preview/worker.ts') },
      bundle: true, platform: 'node', format: 'cjs', target: 'node20', outdir: dir, logLevel: 'silent',
      external: ['onnxruntime-node'],
    });
    const run = () => {
      const r = spawnSync(process.execPath, [join(dir, 'driver.js')], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { mode: string; reason?: string; sums: string[] };
    };
    const a = run();
    assert.equal(a.mode, 'workers', a.reason);
    assert.equal(a.sums.length, 3);
    renameSync(join(dir, 'preview-worker.js'), join(dir, 'elsewhere.js'));
    const b = run();
    assert.equal(b.mode, 'inline');
    assert.deepEqual(b.sums, a.sums);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

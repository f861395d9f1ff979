/**
 * `magicportrait runtime providers | install-cuda` through the CLI entry (in process): the providers table names every
 * provider with its state; install-cuda refuses unknown flags, and on this machine either installs (Linux x64) or says
 * the platform has no CUDA provider; the installer itself is tested against a local NuGet feed in
 * test/onnx/install-cuda.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './capture';

test('runtime providers: one line per provider with its state', async () => {
  const out = await runCli(['runtime', 'providers']);
  assert.equal(out.code, 0);
  assert.match(out.out, /onnxruntime-node 1\.30\.0 on /);
  for (const p of ['cpu', 'cuda', 'dml', 'coreml', 'webgpu']) assert.match(out.out, new RegExp(`^${p}\\s+(ready|missing|—)`, 'm'), p);
  assert.match(out.out, /^cpu\s+ready/m);
});

test('runtime: unknown subcommands and flags are errors with the usage', async () => {
  const bad = await runCli(['runtime', 'frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /magicportrait runtime install-cuda/);
  const flag = await runCli(['runtime', 'install-cuda', '--nope']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /Unexpected argument '--nope'/);
});

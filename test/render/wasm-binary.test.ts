// The embedded render kernel (src/kernel/render/assembly/binary.ts) must be the compilation of the AssemblyScript
// sources beside it: recompile them and compare byte for byte (asc is pinned in package-lock.json, and its
// output does not depend on the checkout's path).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RENDER_KERNEL_WASM } from '../../src/kernel/render/assembly/binary';

test('the embedded render kernel is the compiled AssemblyScript source', async () => {
  const { compileRenderKernel } = await import('../../scripts/build-wasm.mjs');
  const fresh = await compileRenderKernel();
  const embedded = Buffer.from(RENDER_KERNEL_WASM, 'base64');
  assert.ok(fresh.length > 1000, `a real module (${fresh.length} bytes)`);
  assert.ok(embedded.equals(fresh), 'src/kernel/render/assembly/binary.ts is stale: run node scripts/build-wasm.mjs');
});

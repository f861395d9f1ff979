/** `magicportrait import-smirk` (and `import-deca --out DIR`) on the synthetic real-layout SMIRK_em1.pt. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as capture } from './capture';

const FIX = join(__dirname, '..', 'perception', 'fixtures');
const root = mkdtempSync(join(tmpdir(), 'mp-cli-smirk-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('magicportrait import-smirk writes DIR/smirk_encoder.onnx and prints the coverage', async () => {
  const dir = join(root, 'encoders');
  const r = await capture(['import-smirk', join(FIX, 'smirk_em1_synthetic.pt'), '--out', dir]);
  assert.equal(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'smirk_encoder.onnx')));
  assert.match(r.out, /0 unexpected/);
  assert.match(r.out, /ignored 3 keys \(SMIRK generator/);
  assert.match(r.out, /Wrote .*smirk_encoder\.onnx/);
});

test('magicportrait import-smirk / import-deca usage and bad files', async () => {
  const bad = await capture(['import-smirk', join(FIX, 'smirk_bad_shape.pt'), '--out', join(root, 'x')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /shape_layers\.0\.weight has \[100, 960\], expected \[300, 960\]/);
  const usage = await capture(['import-smirk', join(FIX, 'smirk_em1_synthetic.pt')]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /import-smirk needs SMIRK_em1\.pt --out DIR/);
  // --out DIR names the file the fit looks for (the toy tar needs the toy architecture: the shape error names it)
  const deca = await capture(['import-deca', join(FIX, 'deca_model_tiny.tar'), '--out', join(root, 'encoders')]);
  assert.equal(deca.code, 2);
  assert.match(deca.err, /encoder\.conv1\.weight' has shape \[4, 3, 7, 7\], expected \[64, 3, 7, 7\]/);
});

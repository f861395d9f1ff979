/**
 * The cheap parts of the full-size structural check (the heavy part is `npm run bench -- unet-fullsize`):
 *   - streamed (deferred) initializers written as ONNX external data: the file layout follows the spec and ORT
 *     computes with the values;
 *   - the generated weight source is deterministic and order-independent, scaled N(0, 1/fan_in), and a streamed build
 *     writes the same bytes as an eager one;
 *   - at REFERENCE_ARCH, the keys and shapes the builders ask for are exactly those of a full-size import plan over
 *     real-layout checkpoint headers (golden/fullsize_headers.py, written here as sparse files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, ftruncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GraphBuilder, float32ToFloat16Bits } from '../../src/kernel/onnx/graph';
import { ModelProto } from '../../src/kernel/onnx/proto';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { GeneratedWeights, bundleIO, generatedBundle } from '../../src/kernel/diffusion/bundle';
import { REFERENCE_ARCH, TINY_ARCH, bankSites } from '../../src/kernel/diffusion/graph/config';
import { UNET_IO, buildDenoisingUNet, buildReferenceUNet } from '../../src/kernel/diffusion/graph/unet';
import { planImport } from '../../src/kernel/diffusion/import';
import { writeSparseCheckpoints } from './fullsize-helpers';

const tmp = () => mkdtempSync(join(tmpdir(), 'mp-fullsize-'));

test('deferred initializers are produced once per save and written as spec-conformant external data', async () => {
  const dir = tmp();
  const k = 48, m = 40, n = 3;
  const w = Float32Array.from({ length: k * m }, (_, i) => Math.sin(i * 0.37) / Math.sqrt(k));
  const b = Float32Array.from({ length: m }, (_, i) => 0.01 * i - 0.2);
  const loads = { w: 0, b: 0 };
  const g = new GraphBuilder('ext');
  const x = g.input('x', 'float32', [n, k]);
  const wn = g.deferredInitializer('w', { dtype: 'float32', dims: [k, m], load: () => (loads.w++, w) });
  const bn = g.deferredInitializer('b', { dtype: 'float32', dims: [m], load: () => (loads.b++, b) });
  g.op('Add', [g.op('MatMul', [x, wn]), bn], {}, 'y');
  g.output('y', 'float32', [n, m]);
  assert.equal(g.castWeightsToFloat16(), 2);
  assert.deepEqual(loads, { w: 0, b: 0 }, 'nothing is produced before the save');
  const path = join(dir, 'm.onnx');
  g.save(path, {}, { externalDataThreshold: 64 });
  assert.deepEqual(loads, { w: 1, b: 1 }, 'each tensor is produced once');

  // the layout, read back with the ONNX schema
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(path)), { longs: Number, bytes: Array }) as {
    graph: { initializer: { name: string; dims: number[]; dataType: number; dataLocation?: number; rawData?: number[]; externalData?: { key: string; value: string }[] }[] };
  };
  const data = readFileSync(`${path}.data`);
  const expect: Record<string, Float32Array> = { 'w::fp16': w, 'b::fp16': b };
  for (const init of model.graph.initializer) {
    assert.ok(init.name in expect, init.name);
    assert.equal(init.dataType, 10, 'float16');
    assert.equal(init.dataLocation, 1, 'EXTERNAL');
    assert.ok(!init.rawData?.length, 'no inline bytes');
    const ext = Object.fromEntries(init.externalData!.map((e) => [e.key, e.value]));
    assert.equal(ext.location, 'm.onnx.data');
    const offset = Number(ext.offset), length = Number(ext.length);
    assert.equal(offset % 64, 0, 'aligned');
    const want = float32ToFloat16Bits(expect[init.name]!);
    assert.equal(length, want.byteLength);
    assert.deepEqual(new Uint16Array(data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + length)), want);
  }

  // ORT reads the external data: y = x·w + b with the float16-rounded weights
  const xs = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.11));
  const s = await createSession(path);
  const y = (await s.run({ x: new ort.Tensor('float32', xs, [n, k]) })).y!.data as Float32Array;
  await s.release();
  const half = (v: Float32Array) => {
    const bits = float32ToFloat16Bits(v);
    return Float32Array.from(bits, (h) => {
      const e = (h >> 10) & 31, f = h & 1023, sign = h >> 15 ? -1 : 1;
      return sign * (e ? 2 ** (e - 15) * (1 + f / 1024) : 2 ** -14 * (f / 1024));
    });
  };
  const wh = half(w), bh = half(b);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < m; c++) {
      let acc = bh[c]!;
      for (let i = 0; i < k; i++) acc += xs[r * k + i]! * wh[i * m + c]!;
      assert.ok(Math.abs(y[r * m + c]! - acc) < 1e-4, `y[${r}, ${c}]`);
    }
  rmSync(dir, { recursive: true, force: true });
});

test('generated weights are deterministic, independent of request order, and scaled N(0, 1/fan_in)', () => {
  const a = new GeneratedWeights('denoisingUnet', 7);
  const b = new GeneratedWeights('denoisingUnet', 7, true);
  const w1 = a.tensor('down_blocks.1.resnets.0.conv1.weight', [640, 320, 3, 3]);
  const bias = b.tensor('down_blocks.1.resnets.0.conv1.bias', [640]);
  const w2 = b.deferred('down_blocks.1.resnets.0.conv1.weight', [640, 320, 3, 3])();
  assert.deepEqual(w2, w1, 'same key, same values, whatever was asked before');
  assert.notDeepEqual(new GeneratedWeights('denoisingUnet', 8).tensor('down_blocks.1.resnets.0.conv1.bias', [640]), bias, 'the seed matters');
  assert.notDeepEqual(new GeneratedWeights('referenceUnet', 7).tensor('down_blocks.1.resnets.0.conv1.bias', [640]), bias, 'the model matters');
  const mean = w1.reduce((s, x) => s + x, 0) / w1.length;
  const std = Math.sqrt(w1.reduce((s, x) => s + (x - mean) ** 2, 0) / w1.length);
  const want = 1 / Math.sqrt(320 * 9);
  assert.ok(Math.abs(mean) < 0.01 * want * 10 && Math.abs(std / want - 1) < 0.01, `std ${std} vs ${want}`);
  assert.ok(w1.every(Number.isFinite));
  assert.deepEqual([...b.usedKeys().keys()], ['down_blocks.1.resnets.0.conv1.bias', 'down_blocks.1.resnets.0.conv1.weight']);
});

test('a streamed float16 build writes the same files as an eager one', async () => {
  const root = tmp();
  const build = { queryChunk: 16 };
  const eager = await generatedBundle(join(root, 'eager'), { seed: 3, weights: 'float16', build });
  const streamed = await generatedBundle(join(root, 'streamed'), { seed: 3, weights: 'float16', build, stream: true });
  for (const role of Object.keys(eager.manifest.models) as (keyof typeof eager.manifest.models)[])
    assert.equal(streamed.manifest.models[role].file.sha256, eager.manifest.models[role].file.sha256, role);
  assert.deepEqual(streamed.manifest.io, bundleIO(TINY_ARCH));
  // reused when everything matches, rebuilt when the build options differ
  const again = await generatedBundle(join(root, 'streamed'), { seed: 3, weights: 'float16', build, stream: true, verify: 'size' });
  assert.equal(statSync(join(root, 'streamed', 'manifest.json')).mtimeMs, statSync(join(again.dir, 'manifest.json')).mtimeMs);
  const other = await generatedBundle(join(root, 'streamed'), { seed: 3, weights: 'float16', build: { queryChunk: 32 }, stream: true });
  assert.equal(other.manifest.build.queryChunk, 32);
  rmSync(root, { recursive: true, force: true });
});

test('full size: the UNet builders ask the random source for exactly the keys and shapes of a real-layout import plan', async () => {
  const dir = tmp();
  writeSparseCheckpoints(dir);
  const plan = await planImport({ sd15Dir: join(dir, 'sd15'), vaeDir: join(dir, 'vae'), motionModule: join(dir, 'mm.safetensors'), ckptDir: join(dir, 'ckpts') }, REFERENCE_ARCH);
  try {
    const builders = { denoisingUnet: buildDenoisingUNet, referenceUnet: buildReferenceUNet } as const;
    for (const [role, build] of Object.entries(builders) as [keyof typeof builders, typeof buildDenoisingUNet][]) {
      const lookup = plan.lookups[role];
      const planned = new Map(lookup.neededKeys().map((k) => [k, [...lookup.stateDict.get(k)!.shape]]));
      const w = new GeneratedWeights(role, 0, true);
      const g = new GraphBuilder(role);
      build(REFERENCE_ARCH, { g, w }, { queryChunk: 512 });
      const asked = new Map([...w.usedKeys()].map(([k, s]) => [k, [...s]]));
      assert.deepEqual([...asked.keys()].filter((k) => !planned.has(k)), [], `${role}: keys no checkpoint has`);
      assert.deepEqual([...planned.keys()].filter((k) => !asked.has(k)), [], `${role}: checkpoint keys the graph never reads`);
      for (const [k, s] of asked) assert.deepEqual(s, planned.get(k), `${role}: shape of ${k}`);
      // nothing was generated: a full-size graph is built holding no weights
      assert.ok(g.weightBytes() > (role === 'denoisingUnet' ? 4.5 : 3) * 1024 ** 3);
      assert.ok(process.memoryUsage().rss < 2 * 1024 ** 3, 'the build held no weights');
    }
    assert.equal(plan.lookups.denoisingUnet.neededKeys().length, 686 + 588);
  } finally {
    await plan.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('full size: graph inputs and outputs are the names and shapes sample() feeds the tiny graphs', () => {
  for (const arch of [REFERENCE_ARCH, TINY_ARCH]) {
    const g = new GraphBuilder('d');
    buildDenoisingUNet(arch, { g, w: new GeneratedWeights('d', 0, true) });
    const { inputs, outputs } = g.signature();
    const io = bundleIO(arch).denoisingUnet;
    assert.deepEqual(inputs.map((i) => i.name), io.inputs);
    assert.deepEqual(outputs.map((o) => o.name), io.outputs);
    const dims = (name: string) => inputs.find((i) => i.name === name)!.shape;
    const lat = arch.imageSize / 8;
    assert.deepEqual(dims(UNET_IO.sample), ['F', 4, lat, lat]);
    assert.deepEqual(dims(UNET_IO.guidance), ['F', arch.unet.blockOutChannels[0], lat, lat]);
    assert.deepEqual(dims(UNET_IO.text), [1, 77, arch.text.dim]);
    assert.deepEqual(outputs[0]!.shape, ['F', 4, lat, lat]);
    bankSites(arch).forEach((s, i) => {
      assert.deepEqual(dims(`bank_${String(i).padStart(2, '0')}`), [1, `L${i}`, s.channels]);
      assert.equal(inputs.find((x) => x.name === `bank_${String(i).padStart(2, '0')}`)!.elemType, 10, 'float16 bank');
    });
  }
});

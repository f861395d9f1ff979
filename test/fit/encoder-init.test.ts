/** The 'deca+smirk' fit start on imported synthetic encoders (random weights): the codes reach the solver, the
 *  optimiser still converges, a folder without the SMIRK graph is a clear error. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead, loadFlame } from '../../src/kernel/flame';
import { createImage, type Image } from '../../src/kernel/io/image';
import { fitFlame } from '../../src/kernel/fit/fit';
import { closeFitEncoders } from '../../src/kernel/fit/encoder-init';
import { DECA_ENCODER_FILE, importDecaEncoder, splitDecaCode, type DecaEncoderArch } from '../../src/kernel/perception/deca-encoder';
import { SMIRK_ENCODER_FILE, importSmirk } from '../../src/kernel/perception/smirk-encoder';
import { decaCropAt, smirkCrop } from '../../src/kernel/perception/crops';
import type { Matrix3 } from '../../src/kernel/perception/warp';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { MagicPortraitError } from '../../src/kernel/errors';
import { syntheticFlameDir } from '../flame/helpers';
import { randomParams, renderLandmarks } from './synthetic';
import { dataDir, missingPerception } from './helpers';
import { decodeImage } from '../../src/kernel/io/image';
import { readFileSync } from 'node:fs';

const PFIX = join(__dirname, '..', 'perception', 'fixtures');
const TINY_DECA: DecaEncoderArch = { stem: 4, widths: [4, 8, 8, 16], blocks: [1, 1, 2, 1], hidden: 16, outDim: 236, imageSize: 224 };
const dir = mkdtempSync(join(tmpdir(), 'mp-fit-enc-'));
after(async () => {
  await closeFitEncoders();
  rmSync(dir, { recursive: true, force: true });
});

let imported: Promise<string> | null = null;
/** DECA (toy widths) + SMIRK (real architecture) imported from the synthetic checkpoints into one folder. */
function encoders(): Promise<string> {
  imported ??= (async () => {
    const d = join(dir, 'encoders');
    mkdirSync(d, { recursive: true });
    await importDecaEncoder(join(PFIX, 'deca_model_tiny.tar'), join(d, DECA_ENCODER_FILE), TINY_DECA);
    await importSmirk(join(PFIX, 'smirk_em1_synthetic.pt'), d);
    return d;
  })();
  return imported;
}

/** A deterministic textured 512² image (the encoders only need pixels; their weights are random). */
function pattern(): Image {
  const im = createImage(512, 512);
  for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) for (let c = 0; c < 3; c++)
    im.data[3 * (512 * y + x) + c] = (x * (3 + c) + y * (5 - c) + ((x >> 4) ^ (y >> 4)) * 40) & 255;
  return im;
}

/** The encoders run directly on the crops (what the fit must have started from). */
async function expectedCodes(encDir: string, image: Image, tform: ArrayLike<number>, mesh: Float32Array | null) {
  const T = Array.from(tform);
  const m3: Matrix3 = [[T[0]!, T[1]!, T[2]!], [T[3]!, T[4]!, T[5]!], [T[6]!, T[7]!, T[8]!]];
  const t = (x: Float32Array) => new ort.Tensor('float32', x, [1, 3, 224, 224]);
  const deca = await createSession(join(encDir, DECA_ENCODER_FILE));
  const smirk = await createSession(join(encDir, SMIRK_ENCODER_FILE));
  const code = splitDecaCode((await deca.run({ image: t(decaCropAt(image, m3)) })).code!.data as Float32Array);
  const pts: [number, number][] = [];
  if (mesh) for (let i = 0; i < mesh.length / 3; i++) if (Number.isFinite(mesh[3 * i]!)) pts.push([mesh[3 * i]!, mesh[3 * i + 1]!]);
  const s = await smirk.run({ image: t(smirkCrop(image, pts.length ? pts : null).image) });
  await deca.release();
  await smirk.release();
  return { code, expression: s.expression!.data as Float32Array, jaw: s.jaw!.data as Float32Array };
}

test("'deca+smirk' start: DECA's shape and SMIRK's expression + jaw are where the solve starts (FLAME slots); DECA's pose/cam when they reproject better", async () => {
  const encDir = await encoders();
  const model = await loadFlame(syntheticFlameDir());
  const truth = randomParams(model, 4, 25);
  const p = { ...truth, shape: truth.shape.slice(0, 100).map((v) => v * 0.5), expression: truth.expression.slice(0, 50) };
  const { lm68, mesh468 } = renderLandmarks(model, p); // no MediaPipe table for this mesh: SMIRK gets the whole frame
  const image = pattern();
  const fit = await fitFlame({ image, landmarks68: lm68, mesh468 }, { model, encoder: 'deca+smirk', encoderDir: encDir, maxIterations: 0, contourSearch: false, photometric: false });
  const want = await expectedCodes(encDir, image, fit.tform, mesh468);
  console.log(`# DECA cam ${Array.from(want.code.cam, (v) => v.toFixed(3)).join(' ')}, SMIRK jaw ${Array.from(want.jaw, (v) => v.toFixed(3)).join(' ')}, flags [${fit.flags.join(', ')}]`);
  assert.equal(fit.expression.length, 50);
  for (let i = 0; i < 50; i++) assert.equal(fit.expression[i], want.expression[i], `expression ${i}`);
  for (let i = 0; i < 100; i++) assert.equal(fit.shape[i], want.code.shape[i], `shape ${i}`);
  // SMIRK's jaw replaces DECA's whatever happens to the head pose
  assert.deepEqual(Array.from(fit.pose6.subarray(3)), Array.from(want.jaw));
  assert.ok(want.code.cam[0]! > 0, 'the synthetic DECA gives a positive camera scale (else the pose guess is ignored)');
  assert.ok(!fit.flags.includes('init-pose-ignored'));
  if (fit.flags.includes('init-pose-replaced')) {
    // random weights: DECA's camera (scale ≈ 0.003 instead of ≈ 8) reprojects worse than the geometric start, which wins
    assert.notDeepEqual(Array.from(fit.cam), Array.from(want.code.cam));
    assert.ok(fit.cam[0]! > 1);
  } else {
    assert.deepEqual(Array.from(fit.pose6.subarray(0, 3)), Array.from(want.code.pose.subarray(0, 3)));
    assert.deepEqual(Array.from(fit.cam), Array.from(want.code.cam));
  }
  // DECA's own expression is replaced, not used
  assert.notDeepEqual(Array.from(fit.expression.subarray(0, 5)), Array.from(want.code.exp.subarray(0, 5)));
});

test("'deca+smirk' start with the optimiser: converges like the cold start on the landmarks (demo head, mesh crop)", async () => {
  const encDir = await encoders();
  const demo = createDemoHead();
  const image = pattern();
  for (const seed of [3, 11]) {
    const { lm68, mesh468 } = renderLandmarks(demo, randomParams(demo, seed, 30));
    const input = { image, landmarks68: lm68, mesh468 };
    const cold = await fitFlame(input, { model: demo, photometric: false });
    const warm = await fitFlame(input, { model: demo, photometric: false, encoder: 'deca+smirk', encoderDir: encDir });
    const px = (f: typeof cold) => f.residuals.reduce((a, b) => a + b, 0) / 68;
    console.log(`# seed ${seed}: cold start ${px(cold).toFixed(3)} px (NME ${(100 * cold.nme).toFixed(3)}%), deca+smirk start ${px(warm).toFixed(3)} px (NME ${(100 * warm.nme).toFixed(3)}%), ${warm.solver.iterations} iterations, flags [${warm.flags.join(', ')}]`);
    assert.notEqual(warm.quality, 'failed');
    assert.ok(!warm.flags.includes('non-finite-guarded'));
    assert.ok(warm.nme <= cold.nme + 0.01, `warm NME ${warm.nme} vs cold ${cold.nme}`);
  }
});

test("'deca+smirk' on a real portrait (our perception → DECA and SMIRK crops): as good as the cold start", { skip: missingPerception() }, async () => {
  const encDir = await encoders();
  const img = decodeImage(readFileSync(join(dataDir, 'magicportrait', 'boy_cropped.jpg')));
  const cold = await fitFlame(img, { photometric: false, overlay: false });
  const warm = await fitFlame(img, { photometric: false, overlay: false, encoder: 'deca+smirk', encoderDir: encDir });
  console.log(`# boy_cropped.jpg: cold start NME ${(100 * cold.nme).toFixed(3)}%, deca+smirk start (synthetic encoders) NME ${(100 * warm.nme).toFixed(3)}%, init ${warm.solver.ms.init.toFixed(0)} ms, flags [${warm.flags.join(', ')}]`);
  assert.equal(warm.quality, cold.quality);
  assert.ok(warm.nme <= cold.nme + 0.005, `warm ${warm.nme} vs cold ${cold.nme}`);
});

test("'deca+smirk' errors: a folder without the SMIRK graph names the file and the import command; landmarks only", async () => {
  const encDir = await encoders();
  const partial = join(dir, 'deca-only');
  mkdirSync(partial, { recursive: true });
  copyFileSync(join(encDir, DECA_ENCODER_FILE), join(partial, DECA_ENCODER_FILE));
  const demo = createDemoHead();
  const { lm68, mesh468 } = renderLandmarks(demo, randomParams(demo, 3, 30));
  await assert.rejects(fitFlame({ image: pattern(), landmarks68: lm68, mesh468 }, { model: demo, encoder: 'deca+smirk', encoderDir: partial }), (e: unknown) =>
    e instanceof MagicPortraitError && e.code === 'missing-file' && e.message.includes(join(partial, SMIRK_ENCODER_FILE)) &&
    e.message.includes(`magicportrait import-smirk SMIRK_em1.pt --out ${partial}`) && !e.message.includes(DECA_ENCODER_FILE));
  await assert.rejects(fitFlame({ width: 512, height: 512, landmarks68: lm68 }, { model: demo, encoder: 'deca+smirk', encoderDir: encDir }), (e: unknown) =>
    e instanceof MagicPortraitError && e.code === 'bad-argument' && /landmarks only/.test(e.message));
  await assert.rejects(fitFlame({ width: 512, height: 512, landmarks68: lm68 }, { model: demo, encoder: 'deca' as 'deca+smirk' }), (e: unknown) =>
    e instanceof MagicPortraitError && /unknown encoder 'deca'/.test(e.message));
});

/**
 * The 'reference' estimator preset on the synthetic FLAME / DECA / SMIRK files the importer tests use: its parameters
 * are the encoders' outputs exactly (run here on crops made independently by the spec's rules), the driving crop is
 * the first frame's (§1.1 video mode), nothing is optimised or smoothed, the maps go through JPEG q75, and a missing
 * model is named.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead, loadFlame, type FlameModelData } from '../../src/kernel/flame';
import { createImage, type Image } from '../../src/kernel/io/image';
import { fitFlame } from '../../src/kernel/fit/fit';
import { align } from '../../src/kernel/fit/align';
import { trackFlame } from '../../src/kernel/fit/track';
import { closeFitEncoders } from '../../src/kernel/fit/encoder-init';
import { missingReferenceModels, trackReference } from '../../src/kernel/fit/reference';
import { DECA_ENCODER_FILE, importDecaEncoder, splitDecaCode, type DecaEncoderArch } from '../../src/kernel/perception/deca-encoder';
import { SMIRK_ENCODER_FILE, importSmirk } from '../../src/kernel/perception/smirk-encoder';
import { decaCrop, decaCropAt, generationCrop, skimageIdentityResize, smirkCrop } from '../../src/kernel/perception/crops';
import type { Matrix3 } from '../../src/kernel/perception/warp';
import { detectFaces } from '../../src/kernel/perception/detect';
import { landmarks468, landmarks68 } from '../../src/kernel/perception/landmarks';
import { readFrames } from '../../src/kernel/io/video';
import { jpegRoundTrip } from '../../src/kernel/io/jpeg-libjpeg';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { MagicPortraitError } from '../../src/kernel/errors';
import { framingCamera, renderGuidanceSequence, sequenceFromAligned } from '../../src/kernel/pipeline/render-guidance';
import { syntheticFlameDir } from '../flame/helpers';
import { randomParams, renderLandmarks } from './synthetic';
import { dataDir, missingPerception } from './helpers';

const PFIX = join(__dirname, '..', 'perception', 'fixtures');
const TINY_DECA: DecaEncoderArch = { stem: 4, widths: [4, 8, 8, 16], blocks: [1, 1, 2, 1], hidden: 16, outDim: 236, imageSize: 224 };
const dir = mkdtempSync(join(tmpdir(), 'mp-fit-ref-'));
after(async () => {
  await closeFitEncoders();
  rmSync(dir, { recursive: true, force: true });
});

let imported: Promise<string> | null = null;
/** A model bundle laid out as the Model Manager writes it: flame/ (synthetic FLAME), deca/, smirk/ (synthetic weights). */
function bundle(): Promise<string> {
  imported ??= (async () => {
    const b = join(dir, 'bundle');
    for (const s of ['flame', 'deca', 'smirk']) mkdirSync(join(b, s), { recursive: true });
    for (const f of ['generic_model.pkl', 'landmark_embedding.npy', 'FLAME_texture.npz', 'head_template.obj']) copyFileSync(join(syntheticFlameDir(), f), join(b, 'flame', f));
    await importDecaEncoder(join(PFIX, 'deca_model_tiny.tar'), join(b, 'deca', DECA_ENCODER_FILE), TINY_DECA);
    await importSmirk(join(PFIX, 'smirk_em1_synthetic.pt'), join(b, 'smirk'));
    return b;
  })();
  return imported;
}

let flame: FlameModelData | null = null;
const flameModel = async () => (flame ??= await loadFlame(syntheticFlameDir()));

/** Byte values that scikit-image's 512 round trip changes (33, 37, …) are common in this pattern. */
function pattern(): Image {
  const im = createImage(512, 512);
  for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) for (let c = 0; c < 3; c++)
    im.data[3 * (512 * y + x) + c] = (x * (3 + c) + y * (5 - c) + ((x >> 4) ^ (y >> 4)) * 40) & 255;
  return im;
}

const t224 = (x: Float32Array) => new ort.Tensor('float32', x, [1, 3, 224, 224]);
const m3 = (T: ArrayLike<number>): Matrix3 => [[T[0]!, T[1]!, T[2]!], [T[3]!, T[4]!, T[5]!], [T[6]!, T[7]!, T[8]!]];

/** DECA and SMIRK run directly (sessions of our own) on the given crops. */
async function encoders(b: string) {
  const deca = await createSession(join(b, 'deca', DECA_ENCODER_FILE));
  const smirk = await createSession(join(b, 'smirk', SMIRK_ENCODER_FILE));
  return {
    async deca(crop: Float32Array) {
      return splitDecaCode((await deca.run({ image: t224(crop) })).code!.data as Float32Array);
    },
    async smirk(crop: Float32Array) {
      const r = await smirk.run({ image: t224(crop) });
      return { expression: r.expression!.data as Float32Array, jaw: r.jaw!.data as Float32Array };
    },
    async release() {
      await deca.release();
      await smirk.release();
    },
  };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => assert.deepEqual(Array.from(a), Array.from(b), what);

test("'reference' needs FLAME + DECA + SMIRK and lists exactly what is missing", async () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  const missing = missingReferenceModels({ bundle: empty });
  assert.equal(missing.length, 6);
  for (const f of ['generic_model.pkl', 'landmark_embedding.npy', 'FLAME_texture.npz', 'head_template.obj'])
    assert.ok(missing.some((m) => m.startsWith('FLAME:') && m.includes(join(empty, 'flame', f))), f);
  assert.ok(missing.some((m) => m.startsWith('DECA:') && m.includes(join(empty, 'deca', DECA_ENCODER_FILE)) && m.includes('import-deca')));
  assert.ok(missing.some((m) => m.startsWith('SMIRK:') && m.includes(join(empty, 'smirk', SMIRK_ENCODER_FILE)) && m.includes('import-smirk')));
  const b = await bundle();
  assert.deepEqual(missingReferenceModels({ bundle: b }), []);
  // the demo head is not FLAME; an encoder folder without SMIRK
  const decaOnly = join(dir, 'deca-only');
  mkdirSync(decaOnly, { recursive: true });
  copyFileSync(join(b, 'deca', DECA_ENCODER_FILE), join(decaOnly, DECA_ENCODER_FILE));
  const m2 = missingReferenceModels({ model: createDemoHead(), encoderDir: decaOnly });
  assert.equal(m2.length, 2);
  assert.match(m2[0]!, /^FLAME: the model given is the .*not FLAME 2020/);
  assert.ok(m2[1]!.startsWith('SMIRK:') && m2[1]!.includes(join(decaOnly, SMIRK_ENCODER_FILE)));
  await assert.rejects(fitFlame(pattern(), { preset: 'reference', bundle: empty }), (e: unknown) =>
    e instanceof MagicPortraitError && e.code === 'missing-file' && /needs FLAME, DECA and SMIRK/.test(e.message) && e.message.includes(join(empty, 'flame', 'generic_model.pkl')));
  await assert.rejects(trackFlame([pattern()], { preset: 'reference', model: createDemoHead(), encoderDir: decaOnly }), (e: unknown) =>
    e instanceof MagicPortraitError && /not FLAME 2020/.test(e.message) && e.message.includes(SMIRK_ENCODER_FILE));
  await assert.rejects(fitFlame(pattern(), { preset: 'reference', bundle: b, init: () => null }), /takes no init hook/);
});

test("reference portrait fit: DECA's shape, tex, light, camera and global rotation and SMIRK's expression and jaw, raw (DECA sees scikit-image's 512 round trip)", async () => {
  const b = await bundle();
  const model = await flameModel();
  const p = randomParams(model, 4, 25);
  const { lm68, mesh468 } = renderLandmarks(model, { ...p, shape: p.shape.slice(0, 100).map((v) => v * 0.5), expression: p.expression.slice(0, 50) });
  const image = pattern();
  const fit = await fitFlame({ image, landmarks68: lm68, mesh468 }, { preset: 'reference', bundle: b });
  assert.equal(fit.preset, 'reference');
  assert.equal(fit.modelKind, 'flame');
  // independent crops by the spec's rules: §1.2 from the 68 points on the round-tripped image, §1.3 from the mesh
  const pts68 = Array.from({ length: 68 }, (_, i) => [lm68[2 * i]!, lm68[2 * i + 1]!] as [number, number]);
  const dc = decaCrop(skimageIdentityResize(image), pts68);
  same(fit.tform, dc.tform.flat(), 'DECA crop transform');
  // FLAME has no MediaPipe table here: the mesh points are NaN and SMIRK sees the whole frame (the reference's fallback)
  const mesh = Array.from({ length: 468 }, (_, i) => [mesh468[3 * i]!, mesh468[3 * i + 1]!] as [number, number]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const enc = await encoders(b);
  const deca = await enc.deca(dc.image);
  const smirk = await enc.smirk(smirkCrop(image, mesh.length ? mesh : null).image);
  const decaNoLut = await enc.deca(decaCropAt(image, m3(dc.tform.flat())));
  await enc.release();
  same(fit.shape, deca.shape, 'shape = DECA');
  same(fit.albedo!, deca.tex, 'albedo = DECA tex');
  same(fit.light!, deca.light, 'light = DECA');
  same(fit.cam, deca.cam, 'camera = DECA');
  same(fit.pose6.subarray(0, 3), deca.pose.subarray(0, 3), 'global rotation = DECA');
  same(fit.pose6.subarray(3), smirk.jaw, 'jaw = SMIRK');
  same(fit.expression, smirk.expression, 'expression = SMIRK');
  assert.notDeepEqual(Array.from(decaNoLut.shape), Array.from(deca.shape), 'the 512 round trip changes what DECA sees');
  assert.equal(fit.solver.iterations, 0, 'nothing optimised');
  assert.equal(fit.photometric, null, 'no photometric refinement');
  // the studio preset from the same start optimises away from the encoders
  const studio = await fitFlame({ image, landmarks68: lm68, mesh468 }, { model, encoder: 'deca+smirk', encoderDir: b, photometric: false, dense: false });
  assert.equal(studio.preset, 'studio');
  assert.notDeepEqual(Array.from(studio.expression.subarray(0, 5)), Array.from(smirk.expression.subarray(0, 5)));
});

test("reference track of a real video: the first frame's crop for every frame, then DECA's rotation and SMIRK's expression and jaw per frame, raw", { skip: missingPerception() }, async () => {
  const b = await bundle();
  const video = join(dataDir, 'magicportrait', 'driving.mp4');
  const N = 5, step = 40; // frames 0, 40, 80, … : the head moves between them
  const read = { maxFrames: N, step };
  const track = await trackReference(video, { bundle: b, read });
  assert.equal(track.preset, 'reference');
  assert.equal(track.numFrames, N);
  assert.equal(track.numExpression, 50);
  assert.deepEqual(track.smoothing, { method: 'none' });
  same(track.smoothed.pose, track.raw.pose, 'no smoothing: pose');
  same(track.smoothed.expression, track.raw.expression, 'no smoothing: expression');
  const frames: Image[] = [];
  for await (const f of readFrames(video, read)) frames.push(f.image);
  const box0 = (await detectFaces(frames[0]!))[0]!.box;
  const want = generationCrop(frames[0]!, box0);
  same(track.crop.matrix, want.matrix, 'the crop transform is the first frame’s (§1.1)');
  const enc = await encoders(b);
  const J = track.numJoints;
  let moved = 0;
  for (let t = 0; t < N; t++) {
    // the first frame's transform on frame t, saved as the reference saves .jpg crops
    const crop = await jpegRoundTrip(t === 0 ? want.image : generationCrop(frames[t]!, box0).image);
    const own = (await detectFaces(frames[t]!))[0]!.box;
    const d = Math.hypot((own.x1 + own.x2 - box0.x1 - box0.x2) / 2, (own.y1 + own.y2 - box0.y1 - box0.y2) / 2);
    moved = Math.max(moved, d);
    const face = (await detectFaces(crop))[0]!;
    const lm = (await landmarks68(crop, face)).points;
    const mesh = (await landmarks468(crop, face)).points;
    const dc = decaCrop(skimageIdentityResize(crop), lm);
    const deca = await enc.deca(dc.image);
    const smirk = await enc.smirk(smirkCrop(crop, Array.from({ length: 468 }, (_, i) => [mesh[3 * i]!, mesh[3 * i + 1]!] as [number, number])).image);
    same(track.raw.tform.subarray(9 * t, 9 * t + 9), dc.tform.flat(), `frame ${t}: DECA crop`);
    same(track.raw.pose.subarray(3 * J * t, 3 * J * t + 3), deca.pose.subarray(0, 3), `frame ${t}: global rotation = DECA`);
    same(track.raw.pose.subarray(3 * J * t + 6, 3 * J * t + 9), smirk.jaw, `frame ${t}: jaw = SMIRK`);
    same(track.raw.pose.subarray(3 * J * t + 3, 3 * J * t + 6), [0, 0, 0], `frame ${t}: neck zero`);
    same(track.raw.expression.subarray(50 * t, 50 * t + 50), smirk.expression, `frame ${t}: expression = SMIRK`);
    same(track.frameShapes.subarray(100 * t, 100 * t + 100), deca.shape, `frame ${t}: DECA shape (kept, unused)`);
  }
  await enc.release();
  console.log(`# driving.mp4 frames 0…${(N - 1) * step}: the face box centre moves up to ${moved.toFixed(1)} px; every frame cropped with frame 0's transform`);
  assert.ok(moved > 5, 'the face moves, so a per-frame crop would differ');
});

test("reference alignment and guidance: parameters from the estimator unchanged, maps through JPEG q75; studio inputs refused", { skip: missingPerception() }, async () => {
  const b = await bundle();
  const model = await flameModel();
  const p = randomParams(model, 7, 20);
  const { lm68, mesh468 } = renderLandmarks(model, { ...p, shape: p.shape.slice(0, 100).map((v) => 0.5 * v), expression: p.expression.slice(0, 50) });
  const image = pattern();
  const fit = await fitFlame({ image, landmarks68: lm68, mesh468 }, { preset: 'reference', bundle: b });
  const video = join(dataDir, 'magicportrait', 'driving.mp4');
  const track = await trackFlame(video, { preset: 'reference', bundle: b, read: { maxFrames: 3 } });
  const seq = align(fit, track, { preset: 'reference' });
  assert.match(seq.variant, /official estimator/);
  assert.equal(seq.numFrames, 3);
  const J = seq.numJoints;
  for (let t = 0; t < 3; t++) {
    same(seq.pose.subarray(3 * J * t, 3 * J * (t + 1)), track.raw.pose.subarray(3 * J * t, 3 * J * (t + 1)), `pose ${t}`);
    same(seq.expression.subarray(50 * t, 50 * (t + 1)), track.raw.expression.subarray(50 * t, 50 * (t + 1)), `expression ${t}`);
    same(seq.cam.subarray(3 * t, 3 * t + 3), fit.cam, 'camera from the portrait');
  }
  same(seq.shape, fit.shape, 'shape from the portrait');
  same(seq.albedo!, fit.albedo!, 'albedo from the portrait');
  same(seq.light!, fit.light!, 'light from the portrait');
  assert.throws(() => align(fit, track, { preset: 'reference', series: 'smoothed' }), /takes no series option/);
  const studioFit = { ...fit, preset: 'studio' as const };
  assert.throws(() => align(studioFit, track, { preset: 'reference' }), /the portrait fit/);
  // the maps: the reference preset's are the lossless maps through Pillow's JPEG
  // (the synthetic DECA's camera puts the head off-screen: frame it so the maps have content to compress)
  const fseq = { ...sequenceFromAligned(seq, model), cam: framingCamera(model), tform: null };
  const lossless = await renderGuidanceSequence(fseq, { maps: ['depth', 'normal', 'render'] });
  const viaJpeg = await renderGuidanceSequence(fseq, { maps: ['depth', 'normal', 'render'], preset: 'reference' });
  for (let t = 0; t < 3; t++)
    for (const k of ['depth', 'normal', 'render'] as const) {
      const l = lossless.frames[t]![k]!;
      const want = (await jpegRoundTrip({ width: 512, height: 512, channels: 3, data: l })).data;
      assert.ok(Buffer.from(viaJpeg.frames[t]![k]!).equals(Buffer.from(want)), `${k} ${t}`);
      assert.ok(!Buffer.from(want).equals(Buffer.from(l)), `${k} ${t} changed by the JPEG`);
    }
});

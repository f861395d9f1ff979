/**
 * The model manager service on the synthetic full set (test/models/helpers.ts): scan found / missing with sizes,
 * the estimate against what the import really writes, import with 100 % key coverage (counted independently from
 * the files), incremental re-import by content hash, cancellation that leaves no complete-looking bundle.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../../src/kernel/errors';
import { MODEL_MANIFEST, STEP_RECORD, importAll, estimateScan, readModelBundle, scanModelFolders } from '../../src/kernel/models/manager';
import type { ImportAllResult, ModelConfig } from '../../src/shared/model-manager';
import { loadBundle } from '../../src/kernel/diffusion/bundle';
import { loadFlame } from '../../src/kernel/flame/model-files';
import { openTorchCheckpoint } from '../../src/kernel/io/torch-checkpoint';
import { openSafetensors } from '../../src/kernel/io/safetensors';
import { syntheticDownloads, type SyntheticDownloads } from './helpers';
import { closeFitEncoders, openDecaSmirk } from '../../src/kernel/fit/encoder-init';

let root: string;
let dl: SyntheticDownloads;
const config = (out: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ folders: { ...dl.folders }, out, architecture: dl.architecture, ...extra });

before(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-models-'));
  dl = syntheticDownloads(join(root, 'downloads'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Sizes of every file under a folder, for "nothing was rewritten" checks. */
function mtimes(dir: string, files: string[]): number[] {
  return files.map((f) => statSync(join(dir, f)).mtimeMs);
}

test('scan: every file of the full set is found with its size; missing, unset and wrong folders are reported', () => {
  const s = scanModelFolders(dl.folders);
  assert.deepEqual(s.steps.map((x) => [x.id, x.status]), [['diffusion', 'ready'], ['flame', 'ready'], ['deca', 'ready'], ['smirk', 'ready']]);
  for (const f of s.folders) {
    assert.equal(f.status, 'complete', f.id);
    for (const x of f.files.filter((y) => y.path)) assert.equal(x.bytes, statSync(x.path!).size, x.path);
  }
  const mp = s.folders.find((f) => f.id === 'magicportrait')!;
  assert.equal(mp.files.find((x) => x.name === 'motion_module*.pth')!.found, 'motion_module-47360.pth');
  const vae = s.folders.find((f) => f.id === 'vae')!;
  assert.equal(vae.files[1]!.found, 'diffusion_pytorch_model.bin', 'the .bin is taken when there is no .safetensors');
  // optional files never block: the synthetic SD folder has no special_tokens_map.json
  assert.equal(s.folders.find((f) => f.id === 'sd15')!.files.find((x) => x.name === 'tokenizer/special_tokens_map.json')!.path, undefined);

  // one missing checkpoint, one unset folder, one path that is no folder, one file path standing for its folder
  const broken = join(root, 'broken-ckpts');
  mkdirSync(broken);
  for (const n of ['denoising_unet.pth', 'guidance_encoder_depth.pth', 'guidance_encoder_normal.pth', 'guidance_encoder_render.pth', 'motion_module-47360.pth'])
    writeFileSync(join(broken, n), readFileSync(join(dl.folders.magicportrait, n)));
  const s2 = scanModelFolders({ ...dl.folders, magicportrait: broken, flame: undefined, deca: join(dl.folders.deca, 'deca_model.tar'), vae: join(root, 'nowhere') });
  const d = s2.steps.find((x) => x.id === 'diffusion')!;
  assert.equal(d.status, 'incomplete');
  assert.deepEqual(d.missing, ['MagicPortrait ckpts/: reference_unet.pth', `sd-vae-ft-mse: ${join(root, 'nowhere')} is not a folder`]);
  assert.equal(s2.steps.find((x) => x.id === 'flame')!.status, 'unset');
  assert.equal(s2.steps.find((x) => x.id === 'deca')!.status, 'ready');
  assert.equal(s2.folders.find((f) => f.id === 'deca')!.dir, dl.folders.deca);
});

let first: ImportAllResult;
const out = () => join(root, 'bundle');

test('import: the full set becomes a model bundle with 100% key coverage, counted against the files themselves', async () => {
  const est = await estimateScan(scanModelFolders(dl.folders), { architecture: dl.architecture });
  const fractions: number[] = [];
  first = await importAll(config(out()), { onProgress: (p) => fractions.push(p.fraction) });
  assert.deepEqual(first.steps.map((s) => [s.id, s.status]), [['diffusion', 'imported'], ['flame', 'imported'], ['deca', 'imported'], ['smirk', 'imported']]);
  assert.deepEqual(first.skipped, []);
  // progress is monotone from 0 to 1
  assert.equal(fractions[0], 0);
  assert.equal(fractions.at(-1), 1);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i]! >= fractions[i - 1]! - 1e-12, `progress went back at ${i}: ${fractions[i - 1]} → ${fractions[i]}`);

  // coverage: every row's key count is the file's own key count (read here with the readers), none unexpected
  for (const s of first.steps)
    for (const row of s.record.coverage.filter((r) => r.total !== undefined)) {
      const store = row.file.endsWith('.safetensors') ? await openSafetensors(row.file) : await openTorchCheckpoint(row.file);
      let keys = store.keys();
      if (row.file.endsWith('deca_model.tar')) keys = keys.filter((k) => k.startsWith('E_flame.'));
      await store.close();
      assert.equal(row.total, keys.length, row.file);
      assert.equal(row.unexpected, 0, row.file);
      assert.equal(row.used! + row.overridden! + row.ignored!, row.total, row.file);
    }
  assert.equal(first.coverage.unexpected, 0);
  assert.equal(first.coverage.accounted, first.coverage.keys);
  assert.equal(first.coverage.percent, 100);
  assert.ok(first.coverage.keys > 2000);

  // what was written loads with the runtime loaders
  const m = readModelBundle(out())!;
  assert.deepEqual(Object.keys(m.steps), ['diffusion', 'flame', 'deca', 'smirk']);
  // the bundle is an encoder folder for the 'deca+smirk' fit start as it is
  const enc = await openDecaSmirk(out());
  await closeFitEncoders();
  assert.equal(enc.dir, out());
  const b = await loadBundle(join(out(), 'diffusion'), { verify: 'hash' });
  assert.deepEqual(b.manifest.architecture, dl.architecture.diffusion);
  // the diffusion bundle names its sources with the hashes the manager computed (each file is read once)
  const hashes = new Map(m.steps.diffusion!.sources.map((x) => [x.file.split('/').pop(), x.sha256]));
  for (const role of Object.values(b.manifest.models))
    for (const s of role.sources) if (s.kind === 'checkpoint') assert.equal(s.sha256, hashes.get(s.file), s.file);
  const flame = await loadFlame(join(out(), 'flame'));
  const orig = await loadFlame(dl.folders.flame);
  assert.equal(flame.numVertices, orig.numVertices);
  assert.deepEqual(Array.from(flame.vTemplate.slice(0, 30)), Array.from(orig.vTemplate.slice(0, 30)));
  assert.ok(statSync(join(out(), 'deca', 'deca_e_flame.onnx')).size > 1000);
  // sources are named with their SHA-256
  const src = m.steps.deca!.sources[0]!;
  assert.equal(src.file, 'deca_model.tar');
  assert.equal(src.sha256, createHash('sha256').update(readFileSync(join(dl.folders.deca, 'deca_model.tar'))).digest('hex'));

  // the diffusion estimate (header-only) is close to what was written; the upper bounds are upper bounds
  const written = (id: string) => m.steps[id]!.outputs.reduce((a, o) => a + o.bytes, 0);
  const e = (id: string) => est.steps.find((s) => s.id === id)!.estimate!;
  assert.ok(e('diffusion').exact);
  const ratio = e('diffusion').diskBytes / written('diffusion');
  assert.ok(ratio > 0.9 && ratio < 1.3, `diffusion estimate ${e('diffusion').diskBytes} vs written ${written('diffusion')}`);
  assert.ok(e('flame').diskBytes >= written('flame') && e('deca').diskBytes >= written('deca'));
  const ids = ['diffusion', 'flame', 'deca', 'smirk'];
  assert.equal(est.estimate!.diskBytes, ids.reduce((a, id) => a + e(id).diskBytes, 0));
  assert.equal(est.estimate!.peakMemoryBytes, Math.max(...ids.map((id) => e(id).peakMemoryBytes)));
});

test('re-import is incremental: unchanged sources are kept, a changed file or precision redoes only its step', async () => {
  const onnx = ['diffusion/denoising_unet.onnx', 'flame/head_template.obj', 'deca/deca_e_flame.onnx'];
  const t0 = mtimes(out(), onnx);
  const again = await importAll(config(out()));
  assert.deepEqual(again.steps.map((s) => [s.id, s.status]), [['diffusion', 'unchanged'], ['flame', 'unchanged'], ['deca', 'unchanged'], ['smirk', 'unchanged']]);
  assert.deepEqual(mtimes(out(), onnx), t0, 'nothing rewritten');
  assert.equal(again.coverage.percent, 100, 'the coverage of kept steps comes from their records');

  // a changed FLAME file (still a valid OBJ) → only FLAME is re-imported, with the new file
  appendFileSync(join(dl.folders.flame, 'head_template.obj'), '# edited\n');
  const r = await importAll(config(out()));
  assert.deepEqual(r.steps.map((s) => [s.id, s.status]), [['diffusion', 'unchanged'], ['flame', 'imported'], ['deca', 'unchanged'], ['smirk', 'unchanged']]);
  assert.ok(readFileSync(join(out(), 'flame', 'head_template.obj'), 'utf8').endsWith('# edited\n'));
  const t1 = mtimes(out(), onnx);
  assert.equal(t1[0], t0[0]);
  assert.equal(t1[2], t0[2]);

  // fp16 changes the diffusion bundle only
  const h = await importAll(config(out(), { precision: 'fp16' }));
  assert.deepEqual(h.steps.map((s) => [s.id, s.status]), [['diffusion', 'imported'], ['flame', 'unchanged'], ['deca', 'unchanged'], ['smirk', 'unchanged']]);
  assert.equal((await loadBundle(join(out(), 'diffusion'))).manifest.precision.weights, 'float16');
  assert.equal(readModelBundle(out())!.precision, 'fp16');
  // a damaged output is noticed (sizes are checked) and rebuilt
  appendFileSync(join(out(), 'deca', 'deca_e_flame.onnx'), 'x');
  const d = await importAll(config(out(), { precision: 'fp16' }));
  assert.equal(d.steps.find((s) => s.id === 'deca')!.status, 'imported');
});

test('cancel: no manifest, the step being built is removed, finished steps are reused by the next import', async () => {
  const o = join(root, 'cancelled');
  const ac = new AbortController();
  await assert.rejects(
    importAll(config(o), { signal: ac.signal, onProgress: (p) => p.step === 'diffusion' && /read \d+\/\d+ tensors/.test(p.message) && ac.abort() }),
    (e: unknown) => e instanceof CancelledError,
  );
  assert.ok(!existsSync(join(o, MODEL_MANIFEST)), 'no top manifest');
  assert.ok(!existsSync(join(o, 'diffusion')), 'the half-built diffusion bundle is gone');
  assert.equal(readModelBundle(o), undefined);

  // cancelled during FLAME: diffusion finished and keeps its record, FLAME is removed, still no top manifest
  const ac2 = new AbortController();
  await assert.rejects(importAll(config(o), { signal: ac2.signal, onProgress: (p) => p.step === 'flame' && /copying/.test(p.message) && ac2.abort() }), CancelledError);
  assert.ok(!existsSync(join(o, MODEL_MANIFEST)));
  assert.ok(existsSync(join(o, 'diffusion', STEP_RECORD)) && existsSync(join(o, 'diffusion', 'manifest.json')));
  assert.ok(!existsSync(join(o, 'flame')));
  const r = await importAll(config(o));
  assert.deepEqual(r.steps.map((s) => [s.id, s.status]), [['diffusion', 'unchanged'], ['flame', 'imported'], ['deca', 'imported'], ['smirk', 'imported']]);
  assert.ok(existsSync(join(o, MODEL_MANIFEST)));
});

test('errors: nothing ready, no bundle folder, a foreign folder in the way (left untouched), a bad checkpoint', async () => {
  await assert.rejects(importAll({ folders: {}, out: join(root, 'x') }), (e: unknown) => e instanceof MagicPortraitError && /Nothing to import/.test(e.message) && /DECA: no folder given/.test(e.message));
  await assert.rejects(importAll({ folders: dl.folders }), /No bundle folder given/);
  await assert.rejects(importAll(config(join(root, 'x'), { precision: 'bf16' as 'fp16' })), /precision must be 'fp32' or 'fp16'/);
  const foreign = join(root, 'foreign');
  mkdirSync(join(foreign, 'deca'), { recursive: true });
  writeFileSync(join(foreign, 'deca', 'notes.txt'), 'mine');
  await assert.rejects(importAll({ folders: { deca: dl.folders.deca }, out: foreign, architecture: dl.architecture }), /is not a step of a model bundle/);
  assert.equal(readFileSync(join(foreign, 'deca', 'notes.txt'), 'utf8'), 'mine');
  // a truncated checkpoint fails its step, naming the file; the step folder and the manifest are not left behind
  const bad = join(root, 'bad-deca');
  mkdirSync(bad);
  writeFileSync(join(bad, 'deca_model.tar'), readFileSync(join(dl.folders.deca, 'deca_model.tar')).subarray(0, 500));
  const badOut = join(root, 'bad-out');
  await assert.rejects(importAll({ folders: { deca: bad }, out: badOut, architecture: dl.architecture }), (e: unknown) => e instanceof MagicPortraitError && /deca_model\.tar/.test(e.message));
  assert.ok(!existsSync(join(badOut, MODEL_MANIFEST)) && !existsSync(join(badOut, 'deca')));
  unlinkSync(join(bad, 'deca_model.tar'));
});

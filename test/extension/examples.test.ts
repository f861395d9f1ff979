// The example catalogue the installed extension offers (Open Example Notebook…, the walkthrough): it lists every
// notebook in notebooks/, copies one with the inputs it uses into a workspace without clobbering anything, and — run
// from such a copy, with no ../shared folder anywhere above it — every example runs to the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyExample, describeExample, inputParameters, listExamples, setParameters, starterNotebook } from '../../src/extension/examples';
import { parametersCellIndex, parseNotebook, serializeNotebook } from '../../src/kernel/notebook/nbformat';
import { repoRoot } from '../runtime/kernel-harness';

const NOTEBOOKS = join(repoRoot, 'notebooks');

test('the catalogue is every notebook in notebooks/, the quickstart first, each titled and described by its own first cell', () => {
  const examples = listExamples(NOTEBOOKS);
  assert.deepEqual(examples.map((e) => `${e.id}.mpnb`).sort(), readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.mpnb')).sort());
  assert.equal(examples[0]!.id, 'quickstart');
  assert.equal(examples[0]!.title, 'MagicPortrait quickstart');
  assert.match(examples[0]!.description, /^Each cell runs one stage of MagicPortrait .* in the MagicPortrait kernel \(TypeScript; the mp object holds the stages\)\.$/);
  assert.deepEqual(examples[0]!.inputs, [], 'the quickstart uses the built-in demo');
  for (const e of examples) {
    assert.ok(e.title && e.title !== e.id, `${e.id} has a heading`);
    assert.ok(e.description.length > 20, `${e.id} has a description`);
    // every shipped input an example names exists in the package
    for (const name of e.inputs) assert.ok(existsSync(join(NOTEBOOKS, 'inputs', name)), `${e.id}: inputs/${name}`);
  }
  const fp = examples.find((e) => e.id === 'face-perception')!;
  assert.deepEqual(fp.inputs, ['README.md', 'astronaut.jpg', 'demo-driving.mp4']);
});

test('a notebook dropped into the folder appears in the catalogue with its own title', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-examples-'));
  const nb = starterNotebook();
  nb.cells[0]!.source = '# Training a bundle\n\nFine-tunes the *GGE* on `your` clips. More text.\n\nMore.';
  writeFileSync(join(dir, 'train.mpnb'), serializeNotebook(nb));
  writeFileSync(join(dir, 'quickstart.mpnb'), readFileSync(join(NOTEBOOKS, 'quickstart.mpnb')));
  const list = listExamples(dir);
  assert.deepEqual(list.map((e) => [e.id, e.title, e.description]), [
    ['quickstart', 'MagicPortrait quickstart', listExamples(NOTEBOOKS)[0]!.description],
    ['train', 'Training a bundle', 'Fine-tunes the GGE on your clips.'],
  ]);
});

test('copying an example brings the inputs it uses, never overwrites, and keeps the user’s own files', () => {
  const ws = mkdtempSync(join(tmpdir(), 'mp-ws-'));
  const fp = describeExample(join(NOTEBOOKS, 'face-perception.mpnb'));
  const first = copyExample(fp, ws);
  assert.equal(first.notebook, join(ws, 'face-perception.mpnb'));
  assert.deepEqual(first.copied, ['README.md', 'astronaut.jpg', 'demo-driving.mp4']);
  assert.deepEqual(readFileSync(join(ws, 'inputs', 'astronaut.jpg')), readFileSync(join(NOTEBOOKS, 'inputs', 'astronaut.jpg')));
  assert.deepEqual(readFileSync(first.notebook), readFileSync(join(NOTEBOOKS, 'face-perception.mpnb')));
  writeFileSync(join(ws, 'inputs', 'demo-driving.mp4'), 'my own clip');
  const second = copyExample(fp, ws);
  assert.equal(second.notebook, join(ws, 'face-perception-2.mpnb'));
  assert.deepEqual({ copied: second.copied, present: second.present, kept: second.kept }, { copied: [], present: ['README.md', 'astronaut.jpg'], kept: ['demo-driving.mp4'] });
  assert.equal(readFileSync(join(ws, 'inputs', 'demo-driving.mp4'), 'utf8'), 'my own clip');
  assert.equal(copyExample(fp, ws).notebook, join(ws, 'face-perception-3.mpnb'));
});

test('Choose Photo and Video sets the parameters by name, keeping comments, in each example that has them', () => {
  const src = "const reference = '';   // a portrait\nconst driving = '';     // a video\nconst frameCount = 24;";
  const r = setParameters(src, { reference: 'photos/me.jpg', driving: "/abs/it's.mp4" });
  assert.deepEqual(r.set, ['reference', 'driving']);
  // the notebook's own quotes where no escape is needed
  assert.equal(r.source, "const reference = 'photos/me.jpg';   // a portrait\nconst driving = \"/abs/it's.mp4\";     // a video\nconst frameCount = 24;");
  assert.equal(setParameters('let n = 1', { n: 2 }).source, 'let n = 2;');
  const found = listExamples(NOTEBOOKS).map((e) => {
    const p = inputParameters(parseNotebook(readFileSync(e.file, 'utf8')));
    return [e.id, p?.photo ?? null, p?.video ?? null];
  });
  for (const [id, photo, video] of [['quickstart', 'reference', 'driving'], ['face-perception', 'portrait', 'drivingVideo'], ['reenact', 'reference', 'driving'], ['attention', 'reference', 'driving']])
    assert.deepEqual(found.find((f) => f[0] === id), [id, photo, video]);
  assert.equal(inputParameters(starterNotebook())!.photo, 'reference');
});

/**
 * Smaller settings for the examples this repository ships, so the whole catalogue runs in a few minutes; a notebook
 * without an entry (e.g. one just added) runs with its own defaults.
 */
const QUICKER: Record<string, Record<string, unknown>> = {
  quickstart: { frameCount: 8, steps: 2 },
  attention: { frameCount: 2 },
  reenact: { maxFrames: 8, steps: 2 },
  metrics: { maxFrames: 8 },
  'face-perception': { maxFrames: 12 },
  'reference-vs-studio': { maxFrames: 6, steps: 2 },
  data: { maxFrames: 8, frames: 8 },
  // a few steps of each part: the trainer as a child process, its checkpoints imported and sampled
  train: { identities: 4, vaeSteps: 4, stage1Steps: 6, stage2Steps: 2, validateEvery: 3, sampleSteps: 2 },
};

test('every example runs to the end from a copy in a fresh workspace, with no ../shared folder anywhere', { timeout: 900_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'mp-standalone-'));
  const ws = join(root, 'a', 'b', 'ws');
  mkdirSync(ws, { recursive: true });
  const cache = join(root, 'cache');
  const failures: string[] = [];
  for (const example of listExamples(NOTEBOOKS)) {
    const { notebook } = copyExample(example, ws);
    const nb = parseNotebook(readFileSync(notebook, 'utf8'));
    const params = QUICKER[example.id] ?? {};
    const declared = nb.cells[parametersCellIndex(nb)]?.source ?? '';
    for (const k of Object.keys(params)) assert.match(declared, new RegExp(`const ${k} =`), `${example.id} declares ${k}`);
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      ['--import', pathToFileURL(require.resolve('tsx')).href, join(repoRoot, 'src/kernel/cli/main.ts'), 'run', notebook, '--out', join(root, 'out'), ...Object.entries(params).flatMap(([k, v]) => ['-p', `${k}=${JSON.stringify(v)}`])],
      { cwd: ws, encoding: 'utf8', env: { ...process.env, MAGICPORTRAIT_CACHE: cache }, timeout: 600_000 },
    );
    console.log(`${example.id}: exit ${r.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (r.status !== 0) failures.push(`${example.id}: ${r.stderr.split('\n').filter((l) => /failed|Error/.test(l)).slice(-3).join(' | ')}`);
    else {
      const done = parseNotebook(readFileSync(join(root, 'out', `${example.id}.mpnb`), 'utf8'));
      const code = done.cells.filter((c) => c.kind === 'code' && c.source.trim());
      assert.ok(code.every((c) => c.executionCount !== null && !c.outputs.some((o) => o.kind === 'error')), `${example.id}: every code cell ran`);
    }
  }
  assert.deepEqual(failures, []);
  assert.ok(!existsSync(join(root, 'a', 'shared')) && !existsSync(join(root, 'shared')), 'no shared data folder was reachable');
});

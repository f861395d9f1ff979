import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { fitFlame } from '../../src/kernel/fit/fit';
import { trackFlame } from '../../src/kernel/fit/track';
import { align } from '../../src/kernel/fit/align';
import { alignedView, fitOverlayView, trackPlot } from '../../src/kernel/pipeline/fit-display';
import { ArtifactStore } from '../../src/kernel/runtime/artifacts';
import { DISPLAY, type Displayable } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import type { FramesOutput } from '../../src/shared/outputs';
import { mp } from '../../src/kernel/mp';
import { dataDir, missingPerception } from './helpers';
import { randomParams, renderLandmarks, syntheticVideo } from './synthetic';

const model = createDemoHead();
const dir = mkdtempSync(join(tmpdir(), 'mp-fit-display-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ctx = { artifacts: new ArtifactStore(dir) };
const show = async (d: Displayable) => d[DISPLAY](ctx);

test('fit overlay display: input and overlay frames, title with NME and quality, demo-head label', async () => {
  const truth = randomParams(model, 6, 20);
  const { lm68, mesh468 } = renderLandmarks(model, truth);
  const image = { width: 512, height: 512, channels: 3 as const, data: new Uint8Array(512 * 512 * 3).fill(90) };
  const fit = await fitFlame({ image, landmarks68: lm68, mesh468 }, { model });
  assert.ok(fit.overlay);
  // the overlay differs from the input where the wireframe and landmarks are drawn
  let changed = 0;
  for (let i = 0; i < image.data.length; i++) if (fit.overlay!.data[i] !== image.data[i]) changed++;
  assert.ok(changed > 5000, `${changed} changed values`);
  const b = await show(fitOverlayView(fit, image));
  const out = b[MIME.frames] as FramesOutput;
  assert.deepEqual(out.tracks.map((t) => t.name), ['input', 'fit overlay']);
  assert.equal(out.label, 'demo head — not FLAME');
  assert.match(out.title, /NME \d+\.\d+%/);
});

test('track plot: four plotly figures, raw and smoothed traces, jitter in the title', async () => {
  const { frames } = syntheticVideo(model, 16, { lost: [3] });
  const track = await trackFlame(frames, { model, fps: 25 });
  const b = await show(trackPlot(track, { model }));
  const p = b[MIME.plot] as { title: string; label: string; figures: { data: { name: string; y: unknown[] }[]; layout: { title: { text: string } } }[] };
  assert.equal(p.figures.length, 4);
  assert.deepEqual(p.figures.map((f) => f.layout.title.text), ['Head rotation', 'Jaw and expressions', 'Camera (DECA s, tx, ty)', '68-landmark NME per frame']);
  assert.ok(p.figures[0]!.data.some((d) => d.name === 'yaw (raw)') && p.figures[0]!.data.some((d) => d.name === 'yaw'));
  assert.ok(p.figures[1]!.data.some((d) => d.name === 'smile'));
  assert.equal(p.figures[0]!.data[0]!.y.length, 16);
  assert.match(p.title, /jitter pose \(global \+ jaw\) −\d+%/);
  assert.doesNotThrow(() => JSON.stringify(p));
  assert.ok(!JSON.stringify(p).includes('NaN'));
});

test('aligned sequence in the scrubber: driving frames (re-read from the video) beside the aligned model', { skip: missingPerception() }, async () => {
  const truth = randomParams(model, 7, 10);
  const { lm68, mesh468 } = renderLandmarks(model, truth);
  const reference = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, { model });
  const { frames } = syntheticVideo(model, 6);
  const track = { ...(await trackFlame(frames, { model, fps: 25 })), source: join(dataDir, 'liveportrait', 'd0.mp4') };
  const seq = align(reference, track);
  const b = await show(alignedView(seq, { model, maxFrames: 4 }));
  const out = b[MIME.frames] as FramesOutput;
  assert.deepEqual(out.tracks.map((t) => [t.name, t.frames.length, t.width]), [['driving', 4, 512], ['aligned', 4, 512]]);
  assert.match(out.title, /reference code/);
});

test('mp facade: mp.fit exposes portrait / track / smooth / align / overlay / plot / view / dense', () => {
  for (const k of ['portrait', 'track', 'smooth', 'align', 'overlay', 'plot', 'view'] as const) assert.equal(typeof mp.fit[k], 'function');
  assert.ok(mp.fit.dense.demo(model), 'the demo head has its MediaPipe table');
});

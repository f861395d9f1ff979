import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'fflate';
import type { Image } from '../../src/kernel/io/image';
import { evaluate, resultFromJson, resultToJson } from '../../src/kernel/metrics/evaluate';
import { MetricsReport } from '../../src/kernel/pipeline/metrics';
import { psnr, ssim } from '../../src/kernel/metrics/image';
import { Lpips } from '../../src/kernel/metrics/nets/lpips';
import { DISPLAY } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import { mp } from '../../src/kernel/mp';
import { dataDir, fixtures } from './helpers';
import { readFrames } from '../../src/kernel/io/video';

const D = (rel: string) => join(dataDir, rel);
const gz = (name: string) => gunzipSync(readFileSync(join(fixtures, name)));

test('self-reenactment sanity: the driving video against itself is PSNR ∞, SSIM 1, LPIPS 0, CSIM high', async () => {
  const lpips = await Lpips.load({ linear: gz('lpips_alex_lin.pth.gz'), backbone: gz('lpips_alex_backbone.pth.gz') });
  const r = await evaluate(D('magicportrait/driving.mp4'), D('magicportrait/driving.mp4'), { reference: D('magicportrait/driving.mp4'), step: 30, maxFrames: 3, lpips });
  await lpips.dispose();
  assert.equal(r.mode, 'self');
  assert.equal(r.frames, 3);
  assert.deepEqual(r.frameIndices, [0, 30, 60]);
  assert.equal(r.summary.psnr, Infinity);
  assert.equal(r.summary.ssim, 1);
  assert.equal(r.summary.lpips, 0);
  assert.ok(r.summary.csim! > 0.95, `csim ${r.summary.csim}`);
  assert.match(r.absent.fid!, /no FID feature network/);
  assert.match(r.absent.fvd!, /I3D/);
  assert.match(r.absent.apd!, /no FLAME parameter sequences/);
  // JSON round trip keeps ∞
  const back = resultFromJson(JSON.parse(JSON.stringify(resultToJson(r))));
  assert.equal(back.summary.psnr, Infinity);
  assert.deepEqual(back.perFrame.ssim, r.perFrame.ssim);
});

test('per-frame values equal the frame metrics; cross mode has only CSIM / APD / AED; FLAME sequences subsampled like the frames', async () => {
  const frames = async (rel: string) => {
    const out: Image[] = [];
    for await (const f of readFrames(D(rel), { step: 10, maxFrames: 2 })) out.push(f.image);
    return out;
  };
  const [g, t] = [await frames('liveportrait/d0.mp4'), await frames('liveportrait/d3.mp4')];
  const pose = Array.from({ length: 40 }, (_, f) => [f / 100, 0, 0, 0, 0, 0]);
  const expr = Array.from({ length: 40 }, (_, f) => [f / 10, 0]);
  const flame = { generated: { pose, expression: expr }, driving: { pose: pose.map((p) => p.map(() => 0)), expression: expr.map(() => [0, 0]) } };
  const r = await evaluate(D('liveportrait/d0.mp4'), D('liveportrait/d3.mp4'), { step: 10, maxFrames: 2, flame });
  assert.deepEqual(r.frameIndices, [0, 10]);
  assert.deepEqual(r.perFrame.psnr, [psnr(g[0]!, t[0]!), psnr(g[1]!, t[1]!)]);
  assert.deepEqual(r.perFrame.ssim, [ssim(g[0]!, t[0]!), ssim(g[1]!, t[1]!)]);
  // frames 0 and 10 of the sequences: APD = mean(|f/100|/3), AED = mean(|f/10|/2)
  assert.ok(Math.abs(r.summary.apd! - (0 + 10 / 100 / 3) / 2) < 1e-12);
  assert.ok(Math.abs(r.summary.aed! - (0 + 10 / 10 / 2) / 2) < 1e-12);
  assert.match(r.absent.csim!, /no reference image/);

  const cross = await evaluate(g, t, { mode: 'cross', reference: t[0], flame });
  assert.equal(cross.summary.psnr, undefined);
  assert.match(cross.absent.psnr!, /cross-reenactment/);
  assert.ok(cross.summary.csim! < 0.9);
  assert.ok(cross.summary.apd! >= 0);
});

test('mp.metrics returns a report whose display is a plot bundle: per-frame curves, summary table, bars beside the paper', async () => {
  const report = await mp.metrics('../shared/data/liveportrait/d0.mp4', '../shared/data/liveportrait/d0.mp4', { reference: '../shared/data/liveportrait/s1.jpg', maxFrames: 2, step: 5, title: 'sanity' });
  assert.ok(report instanceof MetricsReport);
  const bundle = report[DISPLAY]() as Record<string, unknown>;
  const plot = bundle[MIME.plot] as { title: string; figures: { data: { type: string; y?: unknown[] }[]; layout: Record<string, unknown> }[] };
  assert.equal(plot.title, 'sanity');
  const types = plot.figures.map((f) => f.data.map((d) => d.type).join(','));
  assert.deepEqual(types.length, 4);
  assert.match(types[0]!, /scatter/);
  assert.equal(types[1], 'table');
  // the paper's Table I with this run as its first row, then bars of what both report (CSIM here)
  assert.equal(types[2], 'table');
  assert.match(types[3]!, /bar/);
  // the identical-frame PSNR (∞) is not drawn; all JSON is finite
  const json = JSON.stringify(plot);
  assert.ok(!/Infinity|NaN/.test(json));
  const table = plot.figures[2]! as unknown as { data: { cells: { values: string[][] } }[]; layout: Record<string, unknown> };
  const [methods, csim] = table.data[0]!.cells.values;
  assert.equal(methods!.length, 9);
  assert.match(methods![0]!, /this run/);
  assert.equal(csim![0], report.summary.csim!.toFixed(4));
  assert.equal(methods![8], 'MagicPortrait');
  assert.equal(csim![8], '0.9102');
  assert.match(JSON.stringify(table.layout).replaceAll('<br>', ' '), /Table I of M\. Wei.*SMIRK pose parameters \(APD\) and EMOCA expression features/);
  const bars = plot.figures[3]!.data as unknown as { name: string; y: number[] }[];
  assert.deepEqual(bars.find((b) => /MagicPortrait — paper/.test(b.name))!.y, [0.9102]);
  assert.match(bundle['text/plain'] as string, /PSNR\s+∞/);
});

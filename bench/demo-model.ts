/**
 * `npm run bench -- demo-model`: every quality figure of the committed demo model (training/demo-model/, issue #17)
 * through our ONNX sampler on held-out test-split identities regenerated from its training dataset's synth-data
 * settings (src/kernel/diffusion/quality.ts): (a) self-reenactment PSNR / SSIM beside the untrained tiny bundle and the
 * VAE ceiling, (a′) the same at the user's output size (512²: the sampler's resizes included), (b) cross-reenactment,
 * (c) guidance zeroed, (d) another identity's reference, (e) temporal error of stage 2 vs the stage-1 model,
 * (f) PyTorch ↔ ours final latents, (g) the trained guidance encoders' attention on the face, (h) float16 vs float32
 * decoded frames. test/diffusion/demo-model.test.ts asserts the thresholds on fewer clips.
 *
 *   MP_DEMO_CLIPS (default 6), MP_DEMO_FRAMES (24), MP_DEMO_STEPS (20), MP_DEMO_MODEL (another demo-model folder)
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoModel } from '../src/kernel/diffusion/demo-model';
import { tinyBundle } from '../src/kernel/diffusion/bundle';
import { attentionShare, heldOutClips, outputSizeFigures, pytorchParity, qualityFigures, readClip, trainingDataSettings } from '../src/kernel/diffusion/quality';
import { fp16Check } from '../src/kernel/diffusion/fp16-check';
import { loadText } from './machine';
import { printRows, type BenchRow } from './types';

const f2 = (x: number) => x.toFixed(2);
/** The verdict printed beside a target. */
const verdict = (ok: boolean) => (ok ? 'MEETS the target' : 'BELOW the target');

export async function benchDemoModel(): Promise<BenchRow[]> {
  const clipsN = Number(process.env.MP_DEMO_CLIPS ?? 6);
  const frames = Number(process.env.MP_DEMO_FRAMES ?? 24);
  const steps = Number(process.env.MP_DEMO_STEPS ?? 20);
  const dir = process.env.MP_DEMO_MODEL;
  const log = (m: string) => console.error(`  ${m}`);
  const model = await demoModel(dir ? { dir } : {});
  const stage1 = await demoModel({ ...(dir ? { dir } : {}), variant: 'stage1' });
  const untrained = await tinyBundle(join(tmpdir(), 'mp-bench-tiny-bundle'));
  const data = trainingDataSettings(model.provenance, model.source);
  const clips = await heldOutClips(data, join(tmpdir(), `mp-demo-heldout-${data.seed}-${data.identities}-${data.clips}-${data.frames}-${data.size}`), clipsN, { onProgress: log });
  const t0 = performance.now();
  const q = await qualityFigures(model, clips, { frames, steps, untrained, stage1, onProgress: log });
  const msQ = performance.now() - t0;
  const rows: BenchRow[] = [];
  const row = (name: string, target: string, note: string, oursMs = NaN, refMs?: number, ref?: string) =>
    rows.push({ area: 'demo-model', name, oursMs, ...(refMs !== undefined ? { refMs } : {}), ...(ref ? { ref } : {}), target, note });
  const where = `${q.clips.length} held-out test clips (${q.clips.join(', ')}), ${q.settings.frames} frames, ${q.settings.steps} steps, CFG ${q.settings.guidanceScale}`;
  const label = `${model.label}${(model.provenance as { stand_in?: string } | undefined)?.stand_in ? ' — PILOT stand-in' : ''}`;
  row('(a) self-reenactment PSNR / SSIM', 'PSNR ≥ 24 dB, SSIM ≥ 0.85', `${verdict(q.self.psnr >= 24 && q.self.ssim >= 0.85)}: ${f2(q.self.psnr)} dB / ${q.self.ssim.toFixed(3)}; untrained tiny bundle ${q.untrained ? `${f2(q.untrained.psnr)} dB / ${q.untrained.ssim.toFixed(3)}` : '—'}; VAE reconstruction ceiling ${f2(q.vae.psnr)} dB / ${q.vae.ssim.toFixed(3)}; ${where}; ${label}`, msQ);
  row('(b) cross-reenactment PSNR / SSIM', 'closer to A-with-B\'s-motion than to B', `${verdict(q.cross.closerPairs === q.cross.pairs)}: vs A driven by B: ${f2(q.cross.psnr)} dB / ${q.cross.ssim.toFixed(3)}; vs B's frames: ${f2(q.cross.againstDriving.psnr)} dB / ${q.cross.againstDriving.ssim.toFixed(3)}; closer in ${q.cross.closerPairs}/${q.cross.pairs} pairs`);
  row('(c) guidance zeroed', 'PSNR falls ≥ 6 dB', `${verdict(q.zeroed.drop >= 6)}: ${f2(q.zeroed.psnr)} dB / ${q.zeroed.ssim.toFixed(3)}: −${f2(q.zeroed.drop)} dB`);
  row('(d) reference of another identity', 'closer to that identity\'s ground truth', `${verdict(q.swapped.closerPairs === q.swapped.pairs)}: vs that identity driven by the clip: ${f2(q.swapped.psnr)} dB; vs the clip's own frames: ${f2(q.swapped.againstOwn.psnr)} dB; closer in ${q.swapped.closerPairs}/${q.swapped.pairs}`);
  row('(e) temporal error (8-bit, |Δout − Δgt|)', 'stage 2 < stage 1 only', `${verdict(q.temporal.stage1 !== undefined && q.temporal.stage2 < q.temporal.stage1)}: stage 2 ${q.temporal.stage2.toFixed(3)}, stage 1 + identity motion modules ${q.temporal.stage1?.toFixed(3)}; ground-truth motion ${q.temporal.groundTruthMotion.toFixed(3)}`);
  // the same identities rendered at the user's size: the sampler resizes the inputs in and its output back out
  const big = await heldOutClips({ ...data, size: 512 }, join(tmpdir(), `mp-demo-heldout-${data.seed}-${data.identities}-${data.clips}-${data.frames}-512`), clipsN, { onProgress: log });
  const t1 = performance.now();
  const o = await outputSizeFigures(model, big, { frames, steps, onProgress: log });
  row(`(a′) self-reenactment at ${o.size}² (mp.sample's output size)`, 'PSNR ≥ 24 dB, SSIM ≥ 0.85; zeroed drop ≥ 6 dB', `${verdict(o.self.psnr >= 24 && o.self.ssim >= 0.85)}: ${f2(o.self.psnr)} dB / ${o.self.ssim.toFixed(3)}; guidance zeroed ${f2(o.zeroed.psnr)} dB / ${o.zeroed.ssim.toFixed(3)}: −${f2(o.zeroed.drop)} dB (${verdict(o.zeroed.drop >= 6)}); the same identities and frames as (a), rendered at ${o.size}²`, performance.now() - t1);
  for (const c of q.perClip)
    row(`    ${c.clip}`, '', `self ${f2(c.self.psnr)} dB / ${c.self.ssim.toFixed(3)}, cross ${f2(c.cross.psnr)} (vs B ${f2(c.crossVsDriving.psnr)}), zeroed ${f2(c.zeroed.psnr)}, swapped ${f2(c.swapped.psnr)} (vs own ${f2(c.swappedVsOwn.psnr)})`);
  try {
    const p = await pytorchParity(model, model.source, clips[0]!, { frames: Math.min(12, frames), steps, tmp: join(tmpdir(), `mp-demo-parity-${process.pid}`), onProgress: log });
    row('(f) PyTorch ↔ ours, final latents (fp32)', 'relative ≤ 1e-3', `${verdict(p.relative <= 1e-3)}: ${p.relative.toExponential(2)} on ${p.frames} frames, ${p.steps} steps; ${p.python}`, p.ms.ours, p.ms.pytorch, 'the trainer\'s PyTorch sampler');
  } catch (e) {
    row('(f) PyTorch ↔ ours', 'relative ≤ 1e-3', `not measured: ${(e as Error).message}`);
  }
  const att = await attentionShare(model.gge, clips[0]!, model.manifest.architecture.imageSize, { frames: 4 });
  row('(g) attention on the face (trained GGE)', 'reported', att.map((a) => `${a.type}: ${(100 * a.faceShare).toFixed(1)} % of the mass on the face, face = ${(100 * a.areaShare).toFixed(1)} % of the ${a.grid.width}×${a.grid.height} cells`).join('; '));
  const c0 = readClip(clips[0]!, Math.min(12, frames));
  const h = await fp16Check(model, { frames: c0.images.length, steps, reference: c0.images[0]!, guidance: { maps: c0.maps } });
  row('(h) float16 vs float32 decoded frames', 'PSNR ≥ 40 dB', `${verdict(h.minPsnr >= 40)}: mean ${f2(h.meanPsnr)} dB, min ${f2(h.minPsnr)} dB; ${h.providers.float16.toString().replace(/\n/g, '; ')}`, h.ms.float16, h.ms.float32, 'the float32 run');
  rows.push({ area: 'demo-model', name: 'machine', oursMs: NaN, note: `load ${loadText()}; demo model ${model.source} (${model.key})` });
  return rows;
}

if (require.main === module) void benchDemoModel().then(printRows);

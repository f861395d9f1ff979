/**
 * Guidance-map rendering benchmarks (src/kernel/render), with the independent numpy reference
 * (test/render/golden/raster_reference.py, run with /usr/bin/python3) timed in the same run.
 *   node --import tsx bench/render.ts
 *
 * Mesh: the FLAME-sized synthetic head of the golden fixtures (5023 vertices, 9976 faces), frontal, in the crop
 * frame at 512×512, covering ~40 % of the image (as the face does in the reference's 512 crop).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { GuidanceRenderer, type GuidanceFrame, type GuidanceMaps } from '../src/kernel/render/guidance-maps';
import { RenderPool, renderSequence } from '../src/kernel/render/sequence';
import { albedoPattern, loadDemoCases, loadSyntheticCases, loadSyntheticMesh } from '../test/render/fixtures';
import { median, printRows, timeIt, type BenchRow } from './types';

const root = join(__dirname, '..');
const PY = '/usr/bin/python3';
const REF_SCRIPT = join(root, 'test/render/golden/raster_reference.py');

/** The numpy reference's time for one frame (all three maps), or why it could not run. */
function numpyFrame(): { ms: number | null; ref: string; note?: string } {
  if (!existsSync(PY)) return { ms: null, ref: 'numpy', note: `${PY} not found: reference not run` };
  const r = spawnSync(PY, [REF_SCRIPT, '--bench', '3'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return { ms: null, ref: 'numpy', note: `reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number; numpy: string };
  return { ms: out.ms, ref: `numpy ${out.numpy} (fragment-list rasteriser, best of 3)` };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

/** How fast this machine runs a trivial typed-array loop right now (ns per element): context for the numbers. */
function calibrate(): number {
  const n = 1 << 20, a = new Float64Array(n), b = new Float64Array(n).fill(1.5);
  const t: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) a[i] = b[i] * 2 + a[i];
    t.push(performance.now() - t0);
  }
  return (Math.min(...t) * 1e6) / n;
}

export async function benchRender(): Promise<BenchRow[]> {
  const mesh = loadSyntheticMesh();
  const cases = loadSyntheticCases();
  const cs = cases.find((c) => c.name === 'frontal_crop')!;
  const assets = { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo: albedoPattern(), light: cs.light };
  const opts = { cam: cs.cam, maps: ['depth', 'normal', 'render'] as const };
  const rows: BenchRow[] = [];
  const calib = calibrate();
  const load = loadavg()[0].toFixed(1);
  const machine = `${availableParallelism()} cores, load ${load}; trivial loop ${calib.toFixed(2)} ns/elem`;

  // one frame, single thread; the output buffers are recycled (`out`), as a consumer that encodes each frame does
  const r = new GuidanceRenderer(assets, opts);
  const frame: GuidanceFrame = { verts: cs.verts };
  const maps: GuidanceMaps = r.render(frame);
  for (let i = 0; i < 30; i++) r.render(frame, maps); // JIT warm-up
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    r.render(frame, maps);
    times.push(performance.now() - t0);
  }
  const frameMs = median(times), frameMin = Math.min(...times), frameCpu = cpuMs(cpu0) / 40;
  const ref = numpyFrame();
  rows.push({
    area: 'render', name: '1 frame 512², depth+normal+render, FLAME-sized mesh, 1 thread', oursMs: frameMs,
    refMs: ref.ms, ref: ref.ref, target: '≤ 8 ms',
    note: [ref.note, `median of 40; min ${frameMin.toFixed(1)} ms; CPU ${frameCpu.toFixed(1)} ms/frame; output buffers recycled`, `${maps.covered} px covered`, machine].filter(Boolean).join('; '),
  });
  const px = maps.width * maps.height;
  rows.push({
    area: 'render', name: 'fill rate (same frame)', oursMs: frameMs,
    note: `${(px / frameMs / 1e3).toFixed(1)} Mpx/s of output, ${(maps.covered / frameMs / 1e3).toFixed(1)} Mpx/s shaded` +
      (ref.ms ? `; numpy ${(px / ref.ms / 1e3).toFixed(2)} Mpx/s of output` : ''),
  });
  const rasterMs = await timeIt(() => r.raster.rasterize(r['rasterVerts'] as Float32Array, r['faces'] as Int32Array, { altZOffset: -10, resolve: false }), 40, 5);
  rows.push({ area: 'render', name: '  of which rasterisation (both z passes)', oursMs: rasterMs });
  const freshMs = await timeIt(() => r.render(frame), 20, 3);
  rows.push({ area: 'render', name: '1 frame as above, fresh output buffers each frame', oursMs: freshMs, note: 'allocation and first-touch page faults of 3 × 768 KiB' });

  // the built-in demo head, placed in the 512 image with a tform (the reference's layout)
  {
    const demo = loadDemoCases();
    const dc = demo?.cases.find((c) => c.tform);
    if (demo && dc) {
      const dr = new GuidanceRenderer({ faces: demo.faces, uvCoords: demo.uvCoords, uvFaces: demo.uvFaces, albedo: demo.albedo, light: dc.light }, { ...opts, cam: dc.cam, tform: dc.tform });
      const dm = dr.render({ verts: dc.verts });
      for (let i = 0; i < 20; i++) dr.render({ verts: dc.verts }, dm);
      const ms = await timeIt(() => dr.render({ verts: dc.verts }, dm), 30, 3);
      rows.push({ area: 'render', name: `1 frame 512², 3 maps, demo head (${dc.verts.length / 3} v / ${demo.faces.length / 3} f), tform`, oursMs: ms, target: '≤ 8 ms', note: `${dm.covered} px covered` });
    }
  }

  // 240 frames on the worker pool
  const N = 240;
  const frames: GuidanceFrame[] = Array.from({ length: N }, (_, i) => ({ verts: cases[i % cases.length].verts }));
  const workers = Math.min(2, availableParallelism());
  const seqOpts = { ...opts, assets, workers, keep: false, onFrame: () => undefined };
  let t0 = performance.now();
  let c0 = process.cpuUsage();
  const cold = await renderSequence(frames, seqOpts);
  const coldMs = performance.now() - t0;
  const coldCpu = cpuMs(c0);
  rows.push({
    area: 'render', name: `240 frames, ${workers} workers, cold (incl. worker start)`, oursMs: coldMs, target: '≤ 1.5 s',
    note: `mode ${cold.mode}${cold.reason ? ` (${cold.reason})` : ''}; maps handed to onFrame, not kept (their buffers go back to the workers); process CPU ${(coldCpu / N).toFixed(1)} ms/frame (all threads)`,
  });
  const pool = new RenderPool(workers);
  try {
    await pool.warm();
    await renderSequence(frames.slice(0, 8), { ...seqOpts, pool });
    const warm: number[] = [];
    c0 = process.cpuUsage();
    for (let k = 0; k < 2; k++) {
      t0 = performance.now();
      await renderSequence(frames, { ...seqOpts, pool });
      warm.push(performance.now() - t0);
    }
    const warmCpu = cpuMs(c0) / 2;
    rows.push({
      area: 'render', name: `240 frames, ${workers} workers, warm pool`, oursMs: median(warm), target: '≤ 1.5 s',
      note: `${(median(warm) / N).toFixed(1)} ms per frame; process CPU ${(warmCpu / N).toFixed(1)} ms/frame (all threads); wall ≈ CPU/${workers} only when ${workers} cores are free`,
    });
  } finally {
    await pool.close();
  }
  t0 = performance.now();
  for (const f of frames) r.render(f, maps);
  const serialMs = performance.now() - t0;
  rows.push({
    area: 'render', name: '240 frames, 1 thread (same frames)', oursMs: serialMs,
    note: ref.ms !== null ? `numpy reference not run for 240 frames (240 × its single frame ≈ ${((ref.ms * N) / 1000).toFixed(0)} s)` : undefined,
  });
  return rows;
}

if (require.main === module) void benchRender().then(printRows);

/**
 * One measured run of bench/prepare.ts in a fresh process (so its CPU time and peak RSS are its own):
 *   node --import tsx bench/prepare-child.ts MODE JSON_OPTIONS
 * MODE: synth | real | track (reference: the tracker alone over the same frames) | synth-ref (reference: the same
 * synthetic frames through mp.renderGuidance's render pool + pngjs on the main thread). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { createDemoHead } from '../src/kernel/flame';
import { generateSynthetic } from '../src/kernel/data/synth/generate';
import { prepareData } from '../src/kernel/data/prepare';
import { synthClip, synthIdentity } from '../src/kernel/data/synth/params';
import { drawBackground } from '../src/kernel/data/synth/background';
import { compositeOver } from '../src/kernel/data/frame-renderer';
import { trackFlame } from '../src/kernel/fit/track';
import { listSources, sourceFrames } from '../src/kernel/data/sources';
import { renderSequence } from '../src/kernel/render/sequence';
import { flameForward, flameTexAlbedo, prepareFlame } from '../src/kernel/flame';
import { orthProject } from '../src/kernel/render/vertex-placement';

/** CPU seconds of exited child processes (ffmpeg), from /proc/self/stat (USER_HZ = 100). */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) * 10; // cutime, cstime (fields 16, 17)
}
const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  const o = JSON.parse(json!) as Record<string, unknown>;
  const cpu0 = process.cpuUsage(), ch0 = childrenCpuMs(), t0 = performance.now();
  let result: Record<string, unknown> = {};
  if (mode === 'synth') {
    const s = await generateSynthetic(o as never);
    result = { frames: s.frames, stages: s.perFrameMs, workers: s.workers };
  } else if (mode === 'real') {
    const s = await prepareData(o as never);
    result = { frames: s.framesRead, kept: s.framesKept, times: s.times, clips: s.clips.map((c) => `${c.source}: ${c.status} ${c.kept}/${c.read}`) };
  } else if (mode === 'track') {
    let frames = 0;
    for (const s of listSources(String(o.videos)).sources) {
      const t = await trackFlame(sourceFrames(s, Number(o.maxFrames ?? Infinity), () => {}), {});
      frames += t.numFrames;
    }
    result = { frames };
  } else if (mode === 'synth-ref') {
    // the same frames through the render pool of mp.renderGuidance (2 workers, maps back to this thread), composed and
    // written with pngjs here: what preparing a synthetic set costs without the data pool
    const model = createDemoHead();
    const size = Number(o.size), E = model.numExpression, J = model.numJoints;
    let frames = 0;
    for (let i = 0; i < Number(o.identities); i++) {
      const id = synthIdentity(model, Number(o.seed), i);
      for (let c = 0; c < Number(o.clips); c++) {
        const sc = synthClip(model, { seed: Number(o.seed), identity: id, clip: c, frames: Number(o.frames), size, fps: 25 });
        const p = sc.params, F = Number(o.frames);
        const prep = prepareFlame(model, { numShape: p.shape.length, numExpression: E });
        const shape = new Float32Array(F * p.shape.length);
        for (let k = 0; k < F; k++) shape.set(p.shape, k * p.shape.length);
        const out = flameForward(prep, { batchSize: F, shape, expression: p.expression, pose: p.pose });
        const V3 = model.numVertices * 3;
        // per-frame cameras: the projection is done here (the pool takes one camera per sequence)
        const geometry = Array.from({ length: F }, (_, k) => {
          const verts = Float32Array.from(out.vertices.subarray(k * V3, (k + 1) * V3));
          return { verts, transVerts: orthProject(verts, p.cam.subarray(3 * k, 3 * k + 3)) };
        });
        const albedo = Float32Array.from(flameTexAlbedo(model.texture!, p.albedo, 1));
        const bg = drawBackground(sc.background, size);
        await renderSequence(geometry, {
          assets: { faces: model.faces, uvCoords: Float32Array.from(model.uv!.uvs), uvFaces: model.uv!.uvFaces, albedo, light: p.light },
          width: size, height: size, tform: p.tform, maps: ['depth', 'normal', 'render', 'mask'], workers: 2, keep: false,
          onFrame: (_k, m) => {
            const photo = compositeOver(m, bg);
            for (const data of [photo, m.depth!, m.normal!, m.render!]) {
              const png = new PNG({ width: size, height: size });
              for (let q = 0; q < size * size; q++) { png.data[4 * q] = data[3 * q]!; png.data[4 * q + 1] = data[3 * q + 1]!; png.data[4 * q + 2] = data[3 * q + 2]!; png.data[4 * q + 3] = 255; }
              PNG.sync.write(png, { colorType: 2 });
            }
            frames++;
          },
        });
      }
    }
    result = { frames };
    void J;
  } else throw new Error(`unknown mode ${mode}`);
  const wallMs = performance.now() - t0;
  console.log(JSON.stringify({ mode, wallMs, cpuMs: cpuMs(process.cpuUsage(cpu0)), childCpuMs: childrenCpuMs() - ch0, peakRssMb: peakRssMb(), ...result }));
  process.exit(0);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
void join;

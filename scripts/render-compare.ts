// Old-vs-new check for renderer speed work: renders the golden cases, the bench frame and a set of rotated heads
// with a baseline copy of src/kernel/render and with this tree's, and compares every 8-bit map byte for byte
// (float maps: largest difference reported).
//   git archive main src | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/node_modules
//   node --import tsx scripts/render-compare.ts /tmp/base/src/kernel/render/guidance-maps.ts [extra rotations, default 48]
import { GuidanceRenderer as NewRenderer, type GuidanceMaps } from '../src/kernel/render/guidance-maps';
import { albedoPattern, loadDemoCases, loadSyntheticCases, loadSyntheticMesh, rotateAbout } from '../test/render/fixtures';

async function main(): Promise<void> {
  const basePath = process.argv[2];
  if (!basePath) throw new Error('usage: render-compare.ts <baseline guidance-maps.ts> [rotations]');
  const nRot = Number(process.argv[3] ?? 48);
  const Old = ((await import(basePath)) as { GuidanceRenderer: typeof NewRenderer }).GuidanceRenderer;
  const mesh = loadSyntheticMesh();
  const cases = loadSyntheticCases();
  const albedo = albedoPattern();
  type Job = { name: string; assets: ConstructorParameters<typeof NewRenderer>[0]; opts: ConstructorParameters<typeof NewRenderer>[1]; frame: { verts: Float32Array; landmarks?: Float32Array } };
  const jobs: Job[] = [];
  const synthAssets = { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo };
  for (const cs of cases) {
    jobs.push({ name: cs.name, assets: { ...synthAssets, light: cs.light }, opts: { tform: cs.tform, cam: cs.cam }, frame: { verts: cs.verts, landmarks: cs.lmk } });
  }
  const demo = loadDemoCases();
  if (demo) {
    for (const cs of demo.cases) {
      jobs.push({
        name: `demo ${cs.name}`, assets: { faces: demo.faces, uvCoords: demo.uvCoords, uvFaces: demo.uvFaces, albedo: demo.albedo, light: cs.light },
        opts: { tform: cs.tform, cam: cs.cam }, frame: { verts: cs.verts, landmarks: cs.lmk },
      });
    }
  }
  // rotated heads (yaw/pitch/roll up to ±80°/±40°/±30°), half in the crop frame, half placed with a tform
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ct = cases.find((c) => c.tform)!;
  for (let k = 0; k < nRot; k++) {
    const yaw = (rnd() * 2 - 1) * 1.4, pitch = (rnd() * 2 - 1) * 0.7, roll = (rnd() * 2 - 1) * 0.5;
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch), cr = Math.cos(roll), sr = Math.sin(roll);
    const Ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy], Rx = [1, 0, 0, 0, cp, -sp, 0, sp, cp], Rz = [cr, -sr, 0, sr, cr, 0, 0, 0, 1];
    const mul = (a: number[], b: number[]) => Array.from({ length: 9 }, (_, i) => a[3 * ((i / 3) | 0)] * b[i % 3] + a[3 * ((i / 3) | 0) + 1] * b[3 + (i % 3)] + a[3 * ((i / 3) | 0) + 2] * b[6 + (i % 3)]);
    const R = Float64Array.from(mul(Rz, mul(Rx, Ry)));
    const cs = k % 2 ? ct : cases[0];
    const light = Float32Array.from(cs.light, (v, i) => v * (0.6 + 0.8 * rnd()) + (i < 3 ? 0.2 : 0));
    jobs.push({ name: `rot${k}`, assets: { ...synthAssets, light }, opts: { tform: cs.tform, cam: cs.cam }, frame: { verts: rotateAbout(mesh.verts, R), landmarks: cs.lmk } });
  }
  const keys = ['depth', 'normal', 'render', 'mask', 'landmarks'] as const;
  let bad = 0, pixels = 0, worstFloat = 0;
  for (const j of jobs) {
    for (const floats of [false, true]) {
      const opts = { ...j.opts, maps: [...keys], floats };
      const a: GuidanceMaps = new Old(j.assets, opts).render(j.frame);
      const rn = new NewRenderer(j.assets, opts);
      // the second render of a renderer (reused buffers, warm caches) must match too
      const b0 = rn.render(j.frame);
      const b: GuidanceMaps = rn.render(j.frame, floats ? undefined : b0);
      pixels += a.covered;
      if (a.covered !== b.covered) throw new Error(`${j.name}: covered ${a.covered} vs ${b.covered}`);
      for (const k of keys) {
        const x = a[k]!, y = b[k]!;
        let d = 0;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) d++;
        if (d) {
          bad++;
          console.log(`${j.name} floats=${floats} ${k}: ${d} bytes differ`);
        }
      }
      if (floats) {
        for (const k of ['depth', 'normal', 'render'] as const) {
          const x = a.floats![k]!, y = b.floats![k]!;
          for (let i = 0; i < x.length; i++) {
            const d = Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(x[i]));
            if (d > worstFloat) worstFloat = d;
          }
        }
      }
    }
  }
  console.log(`${jobs.length} cases × 2 (floats off/on), ${pixels} covered px: ${bad ? `${bad} MAPS DIFFER` : 'all 8-bit maps identical'}; largest float-map difference ${worstFloat.toExponential(2)} (relative, ≥ 1 absolute)`);
  if (bad) process.exitCode = 1;
}

void main();

// Writes the inputs of the demo-head golden cases (test/render/fixtures/demo_head_cases.{npz,json}) from the
// built-in demo head (src/kernel/flame); raster_reference.py --demo then renders them into the fixture PNGs.
//
// Regenerate (from the repository root):
//     node --import tsx test/render/golden/make_demo_cases.ts && /usr/bin/python3 test/render/golden/raster_reference.py --demo
//
// The inputs are committed, so the golden test does not depend on the demo head staying the same. The albedo is
// stored as 8-bit (both sides use u8/255 as float32) to keep the fixture small.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDemoHead, flameForward, flameTexAlbedo, prepareFlame } from '../../../src/kernel/flame';
import { NdArray } from '../../../src/kernel/io/ndarray';
import { writeNpz } from '../../../src/kernel/io/npy';
import { decaCropSimilarity, tformFromCrop } from '../../../src/kernel/render/vertex-placement';

const FIXTURES = join(__dirname, '..', 'fixtures');

interface DemoCase {
  name: string;
  /** axis-angle: root, neck, jaw, eyes (5 × 3) */
  pose: number[];
  cam: [number, number, number];
  /** crop box (cx, cy, size) in the 512 image, or null for the crop frame */
  crop: [number, number, number] | null;
}

const CASES: DemoCase[] = [
  { name: 'demo_frontal_tform', pose: [0.05, 0.02, 0, 0, 0, 0, 0.08, 0, 0, 0, 0, 0, 0, 0, 0], cam: [8.8, 0, 0.01], crop: [256, 268, 330] },
  { name: 'demo_yaw35_jaw_tform', pose: [0.1, 0.61, 0.05, 0, 0, 0, 0.22, 0, 0, 0, 0, 0, 0, 0, 0], cam: [8.4, 0.005, 0.0], crop: [262, 250, 300] },
  // in the crop frame; this pose has a float32 crack between two faces that lets a far face show through
  { name: 'demo_pitch_crop', pose: [-0.3, -0.35, 0, 0, 0, 0, 0.02, 0, 0, 0, 0, 0, 0, 0, 0], cam: [8.0, 0, 0.0], crop: null },
];

const LIGHT = [
  3.2, 3.0, 2.9, 0.25, 0.22, 0.2, 0.55, 0.5, 0.48, 0.3, 0.28, 0.3, -0.12, -0.1, -0.1,
  0.08, 0.07, 0.05, -0.2, -0.18, -0.16, 0.15, 0.12, 0.1, -0.35, -0.3, -0.28,
];

function main(): void {
  const model = createDemoHead();
  const prep = prepareFlame(model);
  const arrays: Record<string, NdArray> = {};
  const F = model.numFaces;
  arrays.faces = new NdArray('int32', [F, 3], Int32Array.from(model.faces));
  arrays.uvcoords = new NdArray('float32', [model.uv!.uvs.length / 2, 2], Float32Array.from(model.uv!.uvs));
  arrays.uvfaces = new NdArray('int32', [F, 3], Int32Array.from(model.uv!.uvFaces));
  const k = model.texture!.numComponents;
  const texcode = Array.from({ length: k }, (_, i) => (i % 2 ? -0.4 : 0.6) / (1 + i));
  const albedo = flameTexAlbedo(model.texture!, texcode, 1);
  arrays.albedo_u8 = new NdArray('uint8', [3, 256, 256], Uint8Array.from(albedo, (a) => Math.round(Math.min(1, Math.max(0, a)) * 255)));
  const shape = Array.from({ length: model.numShape }, (_, i) => 0.6 * Math.sin(1.7 * i + 0.3));
  const meta: { name: string; placement: string }[] = [];
  for (const c of CASES) {
    const expr = new Float64Array(model.numExpression);
    for (let i = 0; i < expr.length; i++) expr[i] = 0.5 * Math.cos(2.3 * i + c.name.length);
    const out = flameForward(prep, { batchSize: 1, shape, expression: expr, pose: c.pose });
    arrays[`${c.name}.verts`] = new NdArray('float32', [model.numVertices, 3], Float32Array.from(out.vertices));
    arrays[`${c.name}.lmk`] = new NdArray('float32', [68, 3], Float32Array.from(out.landmarks2d!));
    arrays[`${c.name}.cam`] = new NdArray('float32', [3], Float32Array.from(c.cam));
    arrays[`${c.name}.light`] = new NdArray('float32', [9, 3], Float32Array.from(LIGHT));
    if (c.crop) arrays[`${c.name}.tform`] = new NdArray('float32', [3, 3], tformFromCrop(decaCropSimilarity(...c.crop)));
    meta.push({ name: c.name, placement: c.crop ? 'image' : 'crop' });
  }
  writeFileSync(join(FIXTURES, 'demo_head_cases.npz'), writeNpz(arrays, { compress: true }));
  writeFileSync(join(FIXTURES, 'demo_head_cases.json'), JSON.stringify({ model: model.name, vertices: model.numVertices, faces: F, cases: meta }, null, 1) + '\n');
  console.log(`wrote ${CASES.length} demo-head cases (${model.numVertices} vertices, ${F} faces)`);
}

main();

// Test-side loaders for the golden fixtures written by test/render/golden/raster_reference.py.
// (A minimal .npz/.npy reader, enough for the little-endian arrays the script writes; the kernel's own
// reader belongs to src/kernel/io.)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { PNG } from 'pngjs';

export const FIXTURES = join(__dirname, 'fixtures');

export type NpyArray = { shape: number[]; data: Float32Array | Float64Array | Int32Array | Uint16Array | Uint8Array | BigInt64Array };

function parseNpy(buf: Uint8Array): NpyArray {
  if (buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') throw new Error('not an .npy');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const off = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(buf.subarray(off, off + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error('fortran order not supported');
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const start = off + hlen;
  const bytes = buf.slice(start); // copy: aligned
  const count = shape.reduce((a, b) => a * b, 1);
  const ctor = ({ '<f4': Float32Array, '<f8': Float64Array, '<i4': Int32Array, '<u2': Uint16Array, '|u1': Uint8Array, '<i8': BigInt64Array } as const)[descr as '<f4'];
  if (!ctor) throw new Error(`dtype ${descr} not supported`);
  return { shape, data: new ctor(bytes.buffer, 0, count) };
}

export function readNpz(path: string): Record<string, NpyArray> {
  const files = unzipSync(new Uint8Array(readFileSync(path)));
  const out: Record<string, NpyArray> = {};
  for (const [name, buf] of Object.entries(files)) out[name.replace(/\.npy$/, '')] = parseNpy(buf);
  return out;
}

/** RGB (or 1-channel when `grey`) pixels of a fixture PNG. */
export function readPng(path: string, grey = false): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(readFileSync(path));
  const n = png.width * png.height;
  const ch = grey ? 1 : 3;
  const data = new Uint8Array(n * ch);
  for (let p = 0; p < n; p++) for (let c = 0; c < ch; c++) data[p * ch + c] = png.data[4 * p + c];
  return { width: png.width, height: png.height, data };
}

/** The procedural albedo of raster_reference.py: (3, S, S), k/200 with k = (3i + 5j + 77c + 60·checker) mod 256. */
export function albedoPattern(size = 256): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const k = (i * 3 + j * 5 + c * 77 + ((Math.floor(i / 32) + Math.floor(j / 32)) % 2) * 60) % 256;
        out[c * size * size + i * size + j] = k / 200;
      }
    }
  }
  return out;
}

export interface SyntheticMesh {
  verts: Float32Array;
  faces: Uint16Array;
  uvCoords: Float32Array;
  uvFaces: Uint16Array;
  lmkFaces: Uint16Array;
  lmkBary: Float32Array;
}

export function loadSyntheticMesh(): SyntheticMesh {
  const z = readNpz(join(FIXTURES, 'synthetic_mesh.npz'));
  return {
    verts: z.verts.data as Float32Array,
    faces: z.faces.data as Uint16Array,
    uvCoords: z.uvcoords.data as Float32Array,
    uvFaces: z.uvfaces.data as Uint16Array,
    lmkFaces: z.lmk_faces.data as Uint16Array,
    lmkBary: z.lmk_bary.data as Float32Array,
  };
}

export interface SyntheticCase {
  name: string;
  verts: Float32Array;
  cam: Float32Array;
  light: Float32Array;
  lmk: Float32Array;
  tform: Float32Array | null;
  trans: Float32Array | null;
  placed: Float32Array | null;
}

/** raster_reference.py `rotate_about`: R·(v − root) + root in float64 with the same operation order, then float32. */
export function rotateAbout(verts0: Float32Array, R: Float64Array, root = [0.0, -0.03, -0.01]): Float32Array {
  const out = new Float32Array(verts0.length);
  for (let i = 0; i < verts0.length; i += 3) {
    const d0 = verts0[i] - root[0], d1 = verts0[i + 1] - root[1], d2 = verts0[i + 2] - root[2];
    for (let r = 0; r < 3; r++) out[i + r] = R[3 * r] * d0 + R[3 * r + 1] * d1 + R[3 * r + 2] * d2 + root[r];
  }
  return out;
}

export function loadSyntheticCases(): SyntheticCase[] {
  const z = readNpz(join(FIXTURES, 'synthetic_cases.npz'));
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'synthetic_cases.json'), 'utf8')) as { cases: { name: string }[] };
  const get = (k: string) => (z[k] ? (z[k].data as Float32Array) : null);
  const verts0 = loadSyntheticMesh().verts;
  return meta.cases.map(({ name }) => ({
    name,
    verts: (() => {
      const v = rotateAbout(verts0, z[`${name}.rot`].data as Float64Array);
      let sum = 0;
      for (let k = 0; k < v.length; k++) sum += v[k];
      const want = (z[`${name}.verts_sum`].data as Float64Array)[0];
      if (Math.abs(sum - want) > 1e-9 * Math.max(1, Math.abs(want))) throw new Error(`${name}: rebuilt vertices differ from the reference's (sum ${sum} vs ${want})`);
      return v;
    })(),
    cam: get(`${name}.cam`)!,
    light: get(`${name}.light`)!,
    lmk: get(`${name}.lmk`)!,
    tform: get(`${name}.tform`),
    trans: get(`${name}.trans`),
    placed: get(`${name}.placed`),
  }));
}

export interface DemoCases {
  faces: Int32Array;
  uvCoords: Float32Array;
  uvFaces: Int32Array;
  /** (3, 256, 256) float32 = u8/255, as raster_reference.py --demo uses it */
  albedo: Float32Array;
  cases: SyntheticCase[];
}

/** The demo-head golden cases (make_demo_cases.ts), or null when they have not been generated. */
export function loadDemoCases(): DemoCases | null {
  const npz = join(FIXTURES, 'demo_head_cases.npz');
  if (!existsSync(npz)) return null;
  const z = readNpz(npz);
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'demo_head_cases.json'), 'utf8')) as { cases: { name: string }[] };
  const get = (k: string) => (z[k] ? (z[k].data as Float32Array) : null);
  const u8 = z.albedo_u8.data as Uint8Array;
  return {
    faces: z.faces.data as Int32Array,
    uvCoords: z.uvcoords.data as Float32Array,
    uvFaces: z.uvfaces.data as Int32Array,
    albedo: Float32Array.from(u8, (v) => Math.fround(v) / 255),
    cases: meta.cases.map(({ name }) => ({
      name, verts: get(`${name}.verts`)!, cam: get(`${name}.cam`)!, light: get(`${name}.light`)!, lmk: get(`${name}.lmk`)!,
      tform: get(`${name}.tform`), trans: null, placed: null,
    })),
  };
}

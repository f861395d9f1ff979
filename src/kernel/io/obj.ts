// Wavefront OBJ reader for mesh templates (DECA's head_template.obj): positions, UVs and faces with separate
// vertex and UV indices (FLAME has 5023 vertices but more UV vertices because of UV seams). Polygons are
// fan-triangulated. Float32 like pytorch3d's load_obj, which DECA uses.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { MagicPortraitError } from '../errors';

export interface ObjMesh {
  /** x,y,z per vertex */
  vertices: Float32Array;
  /** u,v per texture vertex */
  uvs: Float32Array;
  /** x,y,z per normal */
  normals: Float32Array;
  /** 3 vertex indices (0-based) per triangle */
  faces: Uint32Array;
  /** 3 UV indices per triangle, -1 where a face has none; null when no face has UVs */
  uvFaces: Int32Array | null;
  /** 3 normal indices per triangle, -1 where absent; null when no face has normals */
  normalFaces: Int32Array | null;
}

/** Parses OBJ text. `file` names the source in errors. */
export function parseObj(text: string, file = 'obj'): ObjMesh {
  const v: number[] = [];
  const vt: number[] = [];
  const vn: number[] = [];
  const f: number[] = [];
  const ft: number[] = [];
  const fn: number[] = [];
  let anyUv = false;
  let anyNormal = false;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln].trim();
    if (!line || line[0] === '#') continue;
    const parts = line.split(/\s+/);
    const bad = (why: string) => new MagicPortraitError(`${file} line ${ln + 1}: ${why}: '${line.slice(0, 80)}'`, 'bad-file');
    const nums = (n: number, min: number): number[] => {
      if (parts.length - 1 < min) throw bad(`expected ${min} numbers`);
      const out: number[] = [];
      for (let i = 1; i <= n; i++) {
        const x = i < parts.length ? Number(parts[i]) : 0;
        if (!Number.isFinite(x)) throw bad('not a number');
        out.push(x);
      }
      return out;
    };
    switch (parts[0]) {
      case 'v':
        v.push(...nums(3, 3)); // extra values (w, or per-vertex colours) are ignored
        break;
      case 'vt':
        vt.push(...nums(2, 1));
        break;
      case 'vn':
        vn.push(...nums(3, 3));
        break;
      case 'f': {
        if (parts.length < 4) throw bad('a face needs at least 3 vertices');
        const corner: [number, number, number][] = [];
        for (let i = 1; i < parts.length; i++) {
          const [a, b, c] = parts[i].split('/');
          // 1-based; negative indices count back from the last element defined so far
          const idx = (s: string | undefined, count: number, what: string): number => {
            if (s === undefined || s === '') return -1;
            const k = Number(s);
            if (!Number.isInteger(k) || k === 0) throw bad(`bad ${what} index '${s}'`);
            const r = k > 0 ? k - 1 : count + k;
            if (r < 0 || r >= count) throw bad(`${what} index ${k} out of range (${count} defined)`);
            return r;
          };
          const vi = idx(a, v.length / 3, 'vertex');
          if (vi < 0) throw bad('face corner without a vertex index');
          corner.push([vi, idx(b, vt.length / 2, 'uv'), idx(c, vn.length / 3, 'normal')]);
        }
        for (let i = 1; i + 1 < corner.length; i++) {
          for (const c of [corner[0], corner[i], corner[i + 1]]) {
            f.push(c[0]);
            ft.push(c[1]);
            fn.push(c[2]);
            anyUv ||= c[1] >= 0;
            anyNormal ||= c[2] >= 0;
          }
        }
        break;
      }
      default:
        break; // o, g, s, mtllib, usemtl, l, …: not geometry we need
    }
  }
  return {
    vertices: Float32Array.from(v),
    uvs: Float32Array.from(vt),
    normals: Float32Array.from(vn),
    faces: Uint32Array.from(f),
    uvFaces: anyUv ? Int32Array.from(ft) : null,
    normalFaces: anyNormal ? Int32Array.from(fn) : null,
  };
}

export async function readObj(path: string): Promise<ObjMesh> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MagicPortraitError(`Cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`, 'missing-file');
  }
  return parseObj(text, basename(path));
}

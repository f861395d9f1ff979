// The built-in demo head: a FLAME-structured head model generated deterministically by our own code, so that
// everything works without the FLAME 2020 files (which users must obtain from their authors). It is NOT FLAME and
// is called "demo head" everywhere. Same structure as FLAME: template mesh with UVs, shape and expression
// blendshapes (named, semantic rather than PCA), 5 joints (global, neck, jaw, eyes) with LBS weights and a
// J_regressor, jaw pose correctives, an iBUG-68 landmark embedding with a 79-row yaw-dependent jaw contour, and
// an albedo space (mean + components, stored BGR in 0–255 like FLAME_texture.npz).
//
// Construction: a loft of slices (demo-head-shape.ts) densest on the face, with features added as displacements;
// the mouth is a seam (upper and lower lip vertices split, a lens-shaped cavity behind), the eyes are separate
// spheres showing through almond-shaped openings of the skin.

import type { FlameModelData, LandmarkEmbedding } from './types';
import { FLAME_JOINT_NAMES } from './types';
import {
  KEYFRAMES, ROWS_PER_SPAN, SEAM_KEYFRAME, UNDER_CHIN_KEYFRAME, NECK_ANGLE_KEYFRAME, Y_SEAM, MOUTH_HALF_WIDTH, EYE,
  EYE_CENTRE_Z, EYE_OPENING, TMJ, EAR, type Vec3, sliceAt, slicePoint, columnAngles, featureDisplacement,
  earDisplacement, hairAmount, smoothstep, gauss, sq, hash3, lipWindow, eyeR2, brows, frontMask,
} from './demo-head-shape';

export const DEMO_HEAD_NAME = 'demo head';

export const DEMO_SHAPE_NAMES = [
  'head_width', 'head_height', 'head_depth', 'face_length', 'jaw_width', 'chin_protrusion', 'chin_height',
  'nose_length', 'nose_protrusion', 'nose_width', 'nose_bridge', 'eye_spacing', 'eye_height', 'brow_ridge',
  'cheekbones', 'cheek_fullness', 'lip_fullness', 'mouth_width', 'forehead_slope', 'ear_size', 'neck_thickness',
  'crown_back', 'face_flatness', 'asymmetry',
] as const;

export const DEMO_EXPRESSION_NAMES = [
  'jaw_open', 'smile', 'brow_raise', 'frown', 'blink', 'pucker', 'mouth_stretch', 'upper_lip_raise',
  'lower_lip_depress', 'cheek_puff', 'nose_wrinkle', 'squint', 'eyes_wide', 'smile_left', 'smile_right',
  'blink_left', 'blink_right', 'brow_raise_left', 'brow_raise_right', 'lip_press', 'mouth_left', 'mouth_right',
  'jaw_forward', 'funnel', 'chin_raise',
] as const;

export const DEMO_TEXTURE_NAMES = ['skin_brightness', 'skin_redness', 'hair_lightness', 'lip_colour', 'iris_blue', 'tan'] as const;

const N_COL = 88;
const EYE_RINGS = 10;
const EYE_SEGMENTS = 16;
const TEX_SIZE = 256;
const V_TOP = 0.995, V_BOTTOM = 0.215; // skin band of the UV chart; islands below

const enum Kind { Skin = 0, Mouth = 1, EyeLeft = 2, EyeRight = 3 }

interface Vertex {
  p: Vec3;
  base: Vec3; // loft point before features (skin); the owning seam point (mouth); centre (eyes)
  kind: Kind;
  kappa: number; // keyframe coordinate of the row (skin, mouth: the seam's)
  side: number; // +1 above the mouth seam / upper lip copy, −1 below / lower copy
}

interface Mesh {
  verts: Vertex[];
  faces: number[];
  uvs: number[];
  uvFaces: number[];
  faceKind: number[]; // 0 skin, 1 mouth, 2 eye, 3 ear skin
  rows: number[]; // kappa per skin row
  grid: number[][]; // skin vertex id per [row][col] (upper copies at the seam)
  seamRow: number;
  seamCols: [number, number];
  upperLipFaces: number[];
  lowerLipFaces: number[];
}

const add3 = (a: Vec3, b: Vec3, s = 1): Vec3 => [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]];

function skinPoint(kappa: number, u: number): { p: Vec3; base: Vec3 } {
  const base = slicePoint(sliceAt(kappa), u);
  let p = add3(base, featureDisplacement(base));
  p[0] += earDisplacement(base);
  const h = hairAmount(base);
  if (h > 0) {
    const d: Vec3 = [base[0], base[1] - 0.0, base[2] + 0.005];
    const n = Math.hypot(d[0], d[1], d[2]) || 1;
    p = add3(p, d, (0.0035 * h) / n);
  }
  return { p, base };
}

function buildMesh(): Mesh {
  const verts: Vertex[] = [];
  const faces: number[] = [];
  const uvs: number[] = [];
  const uvFaces: number[] = [];
  const faceKind: number[] = [];
  const push = (v: Vertex) => verts.push(v) - 1;
  const uvPush = (u: number, v: number) => uvs.push(u, v) / 2 - 1;
  const tri = (a: number, b: number, c: number, ta: number, tb: number, tc: number, kind: number) => {
    faces.push(a, b, c);
    uvFaces.push(ta, tb, tc);
    faceKind.push(kind);
  };

  // --- skin rows
  const rows: number[] = [0];
  for (let k = 0; k < ROWS_PER_SPAN.length; k++) {
    for (let j = k === 0 ? 1 : 0; j < ROWS_PER_SPAN[k]; j++) rows.push(k + j / ROWS_PER_SPAN[k]);
  }
  rows.push(KEYFRAMES.length - 1);
  const seamRow = rows.indexOf(SEAM_KEYFRAME);
  const cols = columnAngles(N_COL);
  const nR = rows.length;
  const grid: number[][] = [];
  const pole = skinPoint(0, 0);
  const poleId = push({ p: pole.p, base: pole.base, kind: Kind.Skin, kappa: 0, side: 1 });
  grid.push(new Array(N_COL).fill(poleId));
  for (let r = 1; r < nR; r++) {
    const row: number[] = [];
    for (let c = 0; c < N_COL; c++) {
      const { p, base } = skinPoint(rows[r], cols[c]);
      const side = r < seamRow ? 1 : r > seamRow ? -1 : 1;
      row.push(push({ p, base, kind: Kind.Skin, kappa: rows[r], side }));
    }
    grid.push(row);
  }
  // skin UVs: u = column / N_COL (seam column duplicated at u = 1), v from the crown down to the neck
  const vOfRow = (r: number) => V_TOP - (r / (nR - 1)) * (V_TOP - V_BOTTOM);
  const uvGrid: number[][] = [];
  for (let r = 0; r < nR; r++) {
    const row: number[] = [];
    for (let c = 0; c <= N_COL; c++) row.push(r === 0 ? uvPush(Math.min(1, (c + 0.5) / N_COL), V_TOP) : uvPush(c / N_COL, vOfRow(r)));
    uvGrid.push(row);
  }

  // --- mouth seam: split the seam row across the mouth, lower copies for the faces below
  const mid = N_COL / 2;
  let c0 = mid, c1 = mid;
  while (Math.abs(verts[grid[seamRow][c0 - 1]].p[0]) < MOUTH_HALF_WIDTH) c0--;
  while (Math.abs(verts[grid[seamRow][c1 + 1]].p[0]) < MOUTH_HALF_WIDTH) c1++;
  const lowerCopy = new Map<number, number>();
  for (let c = c0; c <= c1; c++) {
    const up = verts[grid[seamRow][c]];
    lowerCopy.set(c, push({ p: [...up.p] as Vec3, base: up.base, kind: Kind.Skin, kappa: up.kappa, side: -1 }));
  }
  const upperLipFaces: number[] = [];
  const lowerLipFaces: number[] = [];
  const isEar = (ids: number[]) => ids.some((i) => Math.abs(earDisplacement(verts[i].base)) > 0.001);
  for (let r = 0; r < nR - 1; r++) {
    for (let c = 0; c < N_COL; c++) {
      const c2 = (c + 1) % N_COL;
      if (r === 0) {
        const a = grid[1][c], b = grid[1][c2];
        tri(poleId, a, b, uvGrid[0][c], uvGrid[1][c], uvGrid[1][c + 1], 0);
        continue;
      }
      let a = grid[r][c], b = grid[r][c2];
      if (r === seamRow) {
        a = lowerCopy.get(c) ?? a;
        b = lowerCopy.get(c2) ?? b;
      }
      const cc = grid[r + 1][c], d = grid[r + 1][c2];
      const kind = isEar([a, b, cc, d]) ? 3 : 0;
      const f = faces.length / 3;
      tri(a, cc, b, uvGrid[r][c], uvGrid[r + 1][c], uvGrid[r][c + 1], kind);
      tri(b, cc, d, uvGrid[r][c + 1], uvGrid[r + 1][c], uvGrid[r + 1][c + 1], kind);
      if (c >= c0 - 1 && c <= c1) {
        if (r === seamRow - 1) upperLipFaces.push(f, f + 1);
        if (r === seamRow) lowerLipFaces.push(f, f + 1);
      }
    }
  }

  // --- mouth cavity: from each seam column, three rows back behind the upper lip, three behind the lower lip,
  // joined at the back; fans close it at the corners. The sheet continues the skin's winding.
  const seq = new Map<number, number[]>();
  for (let c = c0; c <= c1; c++) {
    const up = grid[seamRow][c], lo = lowerCopy.get(c)!;
    const ps = verts[up].p;
    const taper = Math.sqrt(Math.max(0, 1 - sq(ps[0] / (MOUTH_HALF_WIDTH + 0.0015))));
    const ids = [up];
    for (const [k, s] of [[1, 1], [2, 1], [3, 1], [3, -1], [2, -1], [1, -1]] as const) {
      const p: Vec3 = [ps[0] * (1 - 0.05 * k), ps[1] + s * 0.0024 * k * taper, ps[2] - 0.0064 * k * taper];
      ids.push(push({ p, base: ps, kind: Kind.Mouth, kappa: SEAM_KEYFRAME, side: s }));
    }
    ids.push(lo);
    seq.set(c, ids);
  }
  const mouthUv = (c: number, i: number) => uvPush(c / N_COL, 0.19 - 0.0235 * i);
  const mouthUvs = new Map<number, number[]>();
  for (let c = c0 - 1; c <= c1 + 1; c++) mouthUvs.set(c, Array.from({ length: 8 }, (_, i) => mouthUv(c, i)));
  for (let c = c0; c < c1; c++) {
    const A = seq.get(c)!, B = seq.get(c + 1)!, ta = mouthUvs.get(c)!, tb = mouthUvs.get(c + 1)!;
    for (let i = 0; i < 7; i++) {
      tri(A[i], A[i + 1], B[i], ta[i], ta[i + 1], tb[i], 1);
      tri(B[i], A[i + 1], B[i + 1], tb[i], ta[i + 1], tb[i + 1], 1);
    }
  }
  {
    const KL = grid[seamRow][c0 - 1], KR = grid[seamRow][c1 + 1];
    const L = seq.get(c0)!, R = seq.get(c1)!;
    const tL = mouthUvs.get(c0)!, tR = mouthUvs.get(c1)!;
    const tKL = uvPush((c0 - 1) / N_COL, 0.19 - 0.0235 * 3.5), tKR = uvPush((c1 + 1) / N_COL, 0.19 - 0.0235 * 3.5);
    for (let i = 0; i < 7; i++) {
      tri(KL, L[i + 1], L[i], tKL, tL[i + 1], tL[i], 1);
      tri(KR, R[i], R[i + 1], tKR, tR[i], tR[i + 1], 1);
    }
  }

  // --- eyeballs: spheres with the pole facing forward; UV islands are azimuthal charts (iris at the centre)
  for (const s of [1, -1]) {
    const kind = s > 0 ? Kind.EyeLeft : Kind.EyeRight;
    const c: Vec3 = [s * EYE.x, EYE.y, EYE_CENTRE_Z];
    const U0 = s > 0 ? 0.915 : 0.085, V0 = 0.1, RU = 0.08;
    const at = (theta: number, phi: number): Vec3 =>
      [c[0] + EYE.radius * Math.sin(theta) * Math.cos(phi), c[1] + EYE.radius * Math.sin(theta) * Math.sin(phi),
        c[2] + EYE.radius * Math.cos(theta)];
    const front = push({ p: at(0, 0), base: c, kind, kappa: NaN, side: 0 });
    const ring: number[][] = [];
    const ringUv: number[][] = [];
    for (let i = 1; i <= EYE_RINGS; i++) {
      const th = (i * Math.PI) / (EYE_RINGS + 1);
      const r: number[] = [], t: number[] = [];
      for (let j = 0; j <= EYE_SEGMENTS; j++) {
        const ph = (j * 2 * Math.PI) / EYE_SEGMENTS;
        if (j < EYE_SEGMENTS) r.push(push({ p: at(th, ph), base: c, kind, kappa: NaN, side: 0 }));
        t.push(uvPush(U0 + (RU * th * Math.cos(ph)) / Math.PI, V0 + (RU * th * Math.sin(ph)) / Math.PI));
      }
      ring.push(r);
      ringUv.push(t);
    }
    const back = push({ p: at(Math.PI, 0), base: c, kind, kappa: NaN, side: 0 });
    const tFront = uvPush(U0, V0);
    for (let j = 0; j < EYE_SEGMENTS; j++) {
      const j2 = (j + 1) % EYE_SEGMENTS;
      tri(front, ring[0][j], ring[0][j2], tFront, ringUv[0][j], ringUv[0][j + 1], 2);
      for (let i = 0; i < EYE_RINGS - 1; i++) {
        const a = ring[i][j], b = ring[i][j2], cc = ring[i + 1][j], d = ring[i + 1][j2];
        tri(a, cc, b, ringUv[i][j], ringUv[i + 1][j], ringUv[i][j + 1], 2);
        tri(b, cc, d, ringUv[i][j + 1], ringUv[i + 1][j], ringUv[i + 1][j + 1], 2);
      }
      const ph = ((j + 0.5) * 2 * Math.PI) / EYE_SEGMENTS;
      const tBack = uvPush(U0 + RU * Math.cos(ph), V0 + RU * Math.sin(ph));
      const last = EYE_RINGS - 1;
      tri(back, ring[last][j2], ring[last][j], tBack, ringUv[last][j + 1], ringUv[last][j], 2);
    }
  }
  return { verts, faces, uvs, uvFaces, faceKind, rows, grid, seamRow, seamCols: [c0, c1], upperLipFaces, lowerLipFaces };
}

// ---------------------------------------------------------------------------------------------------------------
// Skinning weights and joints

/** Jaw weight of a skin/mouth vertex (before the seam rules): the mandible below the corner–TMJ line. */
function jawField(p: Vec3, kappa: number): number {
  const My = Y_SEAM, Mz = 0.088;
  const len = Math.hypot(TMJ[1] - My, TMJ[2] - Mz);
  const dy = (TMJ[1] - My) / len, dz = (TMJ[2] - Mz) / len; // up and back
  const ny = dz, nz = -dy; // unit normal of the line pointing below it (down and back)
  const dSide = (p[1] - My) * ny + (p[2] - Mz) * nz;
  const dFront = (My - p[1]) * Math.abs(ny);
  const front = p[2] >= Mz;
  const d = front ? dFront : dSide;
  const w = front ? smoothstep(-0.0008, 0.0045, d) : smoothstep(-0.003, 0.011, d);
  const neck = 1 - smoothstep(UNDER_CHIN_KEYFRAME - 0.5, NECK_ANGLE_KEYFRAME + 0.25, kappa);
  const back = smoothstep(-0.03, 0.0, p[2]);
  return w * neck * back;
}

function skinningWeights(mesh: Mesh): Float32Array {
  const V = mesh.verts.length, J = 5;
  const W = new Float32Array(V * J);
  const [c0, c1] = mesh.seamCols;
  const cornerW = 0.5 * (jawField(mesh.verts[mesh.grid[mesh.seamRow][c0 - 1]].p, SEAM_KEYFRAME) +
    jawField(mesh.verts[mesh.grid[mesh.seamRow][c1 + 1]].p, SEAM_KEYFRAME));
  mesh.verts.forEach((v, i) => {
    if (v.kind === Kind.EyeLeft || v.kind === Kind.EyeRight) {
      W[i * J + (v.kind === Kind.EyeLeft ? 3 : 4)] = 1;
      return;
    }
    const root = smoothstep(-0.128, -0.182, v.p[1]);
    let jaw = jawField(v.p, v.kappa);
    const onSeam = v.kind === Kind.Mouth || (v.kind === Kind.Skin && v.kappa === SEAM_KEYFRAME &&
      Math.abs(v.p[0]) < MOUTH_HALF_WIDTH && v.p[2] > 0);
    if (onSeam) {
      const t = smoothstep(0, 0.007, MOUTH_HALF_WIDTH - Math.abs(v.base[0]));
      jaw = v.side < 0 ? cornerW + (1 - cornerW) * t : cornerW * (1 - t);
    }
    jaw *= 1 - root;
    W[i * J] = root;
    W[i * J + 2] = jaw;
    W[i * J + 1] = 1 - root - jaw;
  });
  return W;
}

/** Minimum-norm affine weights over `ids` whose weighted vertex sum is `target` (Σw = 1). */
function regressorRow(pos: Float32Array, ids: number[], target: Vec3): Map<number, number> {
  // w = Xᵀ (X Xᵀ)⁻¹ t', X = [v; 1] (4 × n)
  const G = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const col = (i: number) => [pos[3 * i], pos[3 * i + 1], pos[3 * i + 2], 1];
  for (const i of ids) {
    const x = col(i);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) G[4 * a + b] += x[a] * x[b];
  }
  const rhs = [target[0], target[1], target[2], 1];
  // Gaussian elimination with partial pivoting on the 4×4 system
  const M = [0, 1, 2, 3].map((r) => [...G.slice(4 * r, 4 * r + 4), rhs[r]]);
  for (let k = 0; k < 4; k++) {
    let piv = k;
    for (let r = k + 1; r < 4; r++) if (Math.abs(M[r][k]) > Math.abs(M[piv][k])) piv = r;
    [M[k], M[piv]] = [M[piv], M[k]];
    for (let r = 0; r < 4; r++) {
      if (r === k) continue;
      const f = M[r][k] / M[k][k];
      for (let c = k; c < 5; c++) M[r][c] -= f * M[k][c];
    }
  }
  const lam = M.map((row, k) => row[4] / row[k]);
  const out = new Map<number, number>();
  for (const i of ids) {
    const x = col(i);
    out.set(i, x[0] * lam[0] + x[1] * lam[1] + x[2] * lam[2] + x[3] * lam[3]);
  }
  return out;
}

function jointRegressor(mesh: Mesh, pos: Float32Array): Float32Array {
  const V = mesh.verts.length;
  const Jr = new Float32Array(5 * V);
  const ringAt = (kappa: number) => {
    let best = 1;
    for (let r = 1; r < mesh.rows.length; r++) if (Math.abs(mesh.rows[r] - kappa) < Math.abs(mesh.rows[best] - kappa)) best = r;
    return mesh.grid[best];
  };
  const near = (c: Vec3, rad: number) => mesh.verts.map((v, i) => (v.kind === Kind.Skin &&
    Math.hypot(v.p[0] - c[0], v.p[1] - c[1], v.p[2] - c[2]) < rad ? i : -1)).filter((i) => i >= 0);
  const sets: [number[], Vec3][] = [
    [[...ringAt(19.5), ...ringAt(20.5)], [0, -0.158, -0.016]],
    [[...ringAt(15), ...ringAt(19)], [0, -0.072, -0.03]],
    [[...near([-0.071, -0.014, -0.004], 0.016), ...near([0.071, -0.014, -0.004], 0.016)], TMJ],
    [mesh.verts.map((v, i) => (v.kind === Kind.EyeLeft ? i : -1)).filter((i) => i >= 0), [EYE.x, EYE.y, EYE_CENTRE_Z]],
    [mesh.verts.map((v, i) => (v.kind === Kind.EyeRight ? i : -1)).filter((i) => i >= 0), [-EYE.x, EYE.y, EYE_CENTRE_Z]],
  ];
  sets.forEach(([ids, target], j) => {
    for (const [i, w] of regressorRow(pos, ids, target)) Jr[j * V + i] = w;
  });
  return Jr;
}

// ---------------------------------------------------------------------------------------------------------------
// Blendshape fields. Each returns the displacement of a vertex for coefficient 1.

interface Masks {
  front: number; lips: number; mouth: number; chin: number; nose: number; noseTip: number; bridge: number;
  eyeL: number; eyeR: number; browL: number; browR: number; cheekbone: number; cheekLower: number;
  forehead: number; hair: number; ear: number; neck: number;
}
interface Ctx { v: Vertex; m: Masks; jaw: number }
type Field = (c: Ctx) => Vec3;

const chinRegion = (p: Vec3) => frontMask(p) * gauss(sq(p[0] / 0.024) + sq((p[1] + 0.09) / 0.017));
const mouthArea = (p: Vec3) => frontMask(p) * gauss(sq(p[0] / 0.034) + sq((p[1] - Y_SEAM) / 0.02));
const lipsMask = (p: Vec3) => frontMask(p) * lipWindow(p[0]) * gauss(sq((p[1] - Y_SEAM) / 0.0095));
const noseMask = (p: Vec3) => frontMask(p) * gauss(sq(p[0] / 0.013)) * smoothstep(-0.042, -0.034, p[1]) * (1 - smoothstep(0.012, 0.024, p[1]));
const noseTip = (p: Vec3) => frontMask(p) * gauss(sq(p[0] / 0.013) + sq((p[1] + 0.027) / 0.01));
const bridge = (p: Vec3) => frontMask(p) * gauss(sq(p[0] / 0.009) + sq((p[1] - 0.01) / 0.012));
const eyeArea = (p: Vec3, s: number) => frontMask(p) * gauss(sq((p[0] - s * EYE.x) / 0.02) + sq((p[1] - EYE.y) / 0.016));
const browBroad = (p: Vec3, s: number) => frontMask(p) * gauss(sq((p[0] - s * (EYE.x + 0.002)) / 0.026) + sq((p[1] - EYE.y - 0.019) / 0.011));
const cheekbone = (p: Vec3) => smoothstep(-0.01, 0.03, p[2]) * gauss(sq((Math.abs(p[0]) - 0.05) / 0.017) + sq((p[1] + 0.012) / 0.016));
const cheekLower = (p: Vec3) => smoothstep(-0.01, 0.03, p[2]) * gauss(sq((Math.abs(p[0]) - 0.042) / 0.017) + sq((p[1] + 0.048) / 0.019));
const forehead = (p: Vec3) => frontMask(p) * smoothstep(0.03, 0.05, p[1]);
const neckness = (v: Vertex) => (Number.isNaN(v.kappa) ? 0 : smoothstep(18, 20, v.kappa));
const earMask = (p: Vec3) => (Math.abs(p[0]) < 0.045 ? 0 : Math.exp(-Math.pow(sq((p[2] - EAR.z) / EAR.rz) + sq((p[1] - EAR.y) / EAR.ry), 3)));
const sgn = (x: number) => (x < 0 ? -1 : 1);

function masks(v: Vertex): Masks {
  const p = v.p;
  return {
    front: frontMask(p), lips: lipsMask(p), mouth: mouthArea(p), chin: chinRegion(p), nose: noseMask(p),
    noseTip: noseTip(p), bridge: bridge(p), eyeL: eyeArea(p, 1), eyeR: eyeArea(p, -1), browL: browBroad(p, 1),
    browR: browBroad(p, -1), cheekbone: cheekbone(p), cheekLower: cheekLower(p), forehead: forehead(p),
    hair: hairAmount(v.base), ear: earMask(v.base), neck: neckness(v),
  };
}

const SHAPE_FIELDS: Record<(typeof DEMO_SHAPE_NAMES)[number], Field> = {
  head_width: ({ v, m }) => [0.006 * (v.p[0] / 0.075) * (1 - m.neck), 0, 0],
  head_height: ({ v, m }) => [0, 0.009 * Math.max(0, v.p[1]) / 0.115, 0],
  head_depth: ({ v, m }) => [0, 0, -0.008 * smoothstep(0, -0.1, v.p[2]) * (1 - m.neck)],
  face_length: ({ v, m }) => [0, -0.007 * smoothstep(-0.01, -0.1, v.p[1]) * smoothstep(-0.03, 0.02, v.p[2]) * (1 - m.neck), 0],
  jaw_width: ({ v, m, jaw }) => [0.006 * sgn(v.p[0]) * smoothstep(0.01, 0.05, Math.abs(v.p[0])) * Math.max(jaw, 0.3 * m.cheekLower), 0, 0],
  chin_protrusion: ({ v, m }) => [0, 0, 0.006 * m.chin],
  chin_height: ({ v, m }) => [0, -0.005 * m.chin, 0],
  nose_length: ({ v, m }) => [0, -0.004 * m.noseTip, 0.0015 * m.noseTip],
  nose_protrusion: ({ v, m }) => [0, 0, 0.005 * m.nose * Math.min(1, Math.max(0, v.p[2] - v.base[2]) / 0.012)],
  nose_width: ({ v, m }) => [0.0028 * sgn(v.p[0]) * m.front * gauss(sq((Math.abs(v.p[0]) - 0.012) / 0.008) + sq((v.p[1] + 0.028) / 0.008)), 0, 0],
  nose_bridge: ({ v, m }) => [0, 0, 0.003 * m.bridge],
  eye_spacing: ({ v, m }) => [0.0025 * (m.eyeL - m.eyeR), 0, 0],
  eye_height: ({ v, m }) => [0, 0.0025 * (m.eyeL + m.eyeR), 0],
  brow_ridge: ({ v, m }) => [0, 0, 0.0035 * (m.browL + m.browR)],
  cheekbones: ({ v, m }) => [0.003 * sgn(v.p[0]) * m.cheekbone, 0, 0.002 * m.cheekbone],
  cheek_fullness: ({ v, m }) => [0.002 * sgn(v.p[0]) * m.cheekLower, 0, 0.0035 * m.cheekLower],
  lip_fullness: ({ v, m }) => [0, 0.0012 * v.side * m.lips, 0.0025 * m.lips],
  mouth_width: ({ v, m }) => [0.004 * (v.p[0] / 0.026) * m.mouth, 0, 0],
  forehead_slope: ({ v, m }) => [0, 0, -0.006 * m.forehead * smoothstep(0.03, 0.11, v.p[1])],
  ear_size: ({ v, m }) => [0.0045 * sgn(v.p[0]) * m.ear, 0.002 * m.ear * Math.sign(v.p[1] - EAR.y), 0],
  neck_thickness: ({ v, m }) => {
    const d: Vec3 = [v.p[0], 0, v.p[2] + 0.017];
    const n = Math.hypot(d[0], d[2]) || 1;
    return [(0.005 * m.neck * d[0]) / n, 0, (0.005 * m.neck * d[2]) / n];
  },
  crown_back: ({ v, m }) => [0, 0.002 * smoothstep(0.0, 0.11, v.p[1]), -0.005 * smoothstep(0.02, 0.1, v.p[1]) * smoothstep(0, -0.08, v.p[2])],
  face_flatness: ({ v, m }) => [0, 0, -0.004 * m.front * gauss(sq(v.p[0] / 0.03)) * smoothstep(-0.105, -0.08, v.p[1]) * (1 - smoothstep(0.02, 0.04, v.p[1]))],
  asymmetry: ({ v, m }) => [0, 0.0015 * (v.p[0] / 0.07) * m.front, 0],
};

function smile(p: Vec3, s: number): Vec3 {
  const corner: Vec3 = [s * (MOUTH_HALF_WIDTH + 0.001), Y_SEAM, 0.086];
  const g = frontMask(p) * gauss((sq(p[0] - corner[0]) + sq(p[1] - corner[1]) + sq(p[2] - corner[2])) / sq(0.017));
  const ch = smoothstep(-0.01, 0.03, p[2]) * (s * p[0] > 0 ? 1 : 0) * gauss(sq((Math.abs(p[0]) - 0.04) / 0.015) + sq((p[1] + 0.02) / 0.015));
  return [g * s * 0.0035, g * 0.0055 + ch * 0.003, -g * 0.003 + ch * 0.002];
}

function blink(v: Vertex, s: number): Vec3 {
  if (v.kind !== Kind.Skin) return [0, 0, 0];
  const p = v.p;
  const r2 = eyeR2(p, s);
  if (r2 > 3) return [0, 0, 0];
  // the upper lid comes down to the lower lid's margin (its skin stretching up to the crease), the lower lid
  // rises a little; the skin returns to just in front of the unhollowed surface, covering the eyeball
  const dx = (p[0] - s * EYE.x) / (EYE_OPENING.rx * 1.14);
  const yMeet = EYE.y - 0.0084 * Math.sqrt(Math.max(0, 1 - dx * dx));
  const k = p[1] > yMeet ? 1 - smoothstep(1.4, 2.6, r2) : 0.15 * (1 - smoothstep(1.0, 2.0, r2));
  const fill = Math.max(0, v.base[2] + 0.0012 - p[2]) * (1 - smoothstep(1.2, 2.6, r2));
  return [0, (yMeet - p[1]) * k, fill];
}

const onSide = (s: number, p: Vec3) => (s * p[0] > 0 ? 1 : 0);
const jawRotation = (v: Vertex, jaw: number, angle: number): Vec3 => {
  const y = v.p[1] - TMJ[1], z = v.p[2] - TMJ[2];
  const c = Math.cos(angle), s = Math.sin(angle);
  return [0, jaw * (y * c - z * s - y), jaw * (y * s + z * c - z)];
};

const EXPRESSION_FIELDS: Record<(typeof DEMO_EXPRESSION_NAMES)[number], Field> = {
  jaw_open: ({ v, m, jaw }) => jawRotation(v, jaw, 0.2),
  smile: ({ v, m }) => add3(smile(v.p, 1), smile(v.p, -1)),
  brow_raise: ({ v, m }) => [0, 0.006 * (m.browL + m.browR) + 0.0025 * m.forehead * (1 - m.hair), 0],
  frown: ({ v, m }) => {
    const b = m.browL + m.browR;
    const inner = m.front * gauss(sq(v.p[0] / 0.022) + sq((v.p[1] - EYE.y - 0.016) / 0.01));
    return [-0.0025 * sgn(v.p[0]) * inner, -0.004 * b, -0.0015 * m.front * gauss(sq(v.p[0] / 0.007) + sq((v.p[1] - 0.03) / 0.008))];
  },
  blink: ({ v, m }) => add3(blink(v, 1), blink(v, -1)),
  pucker: ({ v, m }) => {
    const corners = m.front * gauss((sq(Math.abs(v.p[0]) - MOUTH_HALF_WIDTH) + sq(v.p[1] - Y_SEAM)) / sq(0.008));
    return [-0.35 * v.p[0] * m.lips - 0.1 * v.p[0] * m.mouth - 0.0035 * sgn(v.p[0]) * corners, 0, 0.008 * m.lips + 0.002 * m.mouth];
  },
  mouth_stretch: ({ v, m }) => [0.22 * v.p[0] * m.mouth, -0.001 * m.mouth, -0.001 * m.mouth],
  upper_lip_raise: ({ v, m }) => {
    const g = v.side > 0 ? m.front * lipWindow(v.p[0]) * gauss(sq((v.p[1] - Y_SEAM - 0.006) / 0.008)) : 0;
    return [0, 0.0035 * g, 0.001 * g];
  },
  lower_lip_depress: ({ v, m }) => {
    const g = v.side < 0 ? m.front * lipWindow(v.p[0]) * gauss(sq((v.p[1] - Y_SEAM + 0.006) / 0.009)) : 0;
    return [0, -0.004 * g, 0.0008 * g];
  },
  cheek_puff: ({ v, m }) => {
    const g = smoothstep(-0.01, 0.03, v.p[2]) * gauss(sq((Math.abs(v.p[0]) - 0.04) / 0.018) + sq((v.p[1] + 0.045) / 0.022));
    return [0.006 * sgn(v.p[0]) * g, 0, 0.004 * g];
  },
  nose_wrinkle: ({ v, m }) => {
    const g = m.front * gauss(sq((Math.abs(v.p[0]) - 0.012) / 0.01) + sq((v.p[1] + 0.02) / 0.014));
    return [0, 0.0022 * g, -0.001 * m.bridge];
  },
  squint: ({ v, m }) => {
    if (v.kind !== Kind.Skin) return [0, 0, 0];
    let dy = 0, dz = 0;
    for (const s of [1, -1]) {
      const r2 = eyeR2(v.p, s);
      const lower = v.p[1] < EYE.y ? Math.exp(-Math.pow(r2 / 1.6, 2)) : 0;
      dy += 0.0026 * lower;
      dz += 0.3 * Math.max(0, v.base[2] - v.p[2]) * lower;
    }
    return [0, dy, dz];
  },
  eyes_wide: ({ v, m }) => {
    let dy = 0, dz = 0;
    for (const s of [1, -1]) {
      const g = v.kind === Kind.Skin && v.p[1] > EYE.y ? Math.exp(-Math.pow(eyeR2(v.p, s) / 2.2, 2)) : 0;
      dy += 0.0024 * g;
      dz -= 0.001 * g;
    }
    return [0, dy, dz];
  },
  smile_left: ({ v, m }) => smile(v.p, 1),
  smile_right: ({ v, m }) => smile(v.p, -1),
  blink_left: ({ v, m }) => blink(v, 1),
  blink_right: ({ v, m }) => blink(v, -1),
  brow_raise_left: ({ v, m }) => [0, (0.006 * m.browL + 0.0025 * m.forehead * (1 - m.hair)) * onSide(1, v.p), 0],
  brow_raise_right: ({ v, m }) => [0, (0.006 * m.browR + 0.0025 * m.forehead * (1 - m.hair)) * onSide(-1, v.p), 0],
  lip_press: ({ v, m }) => [0, -0.001 * v.side * m.lips, -0.002 * m.lips],
  mouth_left: ({ v, m }) => [0.006 * m.mouth, 0, 0],
  mouth_right: ({ v, m }) => [-0.006 * m.mouth, 0, 0],
  jaw_forward: ({ v, m, jaw }) => [0, 0, 0.005 * jaw],
  funnel: ({ v, m }) => {
    const l = m.lips;
    const open = gauss(sq(v.p[0] / 0.014));
    return [-0.2 * v.p[0] * l, 0.003 * v.side * l * open, 0.006 * l];
  },
  chin_raise: ({ v, m }) => {
    const lower = v.side < 0 ? m.lips : 0;
    return [0, 0.004 * m.chin + 0.0015 * lower, 0.001 * m.chin + 0.002 * lower];
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Landmarks: ray casting onto the template

interface Hit { face: number; bary: Vec3; t: number }

function rayTriangle(o: Vec3, d: Vec3, a: Vec3, b: Vec3, c: Vec3): { t: number; u: number; v: number } | null {
  const e1: Vec3 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const e2: Vec3 = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
  const pv: Vec3 = [d[1] * e2[2] - d[2] * e2[1], d[2] * e2[0] - d[0] * e2[2], d[0] * e2[1] - d[1] * e2[0]];
  const det = e1[0] * pv[0] + e1[1] * pv[1] + e1[2] * pv[2];
  if (Math.abs(det) < 1e-18) return null;
  const inv = 1 / det;
  const tv: Vec3 = [o[0] - a[0], o[1] - a[1], o[2] - a[2]];
  const u = (tv[0] * pv[0] + tv[1] * pv[1] + tv[2] * pv[2]) * inv;
  if (u < -1e-9 || u > 1 + 1e-9) return null;
  const qv: Vec3 = [tv[1] * e1[2] - tv[2] * e1[1], tv[2] * e1[0] - tv[0] * e1[2], tv[0] * e1[1] - tv[1] * e1[0]];
  const v = (d[0] * qv[0] + d[1] * qv[1] + d[2] * qv[2]) * inv;
  if (v < -1e-9 || u + v > 1 + 1e-9) return null;
  const t = (e2[0] * qv[0] + e2[1] * qv[1] + e2[2] * qv[2]) * inv;
  return { t, u, v };
}

function raycast(pos: Float32Array, faces: Uint32Array, cand: number[], o: Vec3, d: Vec3, nearest = true): Hit | null {
  let best: Hit | null = null;
  const P = (i: number): Vec3 => [pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]];
  for (const f of cand) {
    const h = rayTriangle(o, d, P(faces[3 * f]), P(faces[3 * f + 1]), P(faces[3 * f + 2]));
    if (!h || h.t <= 0) continue;
    if (!best || (nearest ? h.t < best.t : h.t > best.t)) best = { face: f, bary: [1 - h.u - h.v, h.u, h.v], t: h.t };
  }
  return best;
}

function vertexNormals(pos: Float32Array, faces: Uint32Array): Float64Array {
  const n = new Float64Array(pos.length);
  for (let f = 0; f < faces.length; f += 3) {
    const a = faces[f], b = faces[f + 1], c = faces[f + 2];
    const e1 = [pos[3 * b] - pos[3 * a], pos[3 * b + 1] - pos[3 * a + 1], pos[3 * b + 2] - pos[3 * a + 2]];
    const e2 = [pos[3 * c] - pos[3 * a], pos[3 * c + 1] - pos[3 * a + 1], pos[3 * c + 2] - pos[3 * a + 2]];
    const cx = e1[1] * e2[2] - e1[2] * e2[1], cy = e1[2] * e2[0] - e1[0] * e2[2], cz = e1[0] * e2[1] - e1[1] * e2[0];
    for (const i of [a, b, c]) { n[3 * i] += cx; n[3 * i + 1] += cy; n[3 * i + 2] += cz; }
  }
  for (let i = 0; i < n.length; i += 3) {
    const l = Math.hypot(n[i], n[i + 1], n[i + 2]) || 1;
    n[i] /= l; n[i + 1] /= l; n[i + 2] /= l;
  }
  return n;
}

/** Targets (x, y) in the frontal view for iBUG points 18..68, in iBUG order (image left = −x). */
function staticTargets(): { xy: [number, number]; region: 'skin' | 'upper' | 'lower' | 'eye' ; eye?: [number, number] }[] {
  const out: { xy: [number, number]; region: 'skin' | 'upper' | 'lower' | 'eye'; eye?: [number, number] }[] = [];
  const browY = (x: number, s: number) => {
    const dx = (x - s * (EYE.x + 0.002)) / 0.021;
    return EYE.y + 0.0165 + 0.0035 * (1 - dx * dx);
  };
  for (const x of [-0.052, -0.043, -0.034, -0.025, -0.016]) out.push({ xy: [x, browY(x, -1)], region: 'skin' });
  for (const x of [0.016, 0.025, 0.034, 0.043, 0.052]) out.push({ xy: [x, browY(x, 1)], region: 'skin' });
  for (const y of [0.016, 0.002, -0.012, -0.025]) out.push({ xy: [0, y], region: 'skin' });
  for (const x of [-0.0125, -0.0065, 0, 0.0065, 0.0125]) out.push({ xy: [x, x === 0 ? -0.0335 : -0.0315], region: 'skin' });
  // eyes: directions (degrees) from the eye centre to the lid margin
  for (const [s, angles] of [[-1, [180, 120, 60, 0, -60, -120]], [1, [180, 120, 60, 0, -60, -120]]] as const) {
    for (const a of angles) out.push({ xy: [s * EYE.x, EYE.y], region: 'eye', eye: [s, a] });
  }
  const W = MOUTH_HALF_WIDTH;
  const up = (x: number) => Y_SEAM + 0.0078 * Math.pow(Math.max(0, 1 - sq(x / W)), 0.35) + 0.0011 * gauss(sq((Math.abs(x) - 0.0045) / 0.003)) - 0.0006 * gauss(sq(x / 0.002));
  const lo = (x: number) => Y_SEAM - 0.0105 * Math.pow(Math.max(0, 1 - sq(x / W)), 0.5);
  out.push({ xy: [-W, Y_SEAM], region: 'skin' });
  for (const x of [-0.017, -0.0065, 0, 0.0065, 0.017]) out.push({ xy: [x, up(x)], region: 'skin' });
  out.push({ xy: [W, Y_SEAM], region: 'skin' });
  for (const x of [0.017, 0.0075, 0, -0.0075, -0.017]) out.push({ xy: [x, lo(x)], region: 'skin' });
  out.push({ xy: [-0.021, Y_SEAM + 0.0003], region: 'upper' });
  for (const x of [-0.009, 0, 0.009]) out.push({ xy: [x, Y_SEAM + 0.0003], region: 'upper' });
  out.push({ xy: [0.021, Y_SEAM + 0.0003], region: 'upper' });
  for (const x of [0.009, 0, -0.009]) out.push({ xy: [x, Y_SEAM - 0.0003], region: 'lower' });
  return out;
}

function buildLandmarks(mesh: Mesh, pos: Float32Array, faces: Uint32Array): LandmarkEmbedding {
  const F = faces.length / 3;
  const skinFaces: number[] = [];
  const contourFaces: number[] = [];
  // the jaw contour lives on the face: above the jaw line (menton row) and in front of the ears
  const onFace = (i: number) => mesh.verts[i].kind === Kind.Skin && mesh.verts[i].kappa <= 16.01 && pos[3 * i + 2] > -0.012;
  for (let f = 0; f < F; f++) {
    if (mesh.faceKind[f] === 0 || mesh.faceKind[f] === 3) skinFaces.push(f);
    if (mesh.faceKind[f] === 0 && onFace(faces[3 * f]) && onFace(faces[3 * f + 1]) && onFace(faces[3 * f + 2])) contourFaces.push(f);
  }
  const front = (list: number[], x: number, y: number, r: number) => list.filter((f) => {
    for (let k = 0; k < 3; k++) {
      const i = faces[3 * f + k];
      if (Math.abs(pos[3 * i] - x) < r && Math.abs(pos[3 * i + 1] - y) < r && pos[3 * i + 2] > 0) return true;
    }
    return false;
  });
  const castFront = (list: number[], x: number, y: number): Hit => {
    const h = raycast(pos, faces, front(list, x, y, 0.012), [x, y, 1], [0, 0, -1]);
    if (!h) throw new Error(`demo head: no surface at (${x}, ${y})`);
    return h;
  };
  const eyeballZ = (x: number, y: number, s: number) => {
    const d2 = sq(x - s * EYE.x) + sq(y - EYE.y);
    return d2 < EYE.radius * EYE.radius ? EYE_CENTRE_Z + Math.sqrt(EYE.radius * EYE.radius - d2) : -Infinity;
  };
  const seamIds = mesh.grid[mesh.seamRow].slice(mesh.seamCols[0] - 1, mesh.seamCols[1] + 2);
  const seamY = (x: number) => {
    for (let k = 1; k < seamIds.length; k++) {
      const xa = pos[3 * seamIds[k - 1]], xb = pos[3 * seamIds[k]];
      if (x >= xa && x <= xb) return pos[3 * seamIds[k - 1] + 1] + ((x - xa) / (xb - xa)) * (pos[3 * seamIds[k] + 1] - pos[3 * seamIds[k - 1] + 1]);
    }
    return Y_SEAM;
  };
  const staticF: number[] = [];
  const staticB: number[] = [];
  for (const t of staticTargets()) {
    let h: Hit;
    if (t.region === 'eye') {
      const [s, deg] = t.eye!;
      const a = (deg * Math.PI) / 180;
      const near = front(skinFaces, s * EYE.x, EYE.y, 0.04);
      let hit: Hit | null = null;
      for (let k = 0; k <= 80; k++) {
        const r = (k / 80) * 1.6;
        const x = s * EYE.x + r * EYE_OPENING.rx * Math.cos(a), y = EYE.y + r * EYE_OPENING.ry * Math.sin(a);
        const hk = castFront(near, x, y);
        if (1 - hk.t >= eyeballZ(x, y, s)) { hit = hk; break; }
      }
      h = hit!;
    } else {
      const list = t.region === 'upper' ? mesh.upperLipFaces : t.region === 'lower' ? mesh.lowerLipFaces : skinFaces;
      // inner-lip points sit just above / below the seam as it actually runs
      const y = t.region === 'skin' ? t.xy[1] : seamY(t.xy[0]) + (t.region === 'upper' ? 0.0004 : -0.0004);
      h = castFront(list, t.xy[0], y);
    }
    staticF.push(h.face);
    staticB.push(...h.bary);
  }
  // Dynamic contour: for each of the 17 points, a fan of rays from inside the head in the half-plane through
  // the view axis at angle ψ (165° .. 375°, image left to right through the chin); for every yaw the point is
  // where the face turns from facing the camera to facing away (the silhouette of the head turned by yaw), or
  // the end of the face region (jaw line, ear) where it does not turn away.
  const normals = vertexNormals(pos, faces);
  const O: Vec3 = [0, -0.03, 0.0];
  const dynF = new Int32Array(79 * 17), dynB = new Float64Array(79 * 17 * 3);
  for (let i = 0; i < 17; i++) {
    const psi = ((165 + (210 * i) / 16) * Math.PI) / 180;
    const d2: [number, number] = [Math.cos(psi), Math.sin(psi)];
    const m: Vec3 = [-d2[1], d2[0], 0];
    const cand = contourFaces.filter((f) => {
      let pos0 = 0, neg = 0, along = 0;
      for (let k = 0; k < 3; k++) {
        const v = faces[3 * f + k];
        const rx = pos[3 * v] - O[0], ry = pos[3 * v + 1] - O[1];
        const s = rx * m[0] + ry * m[1];
        if (s >= 0) pos0++; else neg++;
        along = Math.max(along, rx * d2[0] + ry * d2[1]);
      }
      return pos0 > 0 && neg > 0 && along > 0;
    });
    const hits: { h: Hit; n: Vec3 }[] = [];
    for (let w = 88; w >= -70; w -= 1) {
      const om = (w * Math.PI) / 180;
      const dir: Vec3 = [Math.cos(om) * d2[0], Math.cos(om) * d2[1], Math.sin(om)];
      const h = raycast(pos, faces, cand, O, dir);
      if (!h) continue;
      const n: Vec3 = [0, 0, 0];
      for (let k = 0; k < 3; k++) for (let c = 0; c < 3; c++) n[c] += h.bary[k] * normals[3 * faces[3 * h.face + k] + c];
      hits.push({ h, n });
    }
    for (let row = 0; row < 79; row++) {
      const yaw = ((row <= 39 ? row : 39 - row) * Math.PI) / 180;
      const facing = (n: Vec3) => -Math.sin(yaw) * n[0] + Math.cos(yaw) * n[2];
      if (!hits.length) throw new Error(`demo head: contour point ${i + 1} found no face`);
      let pick = hits[hits.length - 1].h;
      for (let k = 1; k < hits.length; k++) {
        if (facing(hits[k].n) <= 0 && facing(hits[k - 1].n) > 0) {
          pick = Math.abs(facing(hits[k].n)) < Math.abs(facing(hits[k - 1].n)) ? hits[k].h : hits[k - 1].h;
          break;
        }
      }
      dynF[row * 17 + i] = pick.face;
      dynB.set(pick.bary, (row * 17 + i) * 3);
    }
  }
  const fullFaces = new Int32Array(68), fullBary = new Float64Array(68 * 3);
  fullFaces.set(dynF.subarray(0, 17));
  fullBary.set(dynB.subarray(0, 51));
  fullFaces.set(staticF, 17);
  fullBary.set(staticB, 51);
  return {
    staticFaces: Int32Array.from(staticF), staticBary: Float64Array.from(staticB), dynamicRows: 79,
    dynamicFaces: dynF, dynamicBary: dynB, fullFaces, fullBary,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Albedo space, painted in UV space. Stored like FLAME_texture.npz: [y][x][BGR], 0–255, row 0 = top (v = 1).

/** Skin colour (RGB, 0–255) and component offsets at a template point. */
function skinPaint(p: Vec3, base: Vec3): number[] {
  const fm = frontMask(p);
  const blush = fm * 0.5 * gauss(sq((Math.abs(p[0]) - 0.042) / 0.016) + sq((p[1] + 0.02) / 0.016));
  const lips = lipsMask(p) * gauss(sq((p[1] - Y_SEAM - (p[1] > Y_SEAM ? 0.0032 : -0.0045)) / 0.0048));
  const br = brows(p, 1) + brows(p, -1);
  const hair = Math.min(1, hairAmount(base) + 0.9 * fm * smoothstep(0.2, 0.55, br));
  const lid = fm * gauss(sq((Math.abs(p[0]) - EYE.x) / 0.016) + sq((p[1] - EYE.y - 0.006) / 0.008));
  const nostril = fm * gauss(sq((Math.abs(p[0]) - 0.0085) / 0.0035) + sq((p[1] + 0.0345) / 0.0022)) * (p[2] > 0.09 ? 1 : 0.4);
  let rgb: Vec3 = [226, 184, 160];
  rgb = add3(rgb, [18, -6, -4], blush);
  rgb = add3(rgb, [12, -4, -2], earMask(base) * 0.6);
  rgb = add3(rgb, [-14, -16, -10], lid * 0.6);
  rgb = mix(rgb, [188, 98, 96], lips);
  rgb = mix(rgb, [70, 46, 40], nostril);
  rgb = mix(rgb, [62, 42, 30], hair);
  const skin = (1 - hair) * (1 - lips);
  return [...rgb, 22 * skin, 20 * skin, 18 * skin, 10 * skin, -4 * skin, -6 * skin, 45 * hair, 38 * hair, 26 * hair,
    22 * lips, -10 * lips, -4 * lips, 0, 0, 0, 10 * skin, 6 * skin, -8 * skin, hair];
}

function paintTexture(mesh: Mesh): { mean: Float32Array; basis: Float32Array } {
  const S = TEX_SIZE, K = DEMO_TEXTURE_NAMES.length;
  const mean = new Float32Array(S * S * 3);
  const basis = new Float32Array(S * S * 3 * K);
  const nR = mesh.rows.length;
  const NP = 3 + 3 * K + 1;
  // paint at the skin grid vertices, interpolated across texels (the chart is the grid)
  const paint = new Float64Array(nR * (N_COL + 1) * NP);
  for (let r = 0; r < nR; r++) {
    for (let c = 0; c <= N_COL; c++) {
      const v = mesh.verts[mesh.grid[r][c % N_COL]];
      paint.set(skinPaint(v.p, v.base), (r * (N_COL + 1) + c) * NP);
    }
  }
  const [c0, c1] = mesh.seamCols;
  const val = new Float64Array(NP);
  const comp: Vec3[] = Array.from({ length: K }, () => [0, 0, 0] as Vec3);
  for (let ty = 0; ty < S; ty++) {
    for (let tx = 0; tx < S; tx++) {
      const u = (tx + 0.5) / S, v = 1 - (ty + 0.5) / S;
      let rgb: Vec3;
      for (const cc of comp) cc.fill(0);
      const noise = hash3(tx, ty, 7) - 0.5;
      if (v >= V_BOTTOM - 0.01) {
        const fr = Math.min(nR - 1, Math.max(0, ((V_TOP - v) / (V_TOP - V_BOTTOM)) * (nR - 1)));
        const fc = Math.min(N_COL, u * N_COL);
        const r0 = Math.min(nR - 2, Math.floor(fr)), k0 = Math.min(N_COL - 1, Math.floor(fc));
        const ar = fr - r0, ac = fc - k0;
        const o00 = (r0 * (N_COL + 1) + k0) * NP, o01 = o00 + NP, o10 = o00 + (N_COL + 1) * NP, o11 = o10 + NP;
        for (let i = 0; i < NP; i++) {
          val[i] = (1 - ar) * ((1 - ac) * paint[o00 + i] + ac * paint[o01 + i]) + ar * ((1 - ac) * paint[o10 + i] + ac * paint[o11 + i]);
        }
        const grain = 6 + 6 * val[NP - 1];
        rgb = [val[0] + grain * noise, val[1] + grain * 0.8 * noise, val[2] + grain * 0.7 * noise];
        for (let k = 0; k < K; k++) comp[k] = [val[3 + 3 * k], val[4 + 3 * k], val[5 + 3 * k]];
      } else {
        const eyeC = u < 0.5 ? 0.085 : 0.915;
        const re = Math.hypot(u - eyeC, v - 0.1) / 0.08;
        const mouthU = [(c0 - 1) / N_COL, (c1 + 1) / N_COL];
        if (re <= 1.02) {
          const ang = Math.atan2(v - 0.1, u - eyeC);
          if (re < 0.075) rgb = [14, 12, 12];
          else if (re < 0.2) {
            const f = 0.75 + 0.25 * Math.sin(ang * 23 + re * 40) * (hash3(tx, ty, 3) * 0.5 + 0.5);
            rgb = [112 * f, 74 * f, 44 * f];
            comp[4] = [-40, 10, 70];
          } else if (re < 0.23) rgb = [70, 52, 40];
          else rgb = mix([238, 236, 230], [222, 170, 165], smoothstep(0.55, 1.0, re));
        } else if (u > mouthU[0] - 0.02 && u < mouthU[1] + 0.02 && v < 0.2) {
          const slot = (0.19 - v) / 0.0235; // 0 upper lip edge … 7 lower lip edge
          if (slot < 0.9 || slot > 6.1) rgb = [172, 84, 86];
          else if (slot < 2.0 || slot > 5.0) rgb = [236, 230, 214];
          else rgb = [66, 22, 26];
        } else {
          rgb = [200, 120, 118];
        }
      }
      const o = (ty * S + tx) * 3;
      // BGR like FLAME_texture.npz
      mean[o] = rgb[2]; mean[o + 1] = rgb[1]; mean[o + 2] = rgb[0];
      for (let k = 0; k < K; k++) {
        basis[o * K + k] = comp[k][2];
        basis[(o + 1) * K + k] = comp[k][1];
        basis[(o + 2) * K + k] = comp[k][0];
      }
    }
  }
  return { mean, basis };
}

function mix(a: Vec3, b: Vec3, t: number): Vec3 {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

// ---------------------------------------------------------------------------------------------------------------

/** Builds a fresh demo head (deterministic: every build is bit-identical). Prefer the cached createDemoHead(). */
export function buildDemoHead(): FlameModelData {
  const mesh = buildMesh();
  const V = mesh.verts.length, F = mesh.faces.length / 3, J = 5;
  const pos = new Float32Array(V * 3);
  mesh.verts.forEach((v, i) => pos.set(v.p, 3 * i));
  const faces = Uint32Array.from(mesh.faces);
  const lbsWeights = skinningWeights(mesh);

  const evalFields = (fields: Field[], rigidEyes: boolean): Float32Array => {
    const L = fields.length;
    const out = new Float32Array(V * 3 * L);
    mesh.verts.forEach((v, i) => {
      const isEye = v.kind === Kind.EyeLeft || v.kind === Kind.EyeRight;
      if (isEye && !rigidEyes) return;
      // eyeballs move rigidly with the displacement at their centre
      const cv: Vertex = isEye ? { ...v, p: v.base, kind: Kind.Skin, kappa: 8, side: 1 } : v;
      const ctx: Ctx = { v: cv, m: masks(cv), jaw: isEye ? 0 : lbsWeights[i * J + 2] };
      fields.forEach((f, l) => {
        const d = f(ctx);
        for (let c = 0; c < 3; c++) out[(i * 3 + c) * L + l] = d[c];
      });
    });
    return out;
  };
  const shapedirs = evalFields(DEMO_SHAPE_NAMES.map((n) => SHAPE_FIELDS[n]), true);
  const exprdirs = evalFields(DEMO_EXPRESSION_NAMES.map((n) => EXPRESSION_FIELDS[n]), false);

  // Pose correctives: only the jaw's (R − I)[2,1] ≈ sin(angle) feature, pulling the lower cheeks in and down.
  const P = 9 * (J - 1);
  const posedirs = new Float32Array(V * 3 * P);
  const jawFeature = (2 - 1) * 9 + 7;
  mesh.verts.forEach((v, i) => {
    if (v.kind !== Kind.Skin) return;
    const g = cheekLower(v.p) * lbsWeights[i * J + 1];
    posedirs[(i * 3 + 1) * P + jawFeature] = -0.008 * g;
    posedirs[(i * 3 + 2) * P + jawFeature] = -0.006 * g;
  });

  const landmarks = buildLandmarks(mesh, pos, faces);
  const tex = paintTexture(mesh);
  const named = (names: readonly string[]) => Object.fromEntries(names.map((n, i) => [n, i]));
  return {
    name: DEMO_HEAD_NAME,
    kind: 'demo-head',
    numVertices: V,
    numFaces: F,
    numJoints: J,
    numShape: DEMO_SHAPE_NAMES.length,
    numExpression: DEMO_EXPRESSION_NAMES.length,
    vTemplate: pos,
    faces,
    shapedirs,
    exprdirs,
    posedirs,
    jRegressor: jointRegressor(mesh, pos),
    parents: Int32Array.from([-1, 0, 1, 1, 1]),
    lbsWeights,
    jointNames: [...FLAME_JOINT_NAMES],
    landmarks,
    uv: { uvs: Float32Array.from(mesh.uvs), uvFaces: Uint32Array.from(mesh.uvFaces) },
    texture: { size: TEX_SIZE, numComponents: DEMO_TEXTURE_NAMES.length, mean: tex.mean, basis: tex.basis, channelOrder: 'BGR' },
    shapeNames: named(DEMO_SHAPE_NAMES),
    expressionNames: named(DEMO_EXPRESSION_NAMES),
  };
}

let cached: FlameModelData | null = null;

/**
 * The built-in demo head (generated on first use, then cached; deterministic). Not FLAME: a FLAME-structured
 * stand-in with 24 named shape and 25 named expression components, for use without the FLAME 2020 files.
 */
export function createDemoHead(): FlameModelData {
  if (!cached) cached = buildDemoHead();
  return cached;
}

/** Extra per-face information of the demo head for viewers: 0 skin, 1 mouth interior, 2 eyeball, 3 ear. */
export function demoHeadFaceKinds(): Uint8Array {
  return Uint8Array.from(buildMesh().faceKind);
}


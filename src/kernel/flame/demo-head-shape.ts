// Shape tables and feature fields of the built-in demo head (not FLAME: our own parametric head).
// Units are metres; +y up, +z toward the viewer, +x the subject's left (image right), as FLAME.

export type Vec3 = [number, number, number];

export const smoothstep = (e0: number, e1: number, x: number): number => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};
export const gauss = (d2: number): number => Math.exp(-d2);
export const sq = (x: number): number => x * x;

/** Deterministic hash noise in [0, 1). */
export function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a | 0, 0x27d4eb2d) ^ Math.imul(b | 0, 0x165667b1) ^ Math.imul(c | 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Piecewise-linear table lookup: xs ascending. */
export function lerpTable(xs: readonly number[], ys: readonly number[], x: number): number {
  if (x <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]) {
      const t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
      return ys[i - 1] + t * (ys[i] - ys[i - 1]);
    }
  }
  return ys[ys.length - 1];
}

// ---------------------------------------------------------------------------------------------------------------
// Base surface: a loft of slices from the crown (keyframe 0, a point) to the neck opening. Each slice runs from a
// front point (yF, zF) on the face profile round the sides (half-width a, egg < 0 narrows the front) to a back
// point (yB, zB). Features (nose, eyes, lips, ears ...) are added as displacements afterwards.

//                      yF       zF       yB       zB       a       egg    lift (raises the sides: the jaw line)
export const KEYFRAMES: readonly (readonly number[])[] = [
  [0.1150, -0.0040, 0.1150, -0.0040, 0.0000, 0.00, 0.000], // 0 crown
  [0.1081, 0.0323, 0.1081, -0.0418, 0.0281, 0.00, 0.000], // 1
  [0.0872, 0.0646, 0.0872, -0.0754, 0.0530, 0.00, 0.000], // 2
  [0.0601, 0.0839, 0.0601, -0.0955, 0.0680, 0.00, 0.000], // 3
  [0.0360, 0.0915, 0.0320, -0.1045, 0.0745, 0.00, 0.000], // 4 brow
  [0.0260, 0.0905, 0.0180, -0.1050, 0.0755, 0.00, 0.000], // 5 upper lid
  [0.0160, 0.0895, 0.0060, -0.1045, 0.0755, 0.00, 0.000], // 6 eye centre, nasion
  [0.0060, 0.0895, -0.0060, -0.1035, 0.0750, 0.00, 0.000], // 7 lower lid
  [-0.0080, 0.0905, -0.0200, -0.1010, 0.0735, 0.00, 0.000], // 8 cheekbones
  [-0.0240, 0.0920, -0.0340, -0.0970, 0.0715, -0.02, 0.000], // 9 nose tip
  [-0.0340, 0.0930, -0.0440, -0.0930, 0.0695, -0.05, 0.001], // 10 nose base
  [-0.0450, 0.0945, -0.0520, -0.0880, 0.0670, -0.09, 0.002], // 11 upper lip
  [-0.0550, 0.0948, -0.0600, -0.0830, 0.0645, -0.14, 0.004], // 12 mouth seam
  [-0.0630, 0.0935, -0.0660, -0.0790, 0.0620, -0.19, 0.006], // 13 lower lip
  [-0.0730, 0.0885, -0.0730, -0.0750, 0.0595, -0.26, 0.009], // 14 mentolabial sulcus
  [-0.0860, 0.0900, -0.0800, -0.0720, 0.0570, -0.36, 0.014], // 15 chin
  [-0.0990, 0.0820, -0.0870, -0.0700, 0.0560, -0.42, 0.019], // 16 menton
  [-0.1075, 0.0600, -0.0950, -0.0690, 0.0555, -0.34, 0.018], // 17 under the chin
  [-0.1120, 0.0400, -0.1050, -0.0690, 0.0555, -0.16, 0.011], // 18
  [-0.1200, 0.0330, -0.1180, -0.0690, 0.0555, -0.04, 0.003], // 19 neck angle
  [-0.1500, 0.0360, -0.1500, -0.0700, 0.0560, 0.00, 0.000], // 20
  [-0.1900, 0.0400, -0.1900, -0.0720, 0.0585, 0.00, 0.000], // 21 neck opening
];
/** Rows from keyframe k to k+1 (row density: eyes and lips get the most). */
export const ROWS_PER_SPAN = [2, 2, 2, 2, 3, 4, 4, 3, 3, 2, 3, 4, 4, 2, 3, 2, 2, 2, 2, 3, 3];
export const SEAM_KEYFRAME = 12;
export const UNDER_CHIN_KEYFRAME = 17;
export const NECK_ANGLE_KEYFRAME = 19;

export const Y_SEAM = KEYFRAMES[SEAM_KEYFRAME][0];
export const MOUTH_HALF_WIDTH = 0.0255;
export const EYE = { x: 0.031, y: 0.0175, radius: 0.012, apexZ: 0.0775 } as const;
export const EYE_CENTRE_Z = EYE.apexZ - EYE.radius;
/** Visible almond of the eye: the skin is pushed behind the eyeball inside this ellipse. */
export const EYE_OPENING = { rx: 0.0138, ry: 0.0080, depth: 0.0135 } as const;
export const TMJ: Vec3 = [0, -0.012, -0.008];
export const EAR = { y: -0.002, z: -0.012, ry: 0.029, rz: 0.0145, out: 0.0155 } as const;

function catmull(p0: number, p1: number, p2: number, p3: number, t: number): number {
  const t2 = t * t, t3 = t2 * t;
  return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3);
}

/** Keyframe attributes at fractional keyframe index kappa (Catmull-Rom through the keyframes). */
export function sliceAt(kappa: number): number[] {
  const n = KEYFRAMES.length;
  const k = Math.min(n - 2, Math.max(0, Math.floor(kappa)));
  const t = kappa - k;
  const K = (i: number) => KEYFRAMES[Math.min(n - 1, Math.max(0, i))];
  const out: number[] = [];
  for (let a = 0; a < 7; a++) out.push(catmull(K(k - 1)[a], K(k)[a], K(k + 1)[a], K(k + 2)[a], t));
  if (out[4] < 0) out[4] = 0;
  return out;
}

/** Base loft point of slice `s` (from sliceAt) at azimuth u (0 = front, +π/2 = subject's left). */
export function slicePoint(s: number[], u: number): Vec3 {
  const [yF, zF, yB, zB, a, egg, lift] = s;
  const cu = Math.cos(u), su = Math.sin(u);
  const zc = (zF + zB) / 2, cz = (zF - zB) / 2;
  return [a * su * (1 + egg * cu), yB + ((yF - yB) * (1 + cu)) / 2 + lift * su * su * Math.min(1, 1 + cu), zc + cz * cu];
}

/** Column azimuths, denser on the face: u = π(α t + (1 − α) t³), t ∈ [−1, 1). */
export function columnAngles(n: number, alpha = 0.4): Float64Array {
  const u = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const t = -1 + (2 * c) / n;
    u[c] = Math.PI * (alpha * t + (1 - alpha) * t * t * t);
  }
  return u;
}

// ---------------------------------------------------------------------------------------------------------------
// Feature displacements of the template (applied to base points; front features fade out toward the sides).

const NOSE_Y = [-0.040, -0.036, -0.031, -0.027, -0.022, -0.012, 0.0, 0.012, 0.022];
const NOSE_H = [0.0, 0.006, 0.017, 0.0235, 0.021, 0.0150, 0.0092, 0.0042, 0.0];
const NOSE_W = [0.011, 0.0105, 0.0095, 0.0088, 0.0078, 0.0066, 0.0062, 0.0064, 0.0068];

export function frontMask(p: Vec3): number {
  return smoothstep(0.0, 0.045, p[2]);
}

/** Upper-lip centre line y(x) (Cupid's bow) and lip window. */
export function lipWindow(x: number): number {
  return 1 - smoothstep(MOUTH_HALF_WIDTH - 0.007, MOUTH_HALF_WIDTH + 0.002, Math.abs(x));
}

/** Normalised eye-opening radius² for eye side s (+1 left, −1 right). */
export function eyeR2(p: Vec3, s: number): number {
  return sq((p[0] - s * EYE.x) / EYE_OPENING.rx) + sq((p[1] - EYE.y) / EYE_OPENING.ry);
}

export function brows(p: Vec3, s: number): number {
  const dx = (p[0] - s * (EYE.x + 0.002)) / 0.021;
  const yc = EYE.y + 0.0165 + 0.0035 * (1 - dx * dx);
  return gauss(dx * dx * dx * dx * 0.6 + sq((p[1] - yc) / 0.0042));
}

/** Template feature displacement at base point p. */
export function featureDisplacement(p: Vec3): Vec3 {
  const [x, y, z] = p;
  const fm = frontMask(p);
  let dz = 0;
  if (fm > 0) {
    // nose ridge and tip
    const h = lerpTable(NOSE_Y, NOSE_H, y);
    if (h > 0) {
      const w = lerpTable(NOSE_Y, NOSE_W, y);
      dz += h * Math.exp(-Math.pow(Math.abs(x) / w, 2.4));
    }
    for (const s of [-1, 1]) {
      // alae (nostril wings)
      dz += 0.0062 * gauss(sq((x - s * 0.0142) / 0.0062) + sq((y + 0.0295) / 0.0058));
      // eye opening (deep, flat-bottomed) inside a shallow socket, lid fold above
      const r2 = eyeR2(p, s);
      dz -= EYE_OPENING.depth * Math.exp(-r2 * r2);
      dz -= 0.0035 * gauss(sq((x - s * EYE.x) / 0.023) + sq((y - EYE.y) / 0.017));
      dz += 0.0014 * gauss(sq((x - s * EYE.x) / 0.014) + sq((y - EYE.y - 0.0105) / 0.0026));
      // brow ridge
      dz += 0.0032 * brows(p, s);
      // cheekbones
      dz += 0.0042 * gauss(sq((Math.abs(x) - 0.046) / 0.016) + sq((y + 0.012) / 0.015)) * (s * x > 0 ? 1 : 0);
      // nasolabial fold: a shallow groove from the ala to the mouth corner
      const t = Math.min(1, Math.max(0, ((s * x - 0.019) * 0.009 + (y + 0.031) * -0.024) / (0.009 * 0.009 + 0.024 * 0.024)));
      const gx = 0.019 + 0.009 * t, gy = -0.031 - 0.024 * t;
      if (s * x > 0) dz -= 0.0011 * gauss((sq(s * x - gx) + sq(y - gy)) / sq(0.0022)) * Math.sin(Math.PI * t);
    }
    // lips: vermilion bulges above and below the seam, a philtrum groove, recessed corners
    const lw = lipWindow(x);
    const bow = 0.0011 * gauss(sq((Math.abs(x) - 0.0045) / 0.003)) - 0.0006 * gauss(sq(x / 0.002)); // Cupid's bow
    dz += 0.0046 * lw * gauss(sq((y - (Y_SEAM + 0.0031 + 0.5 * bow)) / 0.0032));
    dz += 0.0054 * lw * gauss(sq((y - (Y_SEAM - 0.0052)) / 0.0040));
    dz -= 0.0009 * gauss(sq(x / 0.0032)) * smoothstep(Y_SEAM + 0.006, Y_SEAM + 0.009, y) * (1 - smoothstep(-0.036, -0.033, y));
    dz -= 0.0022 * gauss(sq((Math.abs(x) - MOUTH_HALF_WIDTH) / 0.0045) + sq((y - Y_SEAM) / 0.0045));
    // chin
    dz += 0.0042 * gauss(sq(x / 0.018) + sq((y + 0.088) / 0.012));
  }
  return [0, 0, dz * fm];
}

/** Ear displacement (outward in x) for a base point on the side of the head. */
export function earDisplacement(p: Vec3): number {
  const side = Math.sign(p[0]);
  if (Math.abs(p[0]) < 0.045) return 0;
  const dy = (p[1] - EAR.y) / EAR.ry;
  // taller than wide, the lobe narrower than the top, leaning back a little
  const rz = EAR.rz * (1 + 0.22 * Math.max(-1, Math.min(1, dy)));
  const dz = (p[2] - EAR.z + 0.004 * dy) / rz;
  const q = dz * dz + dy * dy;
  if (q > 4) return 0;
  const disc = Math.exp(-1.6 * q * q);
  const rim = 0.4 + 0.6 * smoothstep(0.3, 0.9, q);
  const concha = 0.5 * gauss(sq((p[2] - EAR.z - 0.003) / 0.0055) + sq((p[1] - EAR.y + 0.004) / 0.0085));
  return side * EAR.out * disc * Math.max(0.1, rim - concha);
}

/** Hairline height as a function of |azimuth| in degrees around the vertical axis (0 = front). */
const HAIR_PHI = [0, 40, 70, 95, 112, 140, 180];
const HAIR_Y = [0.069, 0.063, 0.044, 0.031, 0.004, -0.045, -0.066];
export function hairAmount(p: Vec3): number {
  const phi = (Math.abs(Math.atan2(p[0], p[2] + 0.004)) * 180) / Math.PI;
  const line = lerpTable(HAIR_PHI, HAIR_Y, phi);
  return smoothstep(line - 0.003, line + 0.004, p[1]);
}

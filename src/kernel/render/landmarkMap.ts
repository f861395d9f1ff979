// The 68-point landmark map.
//
// The reference never draws landmarks (its 68 FLAME landmarks feed only the inactive "ffhq centre", §2.4/§4.3);
// landmark images are what landmark-conditioned baselines and ablations of 3D guidance use. Our definition, kept
// deliberately simple so it is exactly reproducible (test/render/golden/raster_reference.py draws it too):
//
// * Input: the 68 landmarks in the same image NDC as the rasterised vertices (+x right, +y down), i.e. FLAME's
//   68 world landmarks sent through the same `orthProject` (+ `placeInImage`) as the mesh. All 68 are drawn,
//   whether or not the mesh occludes them (FLAME's contour landmarks are already pose-dependent).
// * A point's pixel position is `c = ((x+1)·W − 1)/2`, `r = ((y+1)·H − 1)/2`: pixel centres on integers, the
//   rasteriser's convention, so a landmark lands on the pixel where the mesh point it sits on is drawn.
// * The iBUG-300W groups are drawn as polylines in fixed colours: jaw 0–16 (yellow), brows 17–21 and 22–26 (orange),
//   nose bridge 27–30 and nostrils 31–35 (cyan), eyes 36–41 and 42–47 closed (green), outer lips 48–59 closed
//   (magenta), inner lips 60–67 closed (pink). A pixel is painted when the squared distance from its centre to a
//   segment is ≤ (lineWidth/2)². Then every point is painted as a white disc: squared distance ≤ radius².
//   Later groups paint over earlier ones, points over lines. Everything else is black.
// * Defaults scale with the width: lineWidth = radius = max(1, 2·W/512) (2 px at 512).
// * Arithmetic is float64 with the same operation order as the Python reference, so the two agree bit for bit.

export interface LandmarkStyle {
  /** Segment thickness in pixels (default max(1, 2·W/512)). */
  lineWidth: number;
  /** Point disc radius in pixels (default max(1, 2·W/512)). */
  radius: number;
  /** Draw the connecting polylines (default true). */
  lines: boolean;
}

/** [first, last, closed, r, g, b] for the iBUG 68-point groups, in drawing order. */
export const LANDMARK_GROUPS: ReadonlyArray<readonly [number, number, boolean, number, number, number]> = [
  [0, 16, false, 255, 255, 0],
  [17, 21, false, 255, 128, 0],
  [22, 26, false, 255, 128, 0],
  [27, 30, false, 0, 255, 255],
  [31, 35, false, 0, 255, 255],
  [36, 41, true, 0, 255, 0],
  [42, 47, true, 0, 255, 0],
  [48, 59, true, 255, 0, 255],
  [60, 67, true, 255, 0, 128],
];

export function defaultLandmarkStyle(width: number): LandmarkStyle {
  const s = Math.max(1, 2 * (width / 512));
  return { lineWidth: s, radius: s, lines: true };
}

/**
 * Draw the landmark map into `out` (RGB, `W*H*3`, fully overwritten).
 * @param ndc landmarks in image NDC, `stride` numbers per point (x, y first); 68 points for the groups to apply
 */
export function drawLandmarkMap(
  ndc: ArrayLike<number>,
  width: number,
  height: number,
  out?: Uint8Array,
  style?: Partial<LandmarkStyle>,
  stride = 3,
): Uint8Array {
  const W = width, H = height;
  const img = out ?? new Uint8Array(W * H * 3);
  img.fill(0);
  const st = { ...defaultLandmarkStyle(W), ...style };
  const n = Math.floor(ndc.length / stride);
  const cx = new Float64Array(n), cy = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    cx[k] = ((ndc[k * stride] + 1) * W - 1) / 2;
    cy[k] = ((ndc[k * stride + 1] + 1) * H - 1) / 2;
  }
  if (st.lines && n >= 68) {
    const half2 = (st.lineWidth / 2) * (st.lineWidth / 2);
    const reach = st.lineWidth / 2 + 1;
    for (const [first, last, closed, r, g, b] of LANDMARK_GROUPS) {
      for (let k = first; k <= last; k++) {
        if (k === last && !closed) break;
        const e = k === last ? first : k + 1;
        segment(img, W, H, cx[k], cy[k], cx[e], cy[e], half2, reach, r, g, b);
      }
    }
  }
  const r2 = st.radius * st.radius;
  const reach = st.radius + 1;
  for (let k = 0; k < n; k++) {
    const px = cx[k], py = cy[k];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    const j0 = Math.max(0, Math.floor(px - reach)), j1 = Math.min(W - 1, Math.ceil(px + reach));
    const i0 = Math.max(0, Math.floor(py - reach)), i1 = Math.min(H - 1, Math.ceil(py + reach));
    for (let i = i0; i <= i1; i++) {
      for (let j = j0; j <= j1; j++) {
        const ex = j - px, ey = i - py;
        if (ex * ex + ey * ey <= r2) {
          const o = 3 * (i * W + j);
          img[o] = 255;
          img[o + 1] = 255;
          img[o + 2] = 255;
        }
      }
    }
  }
  return img;
}

function segment(
  img: Uint8Array, W: number, H: number,
  ax: number, ay: number, bx: number, by: number,
  half2: number, reach: number, r: number, g: number, b: number,
): void {
  if (!Number.isFinite(ax) || !Number.isFinite(ay) || !Number.isFinite(bx) || !Number.isFinite(by)) return;
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const j0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach)), j1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx) + reach));
  const i0 = Math.max(0, Math.floor(Math.min(ay, by) - reach)), i1 = Math.min(H - 1, Math.ceil(Math.max(ay, by) + reach));
  for (let i = i0; i <= i1; i++) {
    for (let j = j0; j <= j1; j++) {
      let t = 0;
      if (len2 > 0) {
        t = ((j - ax) * dx + (i - ay) * dy) / len2;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
      }
      const ex = j - (ax + t * dx), ey = i - (ay + t * dy);
      if (ex * ex + ey * ey <= half2) {
        const o = 3 * (i * W + j);
        img[o] = r;
        img[o + 1] = g;
        img[o + 2] = b;
      }
    }
  }
}

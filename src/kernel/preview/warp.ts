// One preview frame: a backward warp of the reference through the re-posed mesh.
//
// The re-posed mesh is rasterised in the reference image's frame. For every covered pixel, its surface point (face,
// normalised barycentrics) is taken back to the reference pose and projected into the reference image:
//   seen there (ReferenceTexture.seenAt)        → bilinear sample of the reference, unless its texels would be
//                                                 stretched over > MAX_STRETCH× their area and the mirror is less;
//   else its left–right mirror point is seen     → sample there (marked as filled);
//   else                                         → the per-vertex fill colour (albedo + diffused skin; marked),
//                                                 or the dark mouth-cavity colour inside the mouth (marked);
//   faces seen from behind (through the mouth)   → the mouth-cavity colour (marked), also for mouth faces whose
//                                                 reference texels (the closed lip seam) would be stretched;
// The cavity's edge pixels are then softened (3×3 mean) so the opening is not a hard, aliased cut-out.
// The result is blended over the reference with the region weight of the surface point; every other pixel keeps
// the reference (the crop-frame convention: hair, background and a face region the head moved away from stay put).

import { Rasterizer } from '../render';
import type { FlameModelData } from '../flame';
import { mouthFaces, mirrorVertices, regionWeights, type PreviewRegion } from './model-maps';
import { ReferenceTexture, shifted, signedAreas } from './reference';

/** The mouth cavity: a dark, slightly red shade. */
const CAVITY: readonly [number, number, number] = [46, 22, 24];
/** Reference texels stretched over more than this many times their area are replaced by a less stretched mirror. */
const MAX_STRETCH = 4;
/** Grazing reference faces are used as texture only up to this stretch (identity and small turns). */
const GRAZING_STRETCH = 1.5;
/** Region weights below this leave the reference pixel untouched (and unmarked). */
const MIN_WEIGHT = 1 / 512;

/** The model's tables a warper needs (plain typed arrays, so they can be sent to a worker). */
export interface WarpTables {
  faces: Uint32Array;
  /** Per vertex: region weight; left–right mirror vertex. Per face: 1 inside the mouth. */
  weight: Float32Array;
  mirror: Int32Array;
  mouth: Uint8Array;
}

export function warpTables(model: FlameModelData, region: PreviewRegion): WarpTables {
  return { faces: model.faces, weight: regionWeights(model, region), mirror: mirrorVertices(model), mouth: mouthFaces(model) };
}

export class PreviewWarper {
  private readonly raster: Rasterizer;
  private readonly faces: Uint32Array;
  /** The faces that can move a pixel (some vertex with weight > 0), and their index in the model. */
  private readonly subFaces: Uint32Array;
  private readonly subToFace: Int32Array;
  private readonly weight: Float32Array;
  private readonly mirror: Int32Array;
  private readonly mouth: Uint8Array;
  private readonly rv: Float32Array;
  private readonly area: Float32Array;
  private readonly col = new Float32Array(3);
  /** Per pixel: 1 where this frame drew the mouth cavity (cleared after each frame); edge pixels found from it. */
  private readonly cavity: Uint8Array;
  private readonly edge: Int32Array;
  private edgeRgb = new Float32Array(0);
  /** Per pixel: the region weight this frame drew with (0 where it drew nothing); reset after each frame. */
  private readonly drawn: Float32Array;

  constructor(tables: WarpTables, readonly ref: ReferenceTexture) {
    this.raster = new Rasterizer(ref.width, ref.height);
    this.cavity = new Uint8Array(ref.width * ref.height);
    this.drawn = new Float32Array(ref.width * ref.height);
    this.edge = new Int32Array(ref.width * ref.height);
    this.faces = tables.faces;
    this.weight = tables.weight;
    this.mirror = tables.mirror;
    this.mouth = tables.mouth;
    const nf = this.faces.length / 3;
    this.rv = new Float32Array(this.weight.length * 3);
    this.area = new Float32Array(nf);
    // Faces whose vertices all have weight 0 leave the reference as it is, so they are not rasterised (the cost
    // scales with the moving region). They could only matter as occluders of the region (an ear in front of the
    // cheek at extreme yaw); the reference pixels they would cover stay the reference's either way.
    const keep: number[] = [];
    for (let f = 0; f < nf; f++)
      if (this.weight[this.faces[3 * f]!]! > 0 || this.weight[this.faces[3 * f + 1]!]! > 0 || this.weight[this.faces[3 * f + 2]!]! > 0) keep.push(f);
    this.subToFace = Int32Array.from(keep);
    this.subFaces = new Uint32Array(3 * keep.length);
    keep.forEach((f, i) => this.subFaces.set(this.faces.subarray(3 * f, 3 * f + 3), 3 * i));
  }

  /**
   * Renders the frame of the mesh placed at `ndc` (image NDC, MeshPoser.posed) into `out` (W·H·3 RGB) and, when
   * given, `mask` (W·H: 255 where the pixel was filled rather than seen in the reference, else 0).
   */
  render(ndc: Float32Array, out: Uint8Array, mask?: Uint8Array): void {
    const ref = this.ref, W = ref.width, faces = this.faces, R = ref.ndc, weight = this.weight, mirror = this.mirror;
    const R_ = this.raster.rasterize(shifted(ndc, this.rv), this.subFaces);
    const sub = this.subToFace;
    signedAreas(ndc, faces, this.area);
    out.set(ref.rgb);
    mask?.fill(0);
    const face = R_.face, bary = R_.bary, col = this.col, front = ref.frontSign;
    let cavityRows = false;
    for (let i = R_.rowMin; i <= R_.rowMax; i++) {
      for (let p = i * W, end = p + W; p < end; p++) {
        const fs = face[p]!;
        if (fs < 0) continue;
        const f = sub[fs]!;
        const s = bary[3 * p]! + bary[3 * p + 1]! + bary[3 * p + 2]!;
        const w0 = bary[3 * p]! / s, w1 = bary[3 * p + 1]! / s, w2 = bary[3 * p + 2]! / s;
        const a = faces[3 * f]!, b = faces[3 * f + 1]!, c = faces[3 * f + 2]!;
        const alpha = w0 * weight[a]! + w1 * weight[b]! + w2 * weight[c]!;
        if (alpha < MIN_WEIGHT) continue;
        let filled = true, cavity = false;
        if (this.area[f]! * front <= 0) {
          col[0] = CAVITY[0]; col[1] = CAVITY[1]; col[2] = CAVITY[2];
          cavity = true;
        } else {
          // the surface point in the reference view
          const x = w0 * R[3 * a]! + w1 * R[3 * b]! + w2 * R[3 * c]!;
          const y = w0 * R[3 * a + 1]! + w1 * R[3 * b + 1]! + w2 * R[3 * c + 1]!;
          const z = w0 * R[3 * a + 2]! + w1 * R[3 * b + 2]! + w2 * R[3 * c + 2]!;
          const cur = Math.abs(this.area[f]!);
          const stretch = cur / ref.faceArea[f]!, mirrorStretch = cur / ref.mirrorArea[f]!;
          // grazing faces of the reference serve only while they stay about as small as they were: turned to the
          // front their few texels (often hair over the cheek's edge) would smear, and their depth test flickers
          // from face to face; they are filled like unseen ones instead
          const seen = ref.faceUsable[f] === 1 && (ref.faceSquare[f] === 1 || stretch <= GRAZING_STRETCH) && ref.seenAt(x, y, z, ref.faceTol[f]!);
          const ma = mirror[a]!, mb = mirror[b]!, mc = mirror[c]!;
          const mirrorSeen = !this.mouth[f] && ref.vertexSeen[ma] === 1 && ref.vertexSeen[mb] === 1 && ref.vertexSeen[mc] === 1;
          if (seen && this.mouth[f] && stretch > MAX_STRETCH) {
            // the lip seam the reference shows, pulled open: the cavity, not a smear of lip texels
            col[0] = CAVITY[0]; col[1] = CAVITY[1]; col[2] = CAVITY[2];
            cavity = true;
          } else if (seen && (stretch <= MAX_STRETCH || !mirrorSeen || mirrorStretch >= stretch)) {
            ref.sample(x, y, col, 0);
            filled = false;
          } else if (mirrorSeen) {
            // the mirror's detail on this side's own colour: its sample minus its vertex colours plus ours (lighting
            // and hair over the other cheek differ; only the texture's fine structure is borrowed)
            ref.sample(w0 * R[3 * ma]! + w1 * R[3 * mb]! + w2 * R[3 * mc]!, w0 * R[3 * ma + 1]! + w1 * R[3 * mb + 1]! + w2 * R[3 * mc + 1]!, col, 0);
            const F = ref.fill;
            for (let k = 0; k < 3; k++) {
              const v = col[k]! + w0 * (F[3 * a + k]! - F[3 * ma + k]!) + w1 * (F[3 * b + k]! - F[3 * mb + k]!) + w2 * (F[3 * c + k]! - F[3 * mc + k]!);
              col[k] = v < 0 ? 0 : v > 255 ? 255 : v;
            }
          } else if (this.mouth[f]) {
            col[0] = CAVITY[0]; col[1] = CAVITY[1]; col[2] = CAVITY[2];
            cavity = true;
          } else {
            const F = ref.fill;
            for (let k = 0; k < 3; k++) col[k] = w0 * F[3 * a + k]! + w1 * F[3 * b + k]! + w2 * F[3 * c + k]!;
          }
        }
        const o = 3 * p;
        if (alpha >= 1) {
          out[o] = col[0]! + 0.5; out[o + 1] = col[1]! + 0.5; out[o + 2] = col[2]! + 0.5;
        } else {
          for (let k = 0; k < 3; k++) out[o + k] = alpha * col[k]! + (1 - alpha) * out[o + k]! + 0.5;
        }
        if (filled && mask) mask[p] = 255;
        this.drawn[p] = alpha;
        if (cavity) {
          this.cavity[p] = 1;
          cavityRows = true;
        }
      }
    }
    if (cavityRows) this.smoothCavityEdges(out, R_.rowMin, R_.rowMax);
    this.fillVacated(out, mask);
  }

  /**
   * Where the inner, frontal face of the reference is no longer (fully) covered by the moved face, the reference's
   * features would show as a ghost; that share of the pixel gets the smooth skin instead (marked 128 in the mask when
   * it is the larger part). Elsewhere the reference pixel stays (the crop-frame convention). With the reference pose
   * nothing moved away and nothing changes.
   */
  private fillVacated(out: Uint8Array, mask?: Uint8Array): void {
    const ref = this.ref, px = ref.regionPixels, wr = ref.regionWeight, skin = ref.skin, rgb = ref.rgb, drawn = this.drawn;
    for (let k = 0; k < px.length; k++) {
      const p = px[k]!;
      const left = ref.regionSkin[k]! * (wr[k]! - drawn[p]!);
      if (left > MIN_WEIGHT) {
        for (let c = 0; c < 3; c++) {
          const v = out[3 * p + c]! + left * (skin[3 * k + c]! - rgb[3 * p + c]!) + 0.5;
          out[3 * p + c] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
        if (mask && left >= 0.5 && mask[p] === 0) mask[p] = 128;
      }
    }
    drawn.fill(0);
  }

  /**
   * The cavity is a flat colour with hard, aliased edges against the warped lips: each cavity pixel with a
   * non-cavity neighbour becomes the mean of its 3×3 neighbourhood (and every flag is cleared for the next frame).
   */
  private smoothCavityEdges(out: Uint8Array, r0: number, r1: number): void {
    const W = this.ref.width, H = this.ref.height, cav = this.cavity, edge = this.edge;
    let n = 0;
    for (let i = r0; i <= r1; i++)
      for (let p = i * W, end = p + W; p < end; p++) {
        if (!cav[p]) continue;
        const x = p - i * W;
        if ((x > 0 && !cav[p - 1]) || (x < W - 1 && !cav[p + 1]) || (i > 0 && !cav[p - W]) || (i < H - 1 && !cav[p + W])) edge[n++] = p;
      }
    const tmp = this.edgeRgb.length >= 3 * n ? this.edgeRgb : (this.edgeRgb = new Float32Array(3 * n));
    for (let k = 0; k < n; k++) {
      const p = edge[k]!, i = (p / W) | 0, x = p - i * W;
      let r = 0, g = 0, b = 0, c = 0;
      for (let di = -1; di <= 1; di++)
        for (let dj = -1; dj <= 1; dj++) {
          const yy = i + di, xx = x + dj;
          if (yy < 0 || xx < 0 || yy >= H || xx >= W) continue;
          const q = 3 * (yy * W + xx);
          r += out[q]!; g += out[q + 1]!; b += out[q + 2]!; c++;
        }
      tmp[3 * k] = r / c; tmp[3 * k + 1] = g / c; tmp[3 * k + 2] = b / c;
    }
    for (let k = 0; k < n; k++) for (let c = 0; c < 3; c++) out[3 * edge[k]! + c] = tmp[3 * k + c]! + 0.5;
    for (let i = r0; i <= r1; i++) cav.fill(0, i * W, (i + 1) * W);
  }
}

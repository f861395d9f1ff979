// The fit overlay: a fitted mesh's wireframe and its landmarks against the detected ones, drawn with io/draw.ts.

import type { Image } from '../io/image';
import { copyRgb, drawDot, drawLine, type Rgb } from '../io/draw';
import type { FlameModelData } from '../flame/types';
import { posedMesh, type MeshParams } from './mesh';

/** Wireframe of the camera-facing triangles of a posed mesh. `stride` > 1 draws every n-th triangle. */
export function drawWireframe(img: Image, model: FlameModelData, p: MeshParams, col: Rgb = [120, 200, 255], alpha = 0.22, stride = 1): void {
  const mesh = posedMesh(model, p);
  const f = model.faces, pts = mesh.image, w = mesh.world;
  const line = (a: number, b: number) => drawLine(img, pts[2 * a]!, pts[2 * a + 1]!, pts[2 * b]!, pts[2 * b + 1]!, col, { alpha });
  for (let t = 0; t < f.length / 3; t += stride) {
    const a = f[3 * t]!, b = f[3 * t + 1]!, c = f[3 * t + 2]!;
    // facing: the projected winding (image y is down, so a counter-clockwise world triangle is clockwise here)
    const ex = w[3 * b]! - w[3 * a]!, ey = w[3 * b + 1]! - w[3 * a + 1]!, fx = w[3 * c]! - w[3 * a]!, fy = w[3 * c + 1]! - w[3 * a + 1]!;
    if (ex * fy - ey * fx <= 0) continue;
    line(a, b);
    line(b, c);
    line(c, a);
  }
}

export interface OverlayFit extends MeshParams {
  landmarks: Float64Array;
  detected: Float64Array | null;
  dense?: { fitted: Float64Array; detected: Float64Array } | null;
}

/**
 * The fit overlay: mesh wireframe, detected 68 landmarks (red), fitted ones (green), residual lines (yellow), fitted
 * dense points (cyan).
 */
export function drawFitOverlay(image: Image | null, model: FlameModelData, fit: OverlayFit, size?: { width: number; height: number }): Image {
  const img = copyRgb(image, size?.width, size?.height);
  const r = Math.max(1, Math.round(Math.max(img.width, img.height) / 350));
  drawWireframe(img, model, fit);
  if (fit.dense) for (let p = 0; p < fit.dense.fitted.length / 2; p++) drawDot(img, fit.dense.fitted[2 * p]!, fit.dense.fitted[2 * p + 1]!, r * 0.5, [0, 230, 230], 0.8);
  for (let i = 0; i < 68; i++) {
    const fx = fit.landmarks[2 * i]!, fy = fit.landmarks[2 * i + 1]!;
    if (fit.detected) {
      const dx = fit.detected[2 * i]!, dy = fit.detected[2 * i + 1]!;
      drawLine(img, fx, fy, dx, dy, [255, 230, 0], { alpha: 0.9 });
      drawDot(img, dx, dy, r, [255, 40, 40]);
    }
    drawDot(img, fx, fy, r, [40, 255, 60]);
  }
  return img;
}

// Simple 2D drawing for the fit overlays (no rasterizer needed): alpha-blended lines and dots into an RGB copy.

import type { Image } from '../io/image';
import type { FlameModelData } from '../flame/types';
import { posedMesh, type MeshParams } from './mesh';

export type Rgb = readonly [number, number, number];

/** An RGB copy of an image (or a black canvas). */
export function rgbCopy(image: Image | null, width = image?.width ?? 512, height = image?.height ?? 512): Image {
  const out = new Uint8Array(width * height * 3);
  if (image) {
    const C = image.channels;
    for (let i = 0, n = width * height; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = image.data[C * i + c];
  }
  return { width, height, channels: 3, data: out };
}

function blend(img: Image, x: number, y: number, col: Rgb, a: number): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 3;
  const d = img.data;
  d[o] = Math.round(d[o] + (col[0] - d[o]) * a);
  d[o + 1] = Math.round(d[o + 1] + (col[1] - d[o + 1]) * a);
  d[o + 2] = Math.round(d[o + 2] + (col[2] - d[o + 2]) * a);
}

/** A 1-pixel line (DDA), alpha-blended. Non-finite endpoints draw nothing. */
export function drawLine(img: Image, x0: number, y0: number, x1: number, y1: number, col: Rgb, alpha = 1): void {
  if (![x0, y0, x1, y1].every(Number.isFinite)) return;
  const n = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)));
  if (n > 4 * (img.width + img.height)) return; // far off-canvas: skip
  for (let i = 0; i <= n; i++) {
    const t = n ? i / n : 0;
    blend(img, Math.round(x0 + (x1 - x0) * t), Math.round(y0 + (y1 - y0) * t), col, alpha);
  }
}

/** A filled disc of radius r. */
export function drawDot(img: Image, x: number, y: number, r: number, col: Rgb, alpha = 1): void {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  const cx = Math.round(x), cy = Math.round(y), R = Math.max(0, Math.round(r));
  for (let dy = -R; dy <= R; dy++) for (let dx = -R; dx <= R; dx++) if (dx * dx + dy * dy <= r * r + 0.5) blend(img, cx + dx, cy + dy, col, alpha);
}

/** Wireframe of the camera-facing triangles of a posed mesh. `stride` > 1 draws every n-th triangle. */
export function drawWireframe(img: Image, model: FlameModelData, p: MeshParams, col: Rgb = [120, 200, 255], alpha = 0.22, stride = 1): void {
  const mesh = posedMesh(model, p);
  const f = model.faces, pts = mesh.image, w = mesh.world;
  for (let t = 0; t < f.length / 3; t += stride) {
    const a = f[3 * t], b = f[3 * t + 1], c = f[3 * t + 2];
    // facing: the projected winding (image y is down, so a counter-clockwise world triangle is clockwise here)
    const ex = w[3 * b] - w[3 * a], ey = w[3 * b + 1] - w[3 * a + 1], fx = w[3 * c] - w[3 * a], fy = w[3 * c + 1] - w[3 * a + 1];
    if (ex * fy - ey * fx <= 0) continue;
    drawLine(img, pts[2 * a], pts[2 * a + 1], pts[2 * b], pts[2 * b + 1], col, alpha);
    drawLine(img, pts[2 * b], pts[2 * b + 1], pts[2 * c], pts[2 * c + 1], col, alpha);
    drawLine(img, pts[2 * c], pts[2 * c + 1], pts[2 * a], pts[2 * a + 1], col, alpha);
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
  const img = rgbCopy(image, size?.width, size?.height);
  const r = Math.max(1, Math.round(Math.max(img.width, img.height) / 350));
  drawWireframe(img, model, fit);
  if (fit.dense) for (let p = 0; p < fit.dense.fitted.length / 2; p++) drawDot(img, fit.dense.fitted[2 * p], fit.dense.fitted[2 * p + 1], r * 0.5, [0, 230, 230], 0.8);
  for (let i = 0; i < 68; i++) {
    const fx = fit.landmarks[2 * i], fy = fit.landmarks[2 * i + 1];
    if (fit.detected) {
      const dx = fit.detected[2 * i], dy = fit.detected[2 * i + 1];
      drawLine(img, fx, fy, dx, dy, [255, 230, 0], 0.9);
      drawDot(img, dx, dy, r, [255, 40, 40]);
    }
    drawDot(img, fx, fy, r, [40, 255, 60]);
  }
  return img;
}

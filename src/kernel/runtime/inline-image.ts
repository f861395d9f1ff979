/** Images as notebook outputs: large ones averaged down to a display size, inline ones as PNG or JPEG. */
import jpeg from 'jpeg-js';
import type { AnyImage } from '../io/image';
import { encodePng } from '../io/png';

/** Longest side of an image shown inline in a notebook output (larger images are averaged down to it). */
export const INLINE_MAX_SIDE = 1024;
/** Longest side of a frame stored for the scrubber (the artifact store keeps displays, not originals). */
export const FRAME_MAX_SIDE = 1600;

/**
 * The image itself when its longer side is at most `maxSide`, else an area-averaged copy that fits (each output
 * pixel the mean of the input pixels it covers): a 48-MP photo shows as a ~1 MP picture, not a 60 MB PNG.
 */
export function fitForDisplay(img: AnyImage, maxSide: number): AnyImage {
  if (Math.max(img.width, img.height) <= maxSide) return img;
  // 2×2 box halvings while at least twice too large (integer, fast), then the exact area average
  while (Math.max(img.width, img.height) >= 4 * maxSide) img = halve(img);
  const { width: W, height: H, channels: C, data } = img;
  const k = maxSide / Math.max(W, H);
  const w = Math.max(1, Math.round(W * k)), h = Math.max(1, Math.round(H * k));
  const out = new Uint8Array(w * h * C);
  const acc = new Float64Array(w * C), cnt = new Float64Array(w);
  // column of each input x, computed once
  const col = new Int32Array(W);
  for (let x = 0; x < W; x++) col[x] = Math.min(w - 1, Math.floor((x * w) / W));
  let y0 = 0;
  for (let oy = 0; oy < h; oy++) {
    const y1 = Math.max(y0 + 1, Math.min(H, Math.round(((oy + 1) * H) / h)));
    acc.fill(0);
    cnt.fill(0);
    for (let y = y0; y < y1; y++) {
      let p = y * W * C;
      for (let x = 0; x < W; x++, p += C) {
        const o = col[x]! * C;
        for (let c = 0; c < C; c++) acc[o + c]! += data[p + c]!;
        cnt[col[x]!]!++;
      }
    }
    for (let ox = 0; ox < w; ox++) for (let c = 0; c < C; c++) out[(oy * w + ox) * C + c] = Math.round(acc[ox * C + c]! / Math.max(1, cnt[ox]!));
    y0 = y1;
  }
  return { width: w, height: h, channels: C, data: out };
}

/** 2×2 box average (odd last row / column dropped). */
function halve(img: AnyImage): AnyImage {
  const { width: W0, channels: C, data: d } = img;
  const W = img.width >> 1, H = img.height >> 1, row = W0 * C;
  const out = new Uint8Array(W * H * C);
  let o = 0;
  for (let y = 0; y < H; y++) {
    let p = 2 * y * row;
    if (C === 3)
      for (let x = 0; x < W; x++, p += 6, o += 3) {
        const q = p + row;
        out[o] = (d[p]! + d[p + 3]! + d[q]! + d[q + 3]! + 2) >> 2;
        out[o + 1] = (d[p + 1]! + d[p + 4]! + d[q + 1]! + d[q + 4]! + 2) >> 2;
        out[o + 2] = (d[p + 2]! + d[p + 5]! + d[q + 2]! + d[q + 5]! + 2) >> 2;
      }
    else for (let x = 0; x < W; x++, p += 2 * C) for (let c = 0; c < C; c++, o++) out[o] = (d[p + c]! + d[p + C + c]! + d[p + row + c]! + d[p + row + C + c]! + 2) >> 2;
  }
  return { width: W, height: H, channels: C, data: out };
}

/**
 * An image as an inline notebook output: as it is, in PNG, when it fits INLINE_MAX_SIDE; a larger one (a photo)
 * averaged down to that size and in JPEG (quality 85), a few hundred kB instead of megabytes. `note` says so.
 */
export function inlineImage(img: AnyImage): { mime: 'image/png' | 'image/jpeg'; base64: string; note: string } {
  const shown = fitForDisplay(img, INLINE_MAX_SIDE);
  if (shown === img) return { mime: 'image/png', base64: Buffer.from(encodePng(img)).toString('base64'), note: '' };
  const n = shown.width * shown.height, rgba = new Uint8Array(4 * n), C = shown.channels;
  for (let i = 0; i < n; i++) {
    rgba[4 * i] = shown.data[C * i]!;
    rgba[4 * i + 1] = shown.data[C * i + (C === 1 ? 0 : 1)]!;
    rgba[4 * i + 2] = shown.data[C * i + (C === 1 ? 0 : 2)]!;
    rgba[4 * i + 3] = 255;
  }
  const bytes = jpeg.encode({ data: rgba, width: shown.width, height: shown.height }, 85).data;
  return { mime: 'image/jpeg', base64: Buffer.from(bytes).toString('base64'), note: ` (shown at ${shown.width}×${shown.height})` };
}

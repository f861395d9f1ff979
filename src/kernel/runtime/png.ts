/** PNG encoding of the kernel's 8-bit images (grey, RGB or RGBA). */
import { PNG } from 'pngjs';

/** An 8-bit image, row-major, 1 (grey), 3 (RGB) or 4 (RGBA) channels. */
export interface RgbImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

export function encodePng(img: RgbImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  const src = img.data;
  const dst = png.data;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    if (img.channels === 1) {
      const v = src[i]!;
      dst[4 * i] = v;
      dst[4 * i + 1] = v;
      dst[4 * i + 2] = v;
      dst[4 * i + 3] = 255;
    } else {
      dst[4 * i] = src[img.channels * i]!;
      dst[4 * i + 1] = src[img.channels * i + 1]!;
      dst[4 * i + 2] = src[img.channels * i + 2]!;
      dst[4 * i + 3] = img.channels === 4 ? src[4 * i + 3]! : 255;
    }
  }
  return PNG.sync.write(png);
}

/**
 * JPEG as the reference pipeline writes and reads it (reference-pipeline.md §1.1, §5.6, §6.3): Pillow's
 * `save(…, 'JPEG')` with its defaults, i.e. libjpeg's `jpeg_set_defaults` + `jpeg_set_quality(75)`, and Pillow's
 * `Image.open(…)` decode, i.e. libjpeg(-turbo)'s default decompression.
 *
 * Encoding is ours, because no npm JPEG encoder reproduces libjpeg's defaults: jpeg-js uses a float DCT and no chroma
 * subsampling, the libjpeg-turbo WebAssembly build below compresses through TurboJPEG (fast integer DCT, fixed
 * flags), and MozJPEG (@jsquash/jpeg) always applies trellis quantisation. It follows libjpeg step by step:
 *   - RGB → YCbCr with jccolor.c's 16-bit fixed-point coefficients;
 *   - 4:2:0 (2×2 luma, 1×1 chroma) with jcsample.c's h2v2 box average and its alternating 1, 2 rounding bias; the
 *     right edge replicated to whole blocks before downsampling, the bottom to whole iMCU rows (jcprepct.c);
 *   - jfdctint.c's accurate integer DCT (JDCT_ISLOW, the default), quantised by rounding half away from zero with the
 *     Annex K tables scaled for the quality (jcparam.c);
 *   - dummy blocks beyond the image edge as jccoefct.c makes them (zero AC, the neighbour's DC);
 *   - baseline Huffman coding with the standard Annex K tables (Pillow's `optimize` is off), JFIF 1.01 header.
 * The file is byte-identical to Pillow's for the images we tested (test/io/jpeg.test.ts).
 *
 * Decoding uses libjpeg-turbo itself, compiled to WebAssembly (@cornerstonejs/codec-libjpeg-turbo-8bit): the accurate
 * integer IDCT and the triangle-filter ("fancy") chroma upsampling, exactly what Pillow decodes. jpeg-js, which
 * `decodeImage` uses, upsamples chroma by replication and differs from Pillow by up to ±118 on chroma edges.
 */
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import { decodeImage, sniffImageFormat, type Image } from './image';

// ------------------------------------------------------------------------------------------------------------------
// Tables (ITU-T T.81 Annex K)

/** Zig-zag position → natural (row-major) index. */
const NATURAL_ORDER = Int32Array.of(
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
);

const LUMA_QUANT = Int32Array.of(
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
);
const CHROMA_QUANT = Int32Array.of(
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
);

interface HuffSpec {
  bits: number[]; // codes of length 1..16
  vals: number[];
}
const hex = (s: string) => s.split(' ').map((x) => parseInt(x, 16));
const DC_LUMA: HuffSpec = { bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], vals: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const DC_CHROMA: HuffSpec = { bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], vals: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const AC_LUMA: HuffSpec = {
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  vals: hex(
    '01 02 03 00 04 11 05 12 21 31 41 06 13 51 61 07 22 71 14 32 81 91 a1 08 23 42 b1 c1 15 52 d1 f0 24 33 62 72 82 09 0a 16 17 18 19 1a 25 26 27 28 29 2a ' +
      '34 35 36 37 38 39 3a 43 44 45 46 47 48 49 4a 53 54 55 56 57 58 59 5a 63 64 65 66 67 68 69 6a 73 74 75 76 77 78 79 7a 83 84 85 86 87 88 89 8a ' +
      '92 93 94 95 96 97 98 99 9a a2 a3 a4 a5 a6 a7 a8 a9 aa b2 b3 b4 b5 b6 b7 b8 b9 ba c2 c3 c4 c5 c6 c7 c8 c9 ca d2 d3 d4 d5 d6 d7 d8 d9 da ' +
      'e1 e2 e3 e4 e5 e6 e7 e8 e9 ea f1 f2 f3 f4 f5 f6 f7 f8 f9 fa',
  ),
};
const AC_CHROMA: HuffSpec = {
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  vals: hex(
    '00 01 02 03 11 04 05 21 31 06 12 41 51 07 61 71 13 22 32 81 08 14 42 91 a1 b1 c1 09 23 33 52 f0 15 62 72 d1 0a 16 24 34 e1 25 f1 17 18 19 1a 26 ' +
      '27 28 29 2a 35 36 37 38 39 3a 43 44 45 46 47 48 49 4a 53 54 55 56 57 58 59 5a 63 64 65 66 67 68 69 6a 73 74 75 76 77 78 79 7a 82 83 84 85 86 87 ' +
      '88 89 8a 92 93 94 95 96 97 98 99 9a a2 a3 a4 a5 a6 a7 a8 a9 aa b2 b3 b4 b5 b6 b7 b8 b9 ba c2 c3 c4 c5 c6 c7 c8 c9 ca d2 d3 d4 d5 d6 d7 d8 d9 da ' +
      'e2 e3 e4 e5 e6 e7 e8 e9 ea f2 f3 f4 f5 f6 f7 f8 f9 fa',
  ),
};

/** Code and length per symbol (jchuff.c jpeg_make_c_derived_tbl). */
function derive(spec: HuffSpec): { code: Uint32Array; size: Uint8Array } {
  const code = new Uint32Array(256), size = new Uint8Array(256);
  let c = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < spec.bits[len - 1]!; i++, k++) {
      code[spec.vals[k]!] = c++;
      size[spec.vals[k]!] = len;
    }
    c <<= 1;
  }
  return { code, size };
}

/** jcparam.c: jpeg_quality_scaling + jpeg_add_quant_table with force_baseline. Natural order. */
export function libjpegQuantTable(base: Int32Array, quality: number): Int32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return base.map((b) => Math.min(255, Math.max(1, Math.floor((b * scale + 50) / 100))));
}

// ------------------------------------------------------------------------------------------------------------------
// Forward path

const FIX = (x: number) => Math.floor(x * 65536 + 0.5);
const Y_R = FIX(0.299), Y_G = FIX(0.587), Y_B = FIX(0.114), CB_R = FIX(0.16874), CB_G = FIX(0.33126), HALF = FIX(0.5), CR_G = FIX(0.41869), CR_B = FIX(0.08131);
const CBCR_OFFSET = 128 << 16, ONE_HALF = 1 << 15;

/** jfdctint.c (JDCT_ISLOW), in place on 64 level-shifted samples; output scaled up by 8. */
function fdctIslow(d: Int32Array): void {
  const C = 13, P = 2;
  const descale = (x: number, n: number) => (x + (1 << (n - 1))) >> n;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < 8; i++) {
      const o = pass === 0 ? 8 * i : i, s = pass === 0 ? 1 : 8;
      const d0 = d[o]!, d1 = d[o + s]!, d2 = d[o + 2 * s]!, d3 = d[o + 3 * s]!, d4 = d[o + 4 * s]!, d5 = d[o + 5 * s]!, d6 = d[o + 6 * s]!, d7 = d[o + 7 * s]!;
      const tmp0 = d0 + d7, tmp1 = d1 + d6, tmp2 = d2 + d5, tmp3 = d3 + d4;
      let tmp7 = d0 - d7, tmp6 = d1 - d6, tmp5 = d2 - d5, tmp4 = d3 - d4;
      const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
      const shift = pass === 0 ? C - P : C + P;
      if (pass === 0) {
        d[o] = (tmp10 + tmp11) << P;
        d[o + 4 * s] = (tmp10 - tmp11) << P;
      } else {
        d[o] = descale(tmp10 + tmp11, P);
        d[o + 4 * s] = descale(tmp10 - tmp11, P);
      }
      let z1 = (tmp12 + tmp13) * 4433;
      d[o + 2 * s] = descale(z1 + tmp13 * 6270, shift);
      d[o + 6 * s] = descale(z1 + tmp12 * -15137, shift);
      z1 = tmp4 + tmp7;
      let z2 = tmp5 + tmp6, z3 = tmp4 + tmp6, z4 = tmp5 + tmp7;
      const z5 = (z3 + z4) * 9633;
      tmp4 *= 2446;
      tmp5 *= 16819;
      tmp6 *= 25172;
      tmp7 *= 12299;
      z1 *= -7373;
      z2 *= -20995;
      z3 = z3 * -16069 + z5;
      z4 = z4 * -3196 + z5;
      d[o + 7 * s] = descale(tmp4 + z1 + z3, shift);
      d[o + 5 * s] = descale(tmp5 + z2 + z4, shift);
      d[o + 3 * s] = descale(tmp6 + z2 + z3, shift);
      d[o + s] = descale(tmp7 + z1 + z4, shift);
    }
  }
}

interface Plane {
  data: Uint8Array;
  /** Padded width (whole blocks) and rows held (whole iMCU rows). */
  width: number;
  height: number;
  blocksW: number;
  blocksH: number;
}

function toPlanes(img: Image, mcuW: number, mcuH: number): Plane[] {
  const { width: W, height: H } = img;
  const ch = img.channels;
  const src = img.data;
  const ceil = (a: number, b: number) => Math.ceil(a / b);
  const rowsPadded = ceil(H, mcuH) * mcuH;
  // full-resolution YCbCr, right edge replicated to the chroma padding (2 × chroma blocks × 8), bottom to whole iMCUs
  const cW = ceil(W, 2), cBlocksW = ceil(cW, 8), cBlocksH = ceil(ceil(H, 2), 8);
  const yBlocksW = ceil(W, 8), yBlocksH = ceil(H, 8);
  const fullW = Math.max(cBlocksW * 16, yBlocksW * 8);
  const Y = new Uint8Array(fullW * rowsPadded), Cb = new Uint8Array(fullW * rowsPadded), Cr = new Uint8Array(fullW * rowsPadded);
  for (let y = 0; y < rowsPadded; y++) {
    const sy = Math.min(y, H - 1);
    for (let x = 0; x < fullW; x++) {
      const sx = Math.min(x, W - 1);
      const p = (sy * W + sx) * ch;
      const r = src[p]!, g = src[p + 1]!, b = src[p + 2]!;
      const i = y * fullW + x;
      Y[i] = (Y_R * r + Y_G * g + Y_B * b + ONE_HALF) >> 16;
      Cb[i] = (-CB_R * r - CB_G * g + HALF * b + CBCR_OFFSET + ONE_HALF - 1) >> 16;
      Cr[i] = (HALF * r - CR_G * g - CR_B * b + CBCR_OFFSET + ONE_HALF - 1) >> 16;
    }
  }
  // jcsample.c h2v2_downsample: bias 1, 2, 1, 2… along each output row; rows beyond the downsampled height
  // replicate the last one (jcprepct.c expand_bottom_edge of the output)
  const cRows = rowsPadded / 2;
  const lastC = Math.ceil(H / 2) - 1;
  const down = (P: Uint8Array) => {
    const out = new Uint8Array(cBlocksW * 8 * cRows);
    const w = cBlocksW * 8;
    for (let y = 0; y < cRows; y++) {
      const sy = Math.min(y, lastC);
      const r0 = 2 * sy * fullW, r1 = r0 + fullW;
      for (let x = 0; x < w; x++) out[y * w + x] = (P[r0 + 2 * x]! + P[r0 + 2 * x + 1]! + P[r1 + 2 * x]! + P[r1 + 2 * x + 1]! + (x & 1 ? 2 : 1)) >> 2;
    }
    return out;
  };
  const yPlane = new Uint8Array(yBlocksW * 8 * rowsPadded);
  for (let y = 0; y < rowsPadded; y++) yPlane.set(Y.subarray(y * fullW, y * fullW + yBlocksW * 8), y * yBlocksW * 8);
  return [
    { data: yPlane, width: yBlocksW * 8, height: rowsPadded, blocksW: yBlocksW, blocksH: yBlocksH },
    { data: down(Cb), width: cBlocksW * 8, height: cRows, blocksW: cBlocksW, blocksH: cBlocksH },
    { data: down(Cr), width: cBlocksW * 8, height: cRows, blocksW: cBlocksW, blocksH: cBlocksH },
  ];
}

class BitWriter {
  private buf = new Uint8Array(1 << 16);
  length = 0;
  private acc = 0;
  private n = 0;

  byte(b: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
  }
  bytes(bs: ArrayLike<number>): void {
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]!);
  }
  bits(code: number, size: number): void {
    for (let i = size - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >>> i) & 1);
      if (++this.n === 8) {
        this.byte(this.acc);
        if (this.acc === 0xff) this.byte(0); // byte stuffing
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  /** jchuff.c flush_bits: pad with 1-bits. */
  flush(): void {
    if (this.n) this.bits(0x7f, 8 - this.n);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const nbits = (v: number) => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));

export interface JpegEncodeOptions {
  /** 1…100, libjpeg's scale (default 75, Pillow's default). */
  quality?: number;
}

/**
 * Encodes an 8-bit RGB(A) image as a baseline JPEG exactly as Pillow does with its defaults (`quality=75`, 4:2:0,
 * no optimised Huffman tables): see the module comment. Alpha is ignored.
 */
export function encodeJpegLibjpeg(img: Image, options: JpegEncodeOptions = {}): Uint8Array {
  const { width: W, height: H } = img;
  if (!(W > 0 && H > 0 && W < 65536 && H < 65536)) throw new MagicPortraitError(`Cannot write a ${W}×${H} JPEG.`, 'bad-argument');
  if (img.channels !== 3 && img.channels !== 4) throw new MagicPortraitError(`JPEG encoding needs an RGB image, got ${img.channels} channels.`, 'bad-argument');
  const quality = options.quality ?? 75;
  const qt = [libjpegQuantTable(LUMA_QUANT, quality), libjpegQuantTable(CHROMA_QUANT, quality)];
  const planes = toPlanes(img, 16, 16);
  const w = new BitWriter();
  const marker = (m: number, payload: number[]) => {
    w.bytes([0xff, m, (payload.length + 2) >> 8, (payload.length + 2) & 255]);
    w.bytes(payload);
  };
  w.bytes([0xff, 0xd8]);
  marker(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]); // JFIF 1.01, aspect 1:1
  qt.forEach((t, id) => marker(0xdb, [id, ...Array.from(NATURAL_ORDER, (n) => t[n]!)]));
  marker(0xc0, [8, H >> 8, H & 255, W >> 8, W & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  const specs = [DC_LUMA, AC_LUMA, DC_CHROMA, AC_CHROMA];
  specs.forEach((s, i) => marker(0xc4, [(i & 1 ? 0x10 : 0) | (i >> 1), ...s.bits, ...s.vals]));
  marker(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);

  const dc = [derive(DC_LUMA), derive(DC_CHROMA)], ac = [derive(AC_LUMA), derive(AC_CHROMA)];
  const divisors = qt.map((t) => t.map((q) => q << 3)); // the ISLOW output is scaled by 8
  const block = new Int32Array(64);
  /** DCT + quantisation of the block at (bx, by) of plane p, into `out` (natural order). */
  const forward = (p: Plane, bx: number, by: number, table: Int32Array, out: Int32Array) => {
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) block[8 * r + c] = p.data[(8 * by + r) * p.width + 8 * bx + c]! - 128;
    fdctIslow(block);
    for (let i = 0; i < 64; i++) {
      const q = table[i]!, t = block[i]!;
      out[i] = t < 0 ? -Math.floor((-t + (q >> 1)) / q) : Math.floor((t + (q >> 1)) / q);
    }
  };
  const pred = [0, 0, 0];
  const emit = (ci: number, blk: Int32Array) => {
    const t = ci === 0 ? 0 : 1;
    const diff = blk[0]! - pred[ci]!;
    pred[ci] = blk[0]!;
    const n = nbits(diff);
    w.bits(dc[t]!.code[n]!, dc[t]!.size[n]!);
    if (n) w.bits(diff < 0 ? diff - 1 : diff, n);
    let run = 0;
    for (let k = 1; k < 64; k++) {
      const v = blk[NATURAL_ORDER[k]!]!;
      if (v === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        w.bits(ac[t]!.code[0xf0]!, ac[t]!.size[0xf0]!);
        run -= 16;
      }
      const m = nbits(v);
      const sym = (run << 4) | m;
      w.bits(ac[t]!.code[sym]!, ac[t]!.size[sym]!);
      w.bits(v < 0 ? v - 1 : v, m);
      run = 0;
    }
    if (run > 0) w.bits(ac[t]!.code[0]!, ac[t]!.size[0]!);
  };
  const mcusX = Math.ceil(W / 16), mcusY = Math.ceil(H / 16);
  const mcuBlocks = [2, 1, 1]; // blocks per MCU side per component (4:2:0)
  const mcu = Array.from({ length: 4 }, () => new Int32Array(64));
  for (let my = 0; my < mcusY; my++) {
    for (let mx = 0; mx < mcusX; mx++) {
      planes.forEach((p, ci) => {
        const n = mcuBlocks[ci]!;
        const table = divisors[ci === 0 ? 0 : 1]!;
        // jccoefct.c compress_data: blocks past the component's edge are dummies with zero AC; one right of the edge
        // repeats the DC of the block before it, a row below the edge the DC of the last block of the row above
        for (let yy = 0, k = 0; yy < n; yy++) {
          const by = my * n + yy;
          for (let xx = 0; xx < n; xx++, k++) {
            const bx = mx * n + xx;
            const out = mcu[k]!;
            if (by < p.blocksH && bx < p.blocksW) forward(p, bx, by, table, out);
            else {
              const dcFrom = by < p.blocksH ? mcu[k - 1]![0]! : mcu[yy * n - 1]![0]!;
              out.fill(0);
              out[0] = dcFrom;
            }
          }
        }
        for (let b = 0; b < n * n; b++) emit(ci, mcu[b]!);
      });
    }
  }
  w.flush();
  w.bytes([0xff, 0xd9]);
  return w.result();
}

// ------------------------------------------------------------------------------------------------------------------
// Decoding: libjpeg-turbo (WebAssembly)

interface TurboDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; componentCount: number; bitsPerSample: number };
  getDecodedBuffer(): Uint8Array;
  delete?(): void;
}
interface TurboModule {
  JPEGDecoder: new () => TurboDecoder;
}

let turbo: Promise<TurboModule> | null = null;

function loadTurbo(): Promise<TurboModule> {
  turbo ??= (async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const factory = require('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as (o: object) => Promise<TurboModule>;
    const wasmBinary = readFileSync(require.resolve('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm'));
    return factory({ wasmBinary, print: () => {}, printErr: () => {} });
  })();
  turbo.catch(() => (turbo = null));
  return turbo;
}

let loaded: TurboModule | null = null;

/** Loads the libjpeg-turbo WebAssembly module (once); after it, `decodeJpegLibjpegSync` works. */
export async function libjpegReady(): Promise<void> {
  loaded ??= await loadTurbo();
}

/** Decodes a JPEG with libjpeg-turbo's defaults (what Pillow's `Image.open(…).convert('RGB')` returns). */
export async function decodeJpegLibjpeg(bytes: Uint8Array, name = 'JPEG'): Promise<Image> {
  await libjpegReady();
  return decodeJpegLibjpegSync(bytes, name);
}

/** The same, synchronously, once `libjpegReady()` has resolved. */
export function decodeJpegLibjpegSync(bytes: Uint8Array, name = 'JPEG'): Image {
  if (!loaded) throw new MagicPortraitError('decodeJpegLibjpegSync: await libjpegReady() first.', 'internal');
  const dec = new loaded.JPEGDecoder();
  try {
    dec.getEncodedBuffer(bytes.length).set(bytes);
    try {
      dec.decode();
    } catch (e) {
      throw new MagicPortraitError(`${name} could not be decoded as JPEG (libjpeg-turbo: ${typeof e === 'string' ? e : (e as Error)?.message ?? 'error'}).`, 'bad-file');
    }
    const info = dec.getFrameInfo();
    const px = dec.getDecodedBuffer();
    const n = info.width * info.height;
    const data = new Uint8Array(3 * n);
    if (info.componentCount === 3) data.set(px.subarray(0, 3 * n));
    else if (info.componentCount === 1) for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = px[i]!;
    else throw new MagicPortraitError(`${name}: ${info.componentCount}-component JPEGs are not supported.`, 'bad-file');
    return { width: info.width, height: info.height, channels: 3, data };
  } finally {
    dec.delete?.();
  }
}

/** The guidance maps' trip through a `.jpg` file in the reference (§5.6): Pillow quality-75 save, then Pillow open. */
export async function jpegRoundTrip(img: Image, options: JpegEncodeOptions = {}): Promise<Image> {
  return decodeJpegLibjpeg(encodeJpegLibjpeg(img, options));
}

/** Pillow's `Image.open(path).convert('RGB')`: JPEG through libjpeg-turbo, PNG through pngjs. */
export async function readImageAsPillow(path: string): Promise<Image> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new MagicPortraitError(`Cannot read ${path}: ${(e as Error).message}`, 'missing-file');
  }
  if (sniffImageFormat(bytes) === 'jpeg') return decodeJpegLibjpeg(bytes, path);
  return decodeImage(bytes, { name: path });
}

/**
 * Full-reference image metrics on 8-bit frames, matching scikit-image's definitions exactly.
 *
 * PSNR — `skimage.metrics.peak_signal_noise_ratio(target, generated, data_range=255)`:
 *   10·log10(255² / MSE), MSE over every pixel and channel in float64; identical frames give +Infinity.
 *
 * SSIM — `skimage.metrics.structural_similarity(target, generated, channel_axis=-1, gaussian_weights=True,
 *   sigma=1.5, use_sample_covariance=False, data_range=255)` (K1 = 0.01, K2 = 0.03), i.e. Wang et al.'s setting:
 *   per channel, the local means / variances / covariance come from a Gaussian filter (σ = 1.5, truncated at 3.5σ:
 *   an 11-tap kernel, `scipy.ndimage.gaussian_filter` weights exp(−x²/2σ²)/Σ) applied to x, y, x², y², xy in
 *   float64; variances use the population normalisation (cov_norm = 1);
 *   S = (2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = (0.01·255)², C2 = (0.03·255)²;
 *   the channel's SSIM is the mean of S over the image with a 5-pixel border cropped (skimage's `crop(S, pad)`,
 *   pad = (11 − 1)/2); the result is the mean over the R, G, B channels.
 *   Because the border is cropped, every retained filter output only touches pixels inside the image, so
 *   skimage's 'reflect' padding never influences the value and is not needed here.
 *
 * Both take RGB (or RGBA: alpha is ignored) images of equal size; PSNR/SSIM are symmetric in their arguments.
 */
import { MagicPortraitError } from '../errors';
import { checkImage, type Image } from '../io/image';

export const SSIM_SIGMA = 1.5;
export const SSIM_TRUNCATE = 3.5;
export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;
export const DATA_RANGE = 255;

/** scipy.ndimage's 1-D Gaussian weights: radius int(truncate·σ + 0.5), exp(−x²/2σ²) normalised to sum 1. */
export function gaussianWeights(sigma = SSIM_SIGMA, truncate = SSIM_TRUNCATE): Float64Array {
  const r = Math.floor(truncate * sigma + 0.5);
  const w = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += w[i + r] = Math.exp((-0.5 / (sigma * sigma)) * i * i);
  for (let i = 0; i < w.length; i++) w[i]! /= s;
  return w;
}

const WEIGHTS = gaussianWeights();
const R = (WEIGHTS.length - 1) / 2;
// The filters below are unrolled for skimage's fixed window (σ 1.5, truncate 3.5).
if (WEIGHTS.length !== 11) throw new Error('SSIM: the unrolled filters expect an 11-tap window');

function checkPair(a: Image, b: Image, what: string): void {
  checkImage(a);
  checkImage(b);
  if (a.width !== b.width || a.height !== b.height)
    throw new MagicPortraitError(`${what}: the frames differ in size (${a.width}×${a.height} vs ${b.width}×${b.height}).`, 'bad-argument');
}

/** Mean squared error over all pixels and the R, G, B channels (float64). */
export function mse(a: Image, b: Image): number {
  checkPair(a, b, 'mse');
  const n = a.width * a.height;
  const ca = a.channels, cb = b.channels, da = a.data, db = b.data;
  let s = 0;
  for (let i = 0, ia = 0, ib = 0; i < n; i++, ia += ca, ib += cb) {
    const d0 = da[ia]! - db[ib]!, d1 = da[ia + 1]! - db[ib + 1]!, d2 = da[ia + 2]! - db[ib + 2]!;
    s += d0 * d0 + d1 * d1 + d2 * d2; // exact: integer sums stay far below 2^53
  }
  return s / (3 * n);
}

/** PSNR in dB for 8-bit data (data_range 255); +Infinity for identical frames. */
export function psnr(a: Image, b: Image): number {
  const m = mse(a, b);
  return m === 0 ? Infinity : 10 * Math.log10((DATA_RANGE * DATA_RANGE) / m);
}

/** Scratch buffers reused across calls of the same width (one SSIM at a time per process: JS is single-threaded). */
let scratch: { w: number; ring: Float64Array; rows: Float64Array; acc: Float64Array } | null = null;

function scratchFor(width: number) {
  if (!scratch || scratch.w !== width) {
    const ow = width - 2 * R;
    scratch = { w: width, ring: new Float64Array(WEIGHTS.length * 5 * ow), rows: new Float64Array(5 * width), acc: new Float64Array(5 * ow) };
  }
  return scratch;
}

/** out[j] = Σ_k w[k]·src[j + k] over the 11 taps, using the symmetry w[k] = w[10 − k]. */
function filterRow(src: Float64Array, s0: number, out: Float64Array, o0: number, ow: number): void {
  const w0 = WEIGHTS[0]!, w1 = WEIGHTS[1]!, w2 = WEIGHTS[2]!, w3 = WEIGHTS[3]!, w4 = WEIGHTS[4]!, w5 = WEIGHTS[5]!;
  for (let j = 0; j < ow; j++) {
    const p = s0 + j;
    out[o0 + j] =
      w0 * (src[p]! + src[p + 10]!) +
      w1 * (src[p + 1]! + src[p + 9]!) +
      w2 * (src[p + 2]! + src[p + 8]!) +
      w3 * (src[p + 3]! + src[p + 7]!) +
      w4 * (src[p + 4]! + src[p + 6]!) +
      w5 * src[p + 5]!;
  }
}

/** Mean SSIM of one channel over the cropped interior (see the file comment). */
function ssimChannel(a: Image, b: Image, c: number): number {
  const W = a.width, H = a.height, K = WEIGHTS.length;
  const ow = W - 2 * R; // output columns R … W−R−1
  const { ring, rows, acc } = scratchFor(W);
  const plane = 5 * ow; // one ring slot: hx | hy | hxx | hyy | hxy
  const C1 = (SSIM_K1 * DATA_RANGE) ** 2, C2 = (SSIM_K2 * DATA_RANGE) ** 2;
  const ca = a.channels, cb = b.channels, da = a.data, db = b.data;
  const offs = new Int32Array(K);
  let total = 0;
  for (let r = 0; r < H; r++) {
    // Row r of x, y, x², y², xy, then its horizontal pass into ring slot r mod K.
    const rowA = r * W * ca + c, rowB = r * W * cb + c;
    for (let j = 0; j < W; j++) {
      const xv = da[rowA + j * ca]!, yv = db[rowB + j * cb]!;
      rows[j] = xv;
      rows[W + j] = yv;
      rows[2 * W + j] = xv * xv;
      rows[3 * W + j] = yv * yv;
      rows[4 * W + j] = xv * yv;
    }
    const base = (r % K) * plane;
    for (let q = 0; q < 5; q++) filterRow(rows, q * W, ring, base + q * ow, ow);
    if (r < K - 1) continue;
    // Vertical pass: output row r − R from ring rows r−K+1 … r (oldest first, weights in order).
    for (let k = 0; k < K; k++) offs[k] = ((r - K + 1 + k) % K) * plane;
    for (let q = 0; q < 5; q++) {
      const qo = q * ow;
      const o0 = offs[0]! + qo, o1 = offs[1]! + qo, o2 = offs[2]! + qo, o3 = offs[3]! + qo, o4 = offs[4]! + qo, o5 = offs[5]! + qo;
      const o6 = offs[6]! + qo, o7 = offs[7]! + qo, o8 = offs[8]! + qo, o9 = offs[9]! + qo, o10 = offs[10]! + qo;
      const w0 = WEIGHTS[0]!, w1 = WEIGHTS[1]!, w2 = WEIGHTS[2]!, w3 = WEIGHTS[3]!, w4 = WEIGHTS[4]!, w5 = WEIGHTS[5]!;
      for (let j = 0; j < ow; j++)
        acc[qo + j] =
          w0 * (ring[o0 + j]! + ring[o10 + j]!) +
          w1 * (ring[o1 + j]! + ring[o9 + j]!) +
          w2 * (ring[o2 + j]! + ring[o8 + j]!) +
          w3 * (ring[o3 + j]! + ring[o7 + j]!) +
          w4 * (ring[o4 + j]! + ring[o6 + j]!) +
          w5 * ring[o5 + j]!;
    }
    for (let j = 0; j < ow; j++) {
      const ux = acc[j]!, uy = acc[ow + j]!, uxx = acc[2 * ow + j]!, uyy = acc[3 * ow + j]!, uxy = acc[4 * ow + j]!;
      const vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
      total += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
    }
  }
  return total / (ow * (H - 2 * R));
}

/** Per-channel SSIM (R, G, B) with scikit-image's Gaussian-window settings (see the file comment). */
export function ssimChannels(a: Image, b: Image): [number, number, number] {
  checkPair(a, b, 'ssim');
  if (a.width < WEIGHTS.length || a.height < WEIGHTS.length)
    throw new MagicPortraitError(`ssim: frames of ${a.width}×${a.height} are smaller than the ${WEIGHTS.length}×${WEIGHTS.length} window.`, 'bad-argument');
  return [ssimChannel(a, b, 0), ssimChannel(a, b, 1), ssimChannel(a, b, 2)];
}

/** SSIM, the mean of the three channel SSIMs (scikit-image `channel_axis=-1`). */
export function ssim(a: Image, b: Image): number {
  const [r, g, bl] = ssimChannels(a, b);
  return (r + g + bl) / 3;
}

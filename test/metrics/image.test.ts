import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Image } from '../../src/kernel/io/image';
import { gaussianWeights, mse, psnr, ssim, ssimChannels } from '../../src/kernel/metrics/image';
import { cropImage, decodeFrames, fixtures, sha256 } from './helpers';

interface GoldenCase {
  name: string;
  a: [string, number];
  b: [string, number];
  crop?: [number, number, number, number];
  noise?: boolean;
  sha_a: string;
  sha_b: string;
  psnr: number | null;
  psnr_inf: boolean;
  ssim: number;
  ssim_channels: number[];
}

const golden = JSON.parse(readFileSync(join(fixtures, 'image_golden.json'), 'utf8')) as { skimage: string; cases: GoldenCase[] };

function withNoise(im: Image): Image {
  const out = new Uint8Array(im.data.length);
  for (let r = 0; r < im.height; r++)
    for (let c = 0; c < im.width; c++)
      for (let ch = 0; ch < 3; ch++) {
        const i = (r * im.width + c) * 3 + ch;
        out[i] = Math.min(255, Math.max(0, im.data[i]! + (((7 * r + 13 * c + 5 * ch) % 11) - 5)));
      }
  return { ...im, data: out };
}

test('Gaussian weights are scipy.ndimage’s (σ 1.5, truncate 3.5 → 11 taps, sum 1)', () => {
  const w = gaussianWeights();
  assert.equal(w.length, 11);
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.ok(Math.abs(w[5]! / w[6]! - Math.exp(0.5 / 2.25)) < 1e-12);
});

test(`PSNR / SSIM match scikit-image ${golden.skimage} on real frames within 1e-4 (per channel too)`, async () => {
  const cache = new Map<string, Image[]>();
  const frame = async ([rel, i]: [string, number]) => {
    if (!cache.has(rel)) cache.set(rel, await decodeFrames(rel, 13));
    return cache.get(rel)![i]!;
  };
  let worst = 0;
  for (const c of golden.cases) {
    let a = await frame(c.a);
    let b = await frame(c.b);
    if (c.crop) {
      a = cropImage(a, ...c.crop);
      b = cropImage(b, ...c.crop);
    }
    if (c.noise) b = withNoise(b);
    assert.equal(sha256(a.data), c.sha_a, `${c.name}: frame a decodes to other bytes than in the golden script`);
    assert.equal(sha256(b.data), c.sha_b, `${c.name}: frame b decodes to other bytes than in the golden script`);
    const p = psnr(a, b);
    if (c.psnr_inf) assert.equal(p, Infinity, c.name);
    else assert.ok(Math.abs(p - c.psnr!) <= 1e-4, `${c.name}: psnr ${p} vs ${c.psnr}`);
    const s = ssim(a, b);
    assert.ok(Math.abs(s - c.ssim) <= 1e-4, `${c.name}: ssim ${s} vs ${c.ssim}`);
    const per = ssimChannels(a, b);
    per.forEach((v, k) => assert.ok(Math.abs(v - c.ssim_channels[k]!) <= 1e-4, `${c.name}: channel ${k}`));
    worst = Math.max(worst, Math.abs(s - c.ssim), c.psnr_inf ? 0 : Math.abs(p - c.psnr!));
  }
  // Not a tolerance: the actual agreement is float64 rounding.
  assert.ok(worst < 1e-9, `worst deviation ${worst}`);
});

test('SSIM / PSNR: symmetry, RGBA input, size errors', () => {
  const a: Image = { width: 16, height: 12, channels: 3, data: Uint8Array.from({ length: 16 * 12 * 3 }, (_, i) => (i * 37) % 256) };
  const b: Image = { ...a, data: Uint8Array.from(a.data, (v, i) => (v + (i % 5)) % 256) };
  assert.ok(Math.abs(ssim(a, b) - ssim(b, a)) < 1e-15);
  assert.equal(psnr(a, b), psnr(b, a));
  const rgba: Image = { width: 16, height: 12, channels: 4, data: new Uint8Array(16 * 12 * 4) };
  for (let i = 0; i < 16 * 12; i++) {
    rgba.data.set(b.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba.data[i * 4 + 3] = 7;
  }
  assert.equal(ssim(a, rgba), ssim(a, b));
  assert.equal(mse(a, rgba), mse(a, b));
  assert.throws(() => ssim(a, { width: 8, height: 12, channels: 3, data: new Uint8Array(8 * 12 * 3) }), /differ in size/);
  assert.throws(() => ssim({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) }, { width: 8, height: 8, channels: 3, data: new Uint8Array(192) }), /smaller than/);
});

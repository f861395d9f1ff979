/**
 * Instant previews of the real data, written outside the repository for looking at (issue #10, real-data check):
 * boy_cropped.jpg driven by magicportrait/driving.mp4 and by liveportrait/d0.mp4.
 *
 *   node --import tsx scripts/preview-real.ts [--data ../shared/data] [--out /tmp/preview-real] [--frames 120] [--every 15] [--region face|head]
 *
 * Per driving video: fit the portrait (demo head), track the first --frames frames, align (reference code §4.2),
 * preview, then write preview.mp4, every --every-th frame as PNG (preview, fill mask, driving frame side by side in
 * sheet-NNN.png) and timings.json into <out>/<video name>/.
 */
import { mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readImage, type Image } from '../src/kernel/io/image';
import { writePng } from '../src/kernel/io/png';
import { readFrames } from '../src/kernel/io/video';
import { createDemoHead } from '../src/kernel/flame';
import { align, fitFlame, trackFlame } from '../src/kernel/fit';
import { preview } from '../src/kernel/pipeline/preview';
import { detachedContext, setCurrentRun } from '../src/kernel/runtime/context';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const data = resolve(arg('data', join(__dirname, '..', '..', 'shared', 'data')));
const outDir = resolve(arg('out', '/tmp/preview-real'));
const maxFrames = Number(arg('frames', '120'));
const every = Number(arg('every', '15'));
const region = arg('region', 'face') as 'face' | 'head';

/** Side by side at the height of the first: preview | mask | driving (resized by nearest neighbour). */
function sheet(images: Image[]): Image {
  const H = images[0]!.height;
  const widths = images.map((im) => Math.round((im.width * H) / im.height));
  const W = widths.reduce((a, b) => a + b, 0);
  const data = new Uint8Array(W * H * 3);
  let ox = 0;
  images.forEach((im, k) => {
    const w = widths[k]!;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < w; x++) {
        const sx = Math.min(im.width - 1, Math.floor((x * im.width) / w)), sy = Math.min(im.height - 1, Math.floor((y * im.height) / H));
        for (let c = 0; c < 3; c++) data[(y * W + ox + x) * 3 + c] = im.data[(sy * im.width + sx) * im.channels + Math.min(c, im.channels - 1)]!;
      }
    ox += w;
  });
  return { width: W, height: H, channels: 3, data };
}

async function main(): Promise<void> {
  setCurrentRun(detachedContext(outDir, join(outDir, '.artifacts')));
  const model = createDemoHead();
  const image = readImage(join(data, 'magicportrait', 'boy_cropped.jpg'));
  const t0 = performance.now();
  const fit = await fitFlame(image, { model });
  console.log(`fit boy_cropped.jpg: NME ${(100 * fit.nme).toFixed(2)}%, quality ${fit.quality}, ${(performance.now() - t0).toFixed(0)} ms`);
  for (const [file, fps] of [['magicportrait/driving.mp4', 24], ['liveportrait/d0.mp4', 25]] as const) {
    const name = basename(file, '.mp4');
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const t1 = performance.now();
    const track = await trackFlame(join(data, file), { model, shape: fit, fps, read: { maxFrames } });
    const trackMs = performance.now() - t1;
    const aligned = align(fit, track);
    const p = await preview({ image, fit }, aligned, { model, region });
    copyFileSync(p.video!.path, join(dir, 'preview.mp4'));
    const driving: Image[] = [];
    for await (const f of readFrames(join(data, file), { maxFrames })) driving.push(f.image as Image);
    for (let i = 0; i < p.length; i += every) {
      const mask = p.masks![i]!;
      const maskRgb: Image = { width: mask.width, height: mask.height, channels: 3, data: Uint8Array.from({ length: mask.data.length * 3 }, (_, k) => mask.data[(k / 3) | 0]!) };
      const d = driving[aligned.drivingFrames[i]!];
      writePng(join(dir, `sheet-${String(i).padStart(3, '0')}.png`), sheet([p.frames[i] as Image, maskRgb, ...(d ? [d] : [])]));
    }
    const timings = { frames: p.length, trackMs: Math.round(trackMs), ...Object.fromEntries(Object.entries(p.timings).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v) : v])) };
    writeFileSync(join(dir, 'timings.json'), JSON.stringify(timings, null, 2));
    console.log(`${file}: ${p.length} frames → ${dir} (${JSON.stringify(timings)})`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

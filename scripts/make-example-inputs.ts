// Writes the inputs the example notebooks ship with (notebooks/inputs/, see its README.md), so every example runs from
// the installed extension with no other files:
//   astronaut.jpg     scikit-image's astronaut.png (Eileen Collins, NASA; public domain) re-encoded as JPEG
//   demo-driving.mp4  the built-in demo head performing the demo motion, rendered by this project's guidance renderer
// Run: npx tsx scripts/make-example-inputs.ts   (needs Debian's python3-skimage for the photo)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { decodeImage } from '../src/kernel/io/image';
import { createDemoHead } from '../src/kernel/flame';
import { demoDrivingSequence, onStudioBackdrop, renderGuidanceSequence } from '../src/kernel/pipeline/render-guidance';
import { encodeMp4 } from '../src/kernel/diffusion/video-out';

const OUT = join(__dirname, '..', 'notebooks', 'inputs');
const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} not found: apt-get install python3-skimage`);
  const photo = decodeImage(readFileSync(ASTRONAUT), { name: 'astronaut.png' });
  const rgba = new Uint8Array(photo.width * photo.height * 4);
  for (let i = 0; i < photo.width * photo.height; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = photo.data[photo.channels * i + c]!;
    rgba[4 * i + 3] = 255;
  }
  const jpg = jpeg.encode({ width: photo.width, height: photo.height, data: rgba }, 90).data;
  writeFileSync(join(OUT, 'astronaut.jpg'), jpg);
  console.log(`wrote notebooks/inputs/astronaut.jpg (${photo.width}×${photo.height}, ${(jpg.length / 1024).toFixed(0)} KiB)`);

  const head = createDemoHead();
  const sequence = demoDrivingSequence(head, { frames: 48 });
  const maps = await renderGuidanceSequence(sequence, { size: 512, maps: ['render', 'mask'] });
  const file = join(OUT, 'demo-driving.mp4');
  const n = await encodeMp4(file, maps.frames.map(onStudioBackdrop), sequence.fps ?? 24);
  console.log(`wrote notebooks/inputs/demo-driving.mp4 (${n} frames, 512×512, ${(readFileSync(file).length / 1024).toFixed(0)} KiB)`);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});

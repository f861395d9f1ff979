// Large inputs: a 48-megapixel JPEG decodes (ffmpeg's decoder; jpeg-js refused it), and large images are shown
// averaged down (inline JPEG, scrubber frames at most 1600 px), so notebooks stay small. Files are made here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { jpegSize, readImage } from '../../src/kernel/io/image';
import { toMimeBundle } from '../../src/kernel/runtime/display';
import { ArtifactStore } from '../../src/kernel/runtime/artifacts';
import { FrameSequenceDisplay } from '../../src/kernel/runtime/frames';
import { MIME } from '../../src/shared/outputs';
import { DISPLAY } from '../../src/kernel/runtime/display';
import { newCodeCell, parseNotebook, serializeNotebook } from '../../src/kernel/notebook/nbformat';
import { repoRoot } from '../runtime/kernel-harness';

const tmp = mkdtempSync(join(tmpdir(), 'mp-large-'));
const data = join(repoRoot, '..', 'shared', 'data');
const COLOURS: [number, number, number][] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 60]];

function ffmpeg(args: string[]): void {
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', ...args]);
  assert.equal(r.status, 0, String(r.stderr));
}

/** An 8000×6000 (48 MP) JPEG of four flat quadrants (flat blocks survive JPEG almost exactly). */
function quadrants(): string {
  const file = join(tmp, 'quadrants.jpg');
  const hex = (c: number[]) => `0x${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  const src = COLOURS.map((c, i) => `color=c=${hex(c)}:s=4000x3000:d=1[q${i}]`).join(';');
  ffmpeg(['-f', 'lavfi', '-i', `${src};[q0][q1]hstack[top];[q2][q3]hstack[bottom];[top][bottom]vstack`, '-frames:v', '1', '-q:v', '2', file]);
  return file;
}

test('a 48-megapixel JPEG decodes, with the size from its header and the right colours', () => {
  const file = quadrants();
  const bytes = readFileSync(file);
  assert.deepEqual(jpegSize(bytes), { width: 8000, height: 6000 });
  // jpeg-js on its own refuses it (what mp.image used to report)
  assert.throws(() => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100 }), /maxMemoryUsageInMB/);
  const img = readImage(file);
  assert.deepEqual([img.width, img.height, img.channels], [8000, 6000, 3]);
  const px = (x: number, y: number) => Array.from(img.data.subarray(3 * (y * 8000 + x), 3 * (y * 8000 + x) + 3));
  [[2000, 1500], [6000, 1500], [2000, 4500], [6000, 4500]].forEach(([x, y], i) =>
    px(x!, y!).forEach((v, c) => assert.ok(Math.abs(v - COLOURS[i]![c]!) <= 3, `quadrant ${i} channel ${c}: ${v}`)));
  // small JPEGs still go through jpeg-js: same pixels as before
  const small = readFileSync(join(data, 'magicportrait/boy_cropped.jpg'));
  assert.deepEqual(readImage(join(data, 'magicportrait/boy_cropped.jpg')).data, jpeg.decode(small, { useTArray: true, formatAsRGBA: false }).data);
});

test('a large image is displayed averaged down: inline JPEG ≤ 1024 px, scrubber frames ≤ 1600 px', async () => {
  const img = readImage(quadrants());
  const bundle = await toMimeBundle(img, { artifacts: new ArtifactStore(join(tmp, 'a')) });
  assert.equal(bundle['image/png'], undefined);
  const b64 = bundle['image/jpeg'] as string;
  assert.ok(b64.length < 300_000, `${b64.length} bytes of base64`);
  const shown = jpeg.decode(Buffer.from(b64, 'base64'), { useTArray: true, formatAsRGBA: false });
  assert.deepEqual([shown.width, shown.height], [1024, 768]);
  assert.match(String(bundle['text/plain']), /image 8000×6000×3 \(shown at 1024×768\)/);
  // the area average keeps the quadrants' colours
  const at = (x: number, y: number, c: number) => shown.data[3 * (y * 1024 + x) + c]!;
  [[256, 192], [768, 192], [256, 576], [768, 576]].forEach(([x, y], i) => COLOURS[i]!.forEach((v, c) => assert.ok(Math.abs(at(x!, y!, c) - v) <= 4)));
  const store = new ArtifactStore(join(tmp, 'b'));
  const frames = await new FrameSequenceDisplay([{ name: 'photo', frames: [img] }])[DISPLAY]({ artifacts: store });
  const track = (frames[MIME.frames] as { tracks: { width: number; height: number; frames: { hash: string; ext: string }[] }[] }).tracks[0]!;
  assert.deepEqual([track.width, track.height], [1600, 1200]);
  const png = PNG.sync.read(Buffer.from(store.read(track.frames[0]!)));
  assert.deepEqual([png.width, png.height], [1600, 1200]);
  // small images are shown as they are
  const tiny = { width: 4, height: 2, channels: 3 as const, data: new Uint8Array(24).fill(7) };
  assert.ok((await toMimeBundle(tiny, { artifacts: store }))['image/png']);
});

test('a notebook showing a 48-MP portrait, its face analysis and fit stays small', { timeout: 300_000 }, () => {
  const photo = join(tmp, 'big-portrait.jpg');
  ffmpeg(['-i', join(data, 'magicportrait/boy.jpeg'), '-vf', 'scale=6000:6000:flags=bicubic,pad=8000:6000:1000:0:color=white', '-q:v', '3', photo]);
  const nb = join(tmp, 'big.mpnb');
  writeFileSync(nb, serializeNotebook({ metadata: {}, cells: [
    newCodeCell(`const photo = mp.image(${JSON.stringify(photo)});\nawait display(photo);`),
    newCodeCell('const face = await mp.analyzeFace(photo);\nawait display(face);'),
    newCodeCell('const fit = await mp.fit.portrait(photo);\nawait display(mp.fit.overlay(fit, photo));\nfit.quality'),
  ] }));
  const out = join(tmp, 'out');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/kernel/cli/main.ts'), 'run', nb, '--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 280_000 });
  assert.equal(r.status, 0, r.stderr);
  const size = statSync(join(out, 'big.mpnb')).size;
  const done = parseNotebook(readFileSync(join(out, 'big.mpnb'), 'utf8'));
  assert.match(JSON.stringify(done.cells[2]!.outputs), /"text\/plain":"good"/);
  assert.ok(size < 1_000_000, `notebook is ${(size / 1e6).toFixed(2)} MB`);
  console.log(`# notebook with a 48-MP portrait, its face analysis and fit overlay: ${(size / 1024).toFixed(0)} KiB`);
});

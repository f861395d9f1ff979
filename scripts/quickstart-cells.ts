// Writes notebooks/quickstart.mpnb from the cell list below (the notebook is the source users open; this script
// keeps it reproducible). Run: npx tsx scripts/quickstart-cells.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newCodeCell, serializeNotebook, type CellData } from '../src/kernel/notebook/nbformat';

const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: '', outputs: [], executionCount: null, metadata: {} });
const code = (source: string, metadata: Record<string, unknown> = {}) => newCodeCell(source, metadata);

const cells: CellData[] = [
  md(`# MagicPortrait quickstart

Each cell runs one stage of MagicPortrait — 3D FLAME guidance for a latent video diffusion model — in the
**MagicPortrait** kernel (TypeScript; the \`mp\` object holds the stages).

Out of the box this notebook needs no files: it uses the built-in **demo head** (FLAME's structure, not FLAME), a
synthetic driving motion and the **tiny bundle** (the full diffusion architecture at small widths with *untrained demo
weights*), so the video it samples shows the pipeline working, not the method's quality. Set the parameters to a
portrait and a driving video to see detection and tracking on real faces.`),
  code(`// Parameters (override from the CLI: magicportrait run quickstart.mpnb -p frameCount=48 -p reference=photo.jpg)
const reference = '';   // a portrait (JPEG/PNG); empty: the demo head's own portrait
const driving = '';     // a driving video; empty: synthetic demo motion
const frameCount = 24;  // frames to render and sample
const steps = 20;       // DDIM steps (the reference uses 20)
const guidanceScale = 3.5;
const seed = 42;`, { tags: ['parameters'] }),
  code(`console.log(\`MagicPortrait kernel \${mp.version} on Node \${process.version}\`);`),
  md(`## 1. The head model
Drag to orbit; the sliders re-pose the head live (jaw, head pose, named expressions). \`mp.flame.load(folder)\` reads a
FLAME 2020 folder instead.`),
  code(`const head = mp.flame.demoHead();
await display(mp.flame.view(head, { title: 'Built-in demo head' }));`),
  md(`## 2. Reference portrait and driving motion
With a photo, the face is detected (BlazeFace), 468 + 68 landmarks are found and the 512×512 generation crop is made
as the reference code does. With a driving video, faces are tracked frame by frame.`),
  code(`const face = reference ? await mp.analyzeFace(reference) : null;
if (face) await display(face);
const referenceImage = face ? face.crops.generation.image : await mp.demo.portrait(head);
await display(referenceImage);`),
  code(`const track = driving ? await mp.trackFaces(driving, { maxFrames: frameCount }) : null;
if (track) await display(track);
// The demo motion drives the demo head: jaw, smile, blink and head turns.
const sequence = mp.demo.drivingSequence(head, { frames: frameCount });
sequence.frames.length`),
  md(`## 3. Guidance maps
Depth, normal and shaded render for every frame, rendered with the reference's conventions (pixel-centre
rasterisation, depth normalised over all vertices, world-space normals, SH shading). Scrub or play them together.`),
  code(`const guidance = await mp.renderGuidance(sequence);
await display(guidance);`),
  md(`## 4. Sampling
The reference UNet fills the attention bank from the portrait once; the denoising UNet with motion modules runs over
12-frame windows with DDIM (v-prediction, zero-terminal-SNR, trailing spacing) and classifier-free guidance; the VAE
decodes; the result is an H.264 MP4. The grid shows reference | result | depth | normal | render.`),
  code(`const bundle = await mp.bundle.tiny();
const result = await mp.sample({ reference: referenceImage, guidance: { maps: guidance.maps() }, bundle, steps, guidanceScale, seed });
await display(result.grid);
\`\${result.frameCount} frames at \${result.width}×\${result.height}, \${result.timings.unetCalls} UNet calls\``),
];

// Stable cell ids, so regenerating the notebook does not churn its diff.
cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
writeFileSync(join(__dirname, '..', 'notebooks', 'quickstart.mpnb'), serializeNotebook({ metadata: {}, cells }));
console.log(`wrote notebooks/quickstart.mpnb (${cells.length} cells)`);

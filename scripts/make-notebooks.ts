// Writes the example notebooks in notebooks/ from the cell lists below (the notebooks are what users open; this
// script keeps them reproducible). Run: npx tsx scripts/make-notebooks.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newCodeCell, serializeNotebook, type CellData } from '../src/kernel/notebook/nbformat';

const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: '', outputs: [], executionCount: null, metadata: {} });
const code = (source: string, metadata: Record<string, unknown> = {}) => newCodeCell(source, metadata);

const quickstart: CellData[] = [
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
// The demo motion drives the demo head: jaw, smile, blink and head turns. Without a driving video it is also rendered
// as one (the demo head on the portrait's backdrop): the ground truth the output is scored against at the end.
const sequence = mp.demo.drivingSequence(head, { frames: frameCount });
const drivingVideo = driving ? null : await mp.demo.drivingVideo(head, sequence);
if (drivingVideo) await display(drivingVideo);
sequence.frames.length`),
  md(`## 3. Guidance maps
Depth, normal and shaded render for every frame, rendered with the reference's conventions (pixel-centre
rasterisation, depth normalised over all vertices, world-space normals, SH shading). Scrub or play them together.`),
  code(`const guidance = await mp.renderGuidance(sequence, drivingVideo ? { driving: drivingVideo.frames } : {});
await display(guidance);`),
  md(`## 4. Instant preview
Before spending minutes on diffusion: the portrait warped through its 3D head along the driving motion, on the CPU in
seconds. The *filled* track marks what the portrait never showed (white: the mouth interior, a cheek turned to the
front; grey: where the face moved away). With a photo, the head model is fitted to it first so the warp follows its
own face.`),
  code(`const referenceFit = reference ? await mp.fit.portrait(referenceImage) : null;
const instant = await mp.preview({ image: referenceImage, fit: referenceFit }, sequence, { guidance });
await display(instant);
await display(instant.video);
\`\${instant.length} frames in \${(instant.timings.setupMs + instant.timings.framesMs).toFixed(0)} ms\``),
  md(`## 5. Sampling
The reference UNet fills the attention bank from the portrait once; the denoising UNet with motion modules runs over
12-frame windows with DDIM (v-prediction, zero-terminal-SNR, trailing spacing) and classifier-free guidance; the VAE
decodes; the result is an H.264 MP4. The grid shows reference | result | depth | normal | render.`),
  code(`const bundle = await mp.bundle.tiny();
const result = await mp.sample({ reference: referenceImage, guidance: { maps: guidance.maps() }, bundle, steps, guidanceScale, seed });
await display(result.grid);
\`\${result.frameCount} frames at \${result.width}×\${result.height}, \${result.timings.unetCalls} UNet calls\``),
  md(`## 6. Metrics
The output scored as the paper scores it: PSNR and SSIM against the driving frames, CSIM (identity cosine) against the
reference, per frame and in total, beside the paper's Table I. Without files this is a self-reenactment of the demo
head, so the rendered driving video is the ground truth; with your own driving video (usually another person) it is a
cross-reenactment and only identity is scored. The tiny bundle's weights are untrained, so expect low scores: this
shows the protocol, not the method's quality; the instant preview, scored the same way, shows what following the
motion faithfully looks like. LPIPS, FID, FVD and APD / AED take your weights (see the metrics notebook).`),
  code(`const scores = drivingVideo
  ? await mp.metrics(result.video, drivingVideo, { reference: referenceImage, title: 'Quickstart output vs its driving video' })
  : await mp.metrics(result.video, null, { mode: 'cross', reference: referenceImage, title: 'Quickstart output: identity (cross-reenactment)' });
await display(scores);
String(scores)`),
  code(`const previewScores = drivingVideo
  ? await mp.metrics(instant.video, drivingVideo, { reference: referenceImage, title: 'Instant preview vs the driving video' })
  : await mp.metrics(instant.video, null, { mode: 'cross', reference: referenceImage, title: 'Instant preview: identity (cross-reenactment)' });
await display(previewScores);
String(previewScores)`),
];

const facePerception: CellData[] = [
  md(`# Face perception on real images

Detection (MediaPipe BlazeFace), 468-point face mesh, 68 landmarks and the dlib face descriptor, all converted from
their npm packages to ONNX by our own converters and run with ONNX Runtime. The paths below point at the sample data
beside this repository; set them to your own files.`),
  code(`const portrait = '../../shared/data/magicportrait/boy.jpeg';
const drivingVideo = '../../shared/data/magicportrait/driving.mp4';
const maxFrames = 120;`, { tags: ['parameters'] }),
  code(`const face = await mp.analyzeFace(portrait);
await display(face);
await display(face.crops.generation.image);`),
  code(`const track = await mp.trackFaces(drivingVideo, { maxFrames });
await display(track);
\`frames without a face: \${track.missing.length}\``),
  code(`// Identity similarity (cosine of dlib descriptors, the paper's CSIM): same image, another photo of someone else.
const other = await mp.analyzeFace('../../shared/data/liveportrait/s1.jpg');
({
  cosine: { same: mp.identitySimilarity(face.descriptor, face.descriptor), different: mp.identitySimilarity(face.descriptor, other.descriptor) },
  distance: { same: mp.descriptorDistance(face.descriptor, face.descriptor), different: mp.descriptorDistance(face.descriptor, other.descriptor) },
})`),
];

const attention: CellData[] = [
  md(`# Geometric Guidance Encoder attention

Renders guidance maps of the demo head, runs the Geometric Guidance Encoders over them and opens the **attention
explorer**: pick a condition (depth / normal / render), a head or the mean of the heads, and a map; click a pixel to see
where its query attends. Without your own checkpoints this uses the *untrained demo weights* (labelled as such):
point \`bundle\` at a folder made by \`importGGE\` from MagicPortrait's \`guidance_encoder_*.pth\` to see the trained
attention.`),
  code(`// Parameters (override from the CLI with -p name=value). Empty reference/driving: the demo head's synthetic motion.
const reference = '../../shared/data/magicportrait/boy_cropped.jpg';
const driving = '../../shared/data/magicportrait/driving.mp4';
const frameCount = 4;
const bundle = 'demo';`, { tags: ['parameters'] }),
  code(`// Guidance maps of the driving video aligned onto the portrait (fit, track, Eq. (1)), or of the demo motion.
const head = mp.flame.demoHead();
let sequence;
if (reference && driving) {
  const fit = await mp.fit.portrait(mp.image(reference));
  const track = await mp.fit.track(driving, { shape: fit, read: { maxFrames: frameCount } });
  sequence = mp.fit.align(fit, track);
} else sequence = mp.demo.drivingSequence(head, { frames: frameCount });
const guidance = await mp.renderGuidance(sequence);
await display(guidance);`),
  code(`// Features (their sum feeds the denoising UNet) and attention; cached, so re-running returns at once.
const enc = await mp.gge(guidance, { bundle });
console.log(\`\${enc.types.join(' + ')}: \${enc.frames} frames, \${enc.channels}×\${enc.grid.height}×\${enc.grid.width} features\${enc.label ? \` (\${enc.label})\` : ''}\`);`),
  code(`await display(enc.attention);`),
  md(`The same rows the explorer shows, from code: \`rows[(head·Q + q)·cells + key]\`, each row sums to 1.`),
  code(`const r = await enc.attentionRows('depth', 0, [{ x: guidance.size / 2, y: guidance.size / 2 }], 'input');
const cells = r.grid.width * r.grid.height;
const mean = new Float32Array(cells);
for (let h = 0; h < r.heads; h++) for (let k = 0; k < cells; k++) mean[k] += r.rows[h * cells + k] / r.heads;
const peak = mean.indexOf(Math.max(...mean));
console.log(\`query cell \${r.queries[0].x},\${r.queries[0].y} attends most to cell \${peak % r.grid.width},\${Math.floor(peak / r.grid.width)}\`);`),
];

const metrics: CellData[] = [
  md(`# Metrics: the paper's table for one video

\`mp.metrics(generated, target, { reference })\` computes PSNR / SSIM (scikit-image's definitions), CSIM (dlib
descriptor), and — when you give the weights / parameters — LPIPS, FID and APD / AED, per frame and in total, and shows
them beside the paper's Table I. Until the sampler output is at hand, the runs below use the sample clips themselves:
a self-reenactment *sanity* run (the driving video as its own "generation": PSNR ∞, SSIM 1), a deliberately wrong
"generation" (another person's clip), and a cross-reenactment run. Paths point at the sample data beside this repository.`),
  code(`const driving = '../../shared/data/liveportrait/d0.mp4';
const otherClip = '../../shared/data/liveportrait/d3.mp4';
const portrait = '../../shared/data/liveportrait/s1.jpg';
const maxFrames = 12;
const step = 4;
// Optional: your LPIPS weights (torchvision backbone + lpips linear layers) and pytorch-fid's Inception weights.
const lpipsLinear = '';
const lpipsBackbone = '';
const fidWeights = '';
const i3dWeights = '';`, { tags: ['parameters'] }),
  code(`const extra = {
  ...(lpipsLinear ? { lpips: { linear: lpipsLinear, ...(lpipsBackbone ? { backbone: lpipsBackbone } : {}) } } : {}),
  ...(fidWeights ? { fid: fidWeights } : {}),
  ...(i3dWeights ? { fvd: i3dWeights } : {}),
};
// Self-reenactment sanity: the driving clip against itself, reference = its first frame.
const sanity = await mp.metrics(driving, driving, { reference: { video: driving, frame: 0 }, maxFrames, step, title: 'Sanity: driving vs itself', ...extra });
await display(sanity);`),
  code(`// A wrong "generation": another person's clip against the driving clip.
const wrong = await mp.metrics(otherClip, driving, { reference: { video: driving, frame: 0 }, maxFrames, step, title: 'Another clip as the generation', ...extra });
await display(wrong);
console.log(String(wrong));`),
  code(`// Cross-reenactment: no ground truth, so only CSIM (and APD / AED with FLAME parameters).
const cross = await mp.metrics(otherClip, null, { mode: 'cross', reference: portrait, maxFrames, step, title: 'Cross: portrait identity vs clip' });
await display(cross);`),
  md(`The paper's published Table I values are not bundled (they could not be verified when this was written, and
numbers are not filled in from memory): \`mp.metrics.paper\` has the citation. Pass transcribed rows as \`paperRows\` to
plot them beside a run. For many pairs, use \`magicportrait eval --manifest pairs.json\` (see src/kernel/metrics/README.md).`),
];

const reenact: CellData[] = [
  md(`# Reenact a real portrait

The reference pipeline on real faces: fit the head model to the portrait (68 + dense landmarks, then albedo and light),
track the driving video (identity fixed, temporally smoothed), align them as the paper's Eq. (1) and the code do
(shape, appearance, camera and crop from the portrait; rotation, expression and jaw from each driving frame), render the
guidance maps, and sample. The head model is the built-in demo head and the diffusion weights are the untrained tiny
bundle unless you point at your own FLAME folder and imported bundle.`),
  code(`const reference = '../../shared/data/magicportrait/boy_cropped.jpg';
const driving = '../../shared/data/magicportrait/driving.mp4';
const maxFrames = 48;
const smoothing = 3;      // low-pass cutoff of the zero-phase smoothing filter, in Hz (0 = off)
const steps = 10;`, { tags: ['parameters'] }),
  code(`const refImage = mp.image(reference);
const fit = await mp.fit.portrait(refImage);
await display(mp.fit.overlay(fit, refImage));
({ nme: fit.nme, quality: fit.quality })`),
  code(`const track = await mp.fit.track(driving, { shape: fit, smoothing, read: { maxFrames } });
await display(mp.fit.plot(track));
track.jitter`),
  code(`const aligned = mp.fit.align(fit, track);
const drivingFrames = await mp.videoFrames(driving, { maxFrames, width: 256, height: 256 });
const guidance = await mp.renderGuidance(aligned, { driving: drivingFrames });
await display(guidance);`),
  code(`const result = await mp.sample({ reference: refImage, guidance: { maps: guidance.maps() }, bundle: await mp.bundle.tiny(), steps });
await display(result.grid);`),
];

// Stable cell ids, so regenerating a notebook does not churn its diff.
for (const [name, cells] of [['quickstart', quickstart], ['face-perception', facePerception], ['attention', attention], ['metrics', metrics], ['reenact', reenact]] as const) {
  cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
  writeFileSync(join(__dirname, '..', 'notebooks', `${name}.mpnb`), serializeNotebook({ metadata: {}, cells }));
  console.log(`wrote notebooks/${name}.mpnb (${cells.length} cells)`);
}

// Writes the example notebooks in notebooks/ from the cell lists below (the notebooks are what users open; this
// script keeps them reproducible). Run: npx tsx scripts/make-notebooks.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newCodeCell, serializeNotebook, type CellData } from '../src/kernel/notebook/nbformat';
import { METRIC_NETWORKS_NOTE, PAPER_TABLE_II, PAPER_TABLE_III, paperTableMarkdown } from '../src/kernel/metrics/paper';

const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: '', outputs: [], executionCount: null, metadata: {} });
const code = (source: string, metadata: Record<string, unknown> = {}) => newCodeCell(source, metadata);

const quickstart: CellData[] = [
  md(`# MagicPortrait quickstart

Each cell runs one stage of MagicPortrait — 3D FLAME guidance for a latent video diffusion model — in the
**MagicPortrait** kernel (TypeScript; the \`mp\` object holds the stages).

Out of the box this notebook needs no files: it uses the built-in **demo head** (FLAME's structure, not FLAME), a
synthetic driving motion and the **demo model** — MagicPortrait's architecture at a small scale (64² images), trained
by our trainer (\`training/\`) on synthetic demo-head data, *not MagicPortrait's weights* (labelled so wherever it
shows) — so the sampled video reenacts the demo head, at 64², the size it was trained at. Set \`reference\` to a
portrait to see it driven by the demo motion, and \`driving\` to a video to run the method's real path on it: fit,
track, align (Eq. 1), render, preview, sample and score (cross-reenactment); on real faces the demo model, which never
saw one, shows the pipeline rather than the method's quality.`),
  code(`// Parameters (override from the CLI: magicportrait run quickstart.mpnb -p frameCount=48 -p reference=photo.jpg)
const reference = '';   // a portrait (JPEG/PNG); empty: the demo head's own portrait
const driving = '';     // a driving video (fitted, tracked and aligned onto the portrait); empty: synthetic demo motion
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
as the reference code does (any photo shape works). With a driving video, the quickstart runs the method's real path:
the head model is fitted to the portrait, the video is tracked frame by frame, and the two are aligned as the paper's
Eq. (1) does (shape, appearance and placement from the portrait; head rotation, expression and jaw from each driving
frame). Without one, the synthetic demo motion drives the portrait.`),
  code(`const face = reference ? await mp.analyzeFace(reference) : null;
if (face) await display(face);
const referenceImage = face ? face.crops.generation.image : await mp.demo.portrait(head);
await display(referenceImage);`),
  code(`// The head fitted to the portrait (with a photo or a driving video; the demo portrait is the demo head itself).
const referenceFit = reference || driving ? await mp.fit.portrait(referenceImage) : null;
// A driving video: tracked (identity fixed to the portrait's) and aligned by Eq. (1).
const track = driving ? await mp.fit.track(driving, { shape: referenceFit, read: { maxFrames: frameCount } }) : null;
if (track) await display(mp.fit.plot(track));
// Without one: the demo motion (jaw, smile, blink and head turns), also rendered as a driving video of the demo head
// on the portrait's backdrop: the ground truth the output is scored against at the end.
const sequence = track ? mp.fit.align(referenceFit, track) : mp.demo.drivingSequence(head, { frames: frameCount });
const drivingFrames = driving ? await mp.videoFrames(driving, { maxFrames: frameCount, width: 256 }) : null;
const drivingVideo = driving ? null : await mp.demo.drivingVideo(head, sequence);
if (drivingVideo) await display(drivingVideo);
\`\${track ? \`\${track.numFrames} frames tracked from \${driving}\` : \`\${sequence.frames.length} frames of demo motion\`}\``),
  md(`## 3. Guidance maps
Depth, normal and shaded render for every frame, rendered with the reference's conventions (pixel-centre
rasterisation, depth normalised over all vertices, world-space normals, SH shading), beside the driving frames.
Scrub or play them together.`),
  code(`const guidance = await mp.renderGuidance(sequence, { driving: drivingFrames ?? drivingVideo.frames });
await display(guidance);`),
  md(`## 4. Instant preview
Before spending minutes on diffusion: the portrait warped through its 3D head along the driving motion, on the CPU in
seconds. The *filled* track marks what the portrait never showed (white: the mouth interior, a cheek turned to the
front; grey: where the face moved away). With a photo, the head model is fitted to it first so the warp follows its
own face.`),
  code(`const instant = await mp.preview({ image: referenceImage, fit: referenceFit }, sequence, { guidance, ...(drivingFrames ? { driving: drivingFrames } : {}) });
await display(instant);
await display(instant.video);
\`\${instant.length} frames in \${(instant.timings.setupMs + instant.timings.framesMs).toFixed(0)} ms\``),
  md(`## 5. Sampling
The reference UNet fills the attention bank from the portrait once; the denoising UNet with motion modules runs over
12-frame windows with DDIM (v-prediction, zero-terminal-SNR, trailing spacing) and classifier-free guidance; the VAE
decodes; the result is an H.264 MP4. The grid shows reference | result | depth | normal | render. The demo model is
imported from \`training/demo-model/\` into the cache the first time (seconds); its card says how it was trained.`),
  code(`const bundle = await mp.bundle.demo();
await display(bundle);
const result = await mp.sample({ reference: referenceImage, guidance, bundle, steps, guidanceScale, seed });
await display(result.grid);
\`\${result.frameCount} frames at \${result.width}×\${result.height}, \${result.timings.unetCalls} UNet calls\``),
  md(`## 6. Metrics
The output scored as the paper scores it: PSNR and SSIM against the driving frames, CSIM (identity cosine) against the
reference, per frame and in total, beside the paper's Table I. Without files this is a self-reenactment of the demo
head, so the rendered driving video is the ground truth; with your own driving video (usually another person) it is a
cross-reenactment and only identity is scored. The demo model works at 64² (the output is scaled up to the portrait's
size), so its scores are bounded by what 64² keeps; the instant preview, scored the same way, warps the full-size
portrait. \`npm run bench -- demo-model\` scores the demo model on held-out synthetic identities. LPIPS, FID, FVD and APD / AED take your weights (see the metrics notebook).`),
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
their npm packages to ONNX by our own converters and run with ONNX Runtime. The inputs ship with the extension
(\`inputs/README.md\`): a public-domain NASA portrait and the demo head's driving video; set the parameters to your own
files.`),
  code(`const portrait = 'inputs/astronaut.jpg';        // a photo (JPEG/PNG): Eileen Collins, NASA, public domain
const drivingVideo = 'inputs/demo-driving.mp4';  // a video with a face: the built-in demo head, rendered
const maxFrames = 120;`, { tags: ['parameters'] }),
  code(`const face = await mp.analyzeFace(portrait);
await display(face);
await display(face.crops.generation.image);`),
  code(`const track = await mp.trackFaces(drivingVideo, { maxFrames });
await display(track);
\`frames without a face: \${track.missing.length}\``),
  code(`// Identity similarity (cosine of dlib descriptors, the paper's CSIM): the same image, and another face (the demo head).
const other = await mp.analyzeFace(await mp.demo.portrait(mp.flame.demoHead()));
({
  cosine: { same: mp.identitySimilarity(face.descriptor, face.descriptor), different: mp.identitySimilarity(face.descriptor, other.descriptor) },
  distance: { same: mp.descriptorDistance(face.descriptor, face.descriptor), different: mp.descriptorDistance(face.descriptor, other.descriptor) },
})`),
];

const attention: CellData[] = [
  md(`# Geometric Guidance Encoder attention

Renders guidance maps (the driving video aligned onto the portrait; both ship with the extension, see
\`inputs/README.md\`), runs the Geometric Guidance Encoders over them and opens the **attention explorer**: pick a condition (depth / normal / render), a head or the mean of the heads, and a map; click a pixel to see
where its query attends. By default the encoders are the **demo model's** (\`'demo-model'\`: trained by our trainer on
synthetic demo-head data, *not MagicPortrait's weights*), run at the 64² they were trained at (an 8×8 attention grid);
\`'demo'\` gives untrained demo weights, and a folder made by \`importGGE\` from MagicPortrait's
\`guidance_encoder_*.pth\` the real ones.`),
  code(`// Parameters (override from the CLI with -p name=value). Empty reference/driving: the demo head's synthetic motion.
const reference = 'inputs/astronaut.jpg';    // shipped: NASA portrait, public domain (inputs/README.md)
const driving = 'inputs/demo-driving.mp4';   // shipped: the demo head's motion, rendered
const frameCount = 4;
const bundle = 'demo-model';   // 'demo-model' (trained demo), 'demo' (untrained), or an importGGE folder`, { tags: ['parameters'] }),
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
  code(`const r = await enc.attentionRows('depth', 0, [{ x: enc.input.width / 2, y: enc.input.height / 2 }], 'input');
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
them beside the paper's Table I. Until a sampler output is at hand, the runs below use the shipped inputs
(\`inputs/README.md\`): a self-reenactment *sanity* run (the driving video as its own "generation": PSNR ∞, SSIM 1), a
deliberately wrong "generation" (the same clip played backwards), and a cross-reenactment run (the NASA portrait's
identity against the demo head's clip). Point the parameters at your own generated and driving videos.`),
  code(`const driving = 'inputs/demo-driving.mp4';   // the ground truth: the demo head's motion, rendered (shipped)
const portrait = 'inputs/astronaut.jpg';     // an identity for the cross-reenactment run: NASA photo, public domain (shipped)
const maxFrames = 12;
const step = 4;
const sampleSteps = 20;   // DDIM steps of the demo model's run
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
  code(`// A wrong "generation": the same clip played backwards (it meets the driving clip only in the middle).
const backwards = (await mp.videoFrames(driving, { maxFrames })).reverse();
const wrong = await mp.metrics(backwards, driving, { reference: { video: driving, frame: 0 }, maxFrames, step, title: 'The clip played backwards as the generation', ...extra });
await display(wrong);
console.log(String(wrong));`),
  code(`// Cross-reenactment: no ground truth, so only CSIM (and APD / AED with FLAME parameters).
const cross = await mp.metrics(driving, null, { mode: 'cross', reference: portrait, maxFrames, step, title: 'Cross: portrait identity vs clip' });
await display(cross);`),
  md(`## A sampler output: the demo model
The demo model (\`mp.bundle.demo()\`: trained on synthetic demo-head data, *not MagicPortrait's weights*) reenacting
the demo head with its own synthetic motion, so the rendered driving video is the exact ground truth: a
self-reenactment scored as the paper scores one.`),
  code(`const head = mp.flame.demoHead();
const demo = await mp.bundle.demo();
const motion = mp.demo.drivingSequence(head, { frames: maxFrames });
const truth = await mp.demo.drivingVideo(head, motion);
const portraitImage = await mp.demo.portrait(head);
const generated = await mp.sample({ reference: portraitImage, guidance: await mp.renderGuidance(motion), bundle: demo, steps: sampleSteps });
const demoScores = await mp.metrics(generated.video, truth, { reference: portraitImage, maxFrames, title: 'Demo model: self-reenactment of the demo head', ...extra });
await display(demoScores);
String(demoScores)`),
  md(`## The paper's ablations

Every display above shows the paper's Table I (self-reenactment on 40 CelebV-HQ test identities) with the run as its
first row. Its ablations, from M. Wei et al., "MagicPortrait: Temporally Consistent Face Reenactment with 3D Geometric
Guidance", arXiv:2504.21497 (2025):

${paperTableMarkdown(PAPER_TABLE_II)}

${paperTableMarkdown(PAPER_TABLE_III)}

${METRIC_NETWORKS_NOTE}`),
  code(`// The same tables beside a run of yours (here the sanity run): \`mp.metrics.paperTable('I' | 'II' | 'III', ...reports)\`.
await display(mp.metrics.paperTable('II', sanity));
await display(mp.metrics.paperTable('III', sanity));`),
  md(`For many pairs, use \`magicportrait eval --manifest pairs.json\` (see src/kernel/metrics/README.md): its report
shows the same tables.`),
];

const reenact: CellData[] = [
  md(`# Reenact a real portrait

The reference pipeline on real faces: fit the head model to the portrait (68 + dense landmarks, then albedo and light),
track the driving video (identity fixed, temporally smoothed), align them as the paper's Eq. (1) and the code do
(shape, appearance, camera and crop from the portrait; rotation, expression and jaw from each driving frame), render the
guidance maps, and sample. Any photo shape works: a non-square photo is rendered and sampled in its 512×512 generation
crop (the reference's stage A, its transform kept in \`guidance.crop\`), and the result is composited back into the
photo. The head model is the built-in demo head and the diffusion weights are the untrained tiny bundle unless you
point at your own FLAME folder and imported bundle. The portrait (a public-domain NASA photo) and the driving video (the
demo head, rendered) ship with the extension (\`inputs/README.md\`); set your own below.`),
  code(`const reference = 'inputs/astronaut.jpg';    // your portrait; shipped: NASA photo, public domain (inputs/README.md)
const driving = 'inputs/demo-driving.mp4';   // your driving video; shipped: the demo head's motion, rendered
const maxFrames = 48;
const smoothing = 3;      // low-pass cutoff of the zero-phase smoothing filter, in Hz (0 = off)
const steps = 10;`, { tags: ['parameters'] }),
  code(`const refImage = mp.image(reference);
const fit = await mp.fit.portrait(refImage);   // { face: i } picks another face in a group photo
await display(mp.fit.overlay(fit, refImage));
({ nme: fit.nme, quality: fit.quality, size: \`\${refImage.width}×\${refImage.height}\`, face: fit.face && \`\${fit.face.index + 1} of \${fit.face.count}\` })`),
  code(`const track = await mp.fit.track(driving, { shape: fit, smoothing, read: { maxFrames } });
await display(mp.fit.plot(track));
// jitter per parameter group, raw → smoothed (track.jitter.perParameter lists every parameter)
({ groups: track.jitter.groups, nmeRaw: track.jitter.nmeRaw, nmeSmoothed: track.jitter.nmeSmoothed })`),
  code(`const aligned = mp.fit.align(fit, track);
const drivingFrames = await mp.videoFrames(driving, { maxFrames, width: 256 });
// A non-square photo renders in its 512² generation crop; guidance.crop keeps the transform.
const guidance = await mp.renderGuidance(aligned, { driving: drivingFrames });
await display(guidance);`),
  code(`// The reference photo is cropped the way the guidance was (mp.sample reads guidance.crop).
const result = await mp.sample({ reference: refImage, guidance, bundle: await mp.bundle.tiny(), steps });
await display(result.grid);`),
  code(`// Back into the photo: the crop transform inverted, the border feathered. A square photo needs none.
if (guidance.crop) await display(await mp.composite(refImage, result, guidance.crop, { feather: 0.1 }));
guidance.crop ? \`composited into the \${refImage.width}×\${refImage.height} photo\` : 'square photo: no compositing needed'`),
];

const referenceVsStudio: CellData[] = [
  md(`# Reference vs studio: what our choices change

MagicPortrait Studio's defaults (the **studio** preset) differ from the official code in how the guidance is
*estimated* and in a few defaults; the **reference** preset reproduces the official run (README, "Reproducing the
official run"). This notebook runs both on the same portrait and driving video:

| | studio (default) | reference (official) |
|---|---|---|
| estimator | our optimiser on 68 + dense landmarks, filtfilt smoothing, photometric albedo / light | DECA's global rotation + SMIRK's expression and jaw per frame, DECA's shape / albedo / light / camera for the portrait, raw |
| driving crop | the face tracked in every frame | the first frame's 512 crop reused for every frame |
| guidance maps | lossless 8-bit | through a quality-75, 4:2:0 JPEG (Pillow's defaults), as the official \`.jpg\` files |
| frames sampled | all | \`frame_range\` [0, 100] |
| guidance scale ≤ 1 | u + s·(c − u) | CFG off: the conditional prediction summed over windows |

The **reference** estimator needs FLAME, DECA and SMIRK imported with the Model Manager (set \`models\`); without them the
notebook says what is missing and compares the rest, with the studio estimator's parameters on both sides. The
diffusion weights default to the **demo model** (trained by our trainer on synthetic demo-head data, *not MagicPortrait's
weights*, 64²; on a real photo it shows the pipeline, not the method's quality) — set \`diffusion\` to your own bundle.`),
  code(`// Parameters (override from the CLI: magicportrait run reference-vs-studio.mpnb -p models=bundles/magicportrait)
const reference = 'inputs/astronaut.jpg';    // your portrait; shipped: NASA photo, public domain (inputs/README.md)
const driving = 'inputs/demo-driving.mp4';   // your driving video; shipped: the demo head's motion, rendered
const maxFrames = 24;
// A Model Manager bundle holding flame/, deca/ and smirk/: the 'reference' estimator needs all three. Empty: none.
const models = '';
// The diffusion weights both presets sample with: 'demo' (the trained demo model), 'tiny' (untrained demo weights) or a
// diffusion bundle folder such as '<bundle>/diffusion'.
const diffusion = 'demo';
const steps = 10;
const guidanceScale = 3.5;
const seed = 42;`, { tags: ['parameters'] }),
  code(`const bundle = diffusion === 'demo' ? await mp.bundle.demo() : diffusion === 'tiny' ? await mp.bundle.tiny() : await mp.bundle.load(mp.path(diffusion));
const modelBundle = models ? mp.path(models) : undefined;
const missing = mp.reference.missing({ bundle: modelBundle });
const haveModels = missing.length === 0;
const head = haveModels ? await mp.flame.load(\`\${modelBundle}/flame\`) : mp.flame.demoHead();
haveModels
  ? \`FLAME, DECA and SMIRK found in \${modelBundle}: both estimators run. Diffusion: \${bundle.manifest.label ?? bundle.dir}\`
  : \`The 'reference' estimator is not available here. It needs:\\n- \${missing.join('\\n- ')}\\nThe other differences still run, with the studio estimator's parameters on both sides (\${head.name}). Diffusion: \${bundle.manifest.label ?? bundle.dir}\``),
  md(`## 1. The estimators
Studio: the head model fitted to the portrait and tracked through the video (smoothed). Reference: DECA and SMIRK
straight from the imported encoders, on the first frame's crop. The plot shows, per frame, how far the two head
rotations and jaws are apart (geodesic angle) and the expression difference.`),
  code(`const refImage = mp.image(reference);
// the official pipeline opens the portrait with Pillow (libjpeg-turbo): the reference side reads it the same way
const refImagePil = await mp.reference.image(reference);
// FLAME has no built-in MediaPipe table here: the studio fit uses the 68 landmarks with it
const studioOptions = haveModels ? { model: head, dense: false as const } : {};
const studioFit = await mp.fit.portrait(refImage, studioOptions);
const studioTrack = await mp.fit.track(driving, { ...studioOptions, shape: studioFit, read: { maxFrames } });
const refFit = haveModels ? await mp.fit.portrait(refImagePil, { preset: 'reference', bundle: modelBundle }) : null;
const refTrack = haveModels ? await mp.fit.track(driving, { preset: 'reference', bundle: modelBundle, read: { maxFrames } }) : null;
// without the models, the part of the difference that needs none: the studio track smoothed vs its raw values
await display(refTrack ? mp.fit.compare(studioTrack, refTrack) : mp.fit.compare(studioTrack, mp.fit.smooth(studioTrack, false, head), ['studio (smoothed)', 'studio raw (no smoothing, as the reference)']));
refTrack ? { crop: refTrack.crop.box, firstFrameTransform: refTrack.crop.matrix } : 'reference estimator not run (models missing, see above)'`),
  md(`## 2. Guidance maps side by side
The same scrubber holds both presets' maps. The reference maps went through Pillow's quality-75 JPEG (4:2:0 chroma),
as the official pipeline stores them for \`.jpg\` frames; the line below says how much that changes them.`),
  code(`const studioAligned = mp.fit.align(studioFit, studioTrack);
const refAligned = refFit && refTrack ? mp.fit.align(refFit, refTrack, { preset: 'reference' }) : studioAligned;
const drivingFrames = await mp.videoFrames(driving, { maxFrames, width: 256, height: 256 });
const studioGuidance = await mp.renderGuidance(studioAligned, { model: head });
const refGuidance = await mp.renderGuidance(refAligned, { model: head, preset: 'reference' });
const kinds = ['depth', 'normal', 'render'] as const;
await display(mp.frames([
  { name: 'driving', frames: drivingFrames },
  ...kinds.flatMap((k) => [{ name: \`studio \${k}\`, frames: studioGuidance.images(k) }, { name: \`reference \${k}\`, frames: refGuidance.images(k) }]),
], { title: 'Guidance maps: studio | reference', fps: 24 }));
// the JPEG step alone: the same parameters, lossless vs through JPEG
const jpegOnly = refAligned === studioAligned ? refGuidance : await mp.renderGuidance(studioAligned, { model: head, preset: 'reference' });
kinds.map((k) => {
  let changed = 0, sum = 0, n = 0, max = 0;
  studioGuidance.images(k).forEach((im, f) => {
    const j = jpegOnly.images(k)[f]!.data;
    for (let i = 0; i < im.data.length; i++) { const d = Math.abs(im.data[i]! - j[i]!); if (d) changed++; sum += d; max = Math.max(max, d); n++; }
  });
  return \`\${k}: JPEG q75 changes \${(100 * changed / n).toFixed(1)} % of the values, mean |Δ| \${(sum / n).toFixed(2)}, max \${max}\`;
}).join('\\n')`),
  md(`## 3. Sampling both presets
Same weights, seed and steps. The reference preset also applies \`frame_range\` [0, 100] (every frame of this short clip)
and, at a guidance scale ≤ 1, the official CFG-off path (next cell).`),
  code(`const studioResult = await mp.sample({ reference: refImage, guidance: { maps: studioGuidance.maps() }, bundle, steps, guidanceScale, seed });
const refResult = await mp.sample({ reference: refImagePil, guidance: { maps: refGuidance.maps() }, bundle, steps, guidanceScale, seed, preset: 'reference' });
await display(mp.frames([{ name: 'studio', frames: [...studioResult.frames] }, { name: 'reference', frames: [...refResult.frames] }], { title: 'Sampled: studio | reference', fps: 24, label: bundle.manifest.label }));
({ studio: { frames: studioResult.frameCount, unetCalls: studioResult.timings.unetCalls }, reference: { frames: refResult.frameCount, frameRange: refResult.frameRange, unetCalls: refResult.timings.unetCalls } })`),
  code(`// Guidance scale 1: studio computes u + 1·(c − u); the official pipeline turns CFG off (no unconditional branch) and
// sums the window predictions without dividing by the window count.
const low = { reference: refImagePil, guidance: { maps: refGuidance.maps() }, bundle, steps: 2, guidanceScale: 1, seed };
const studioLow = await mp.sample(low, { video: false });
const refLow = await mp.sample({ ...low, preset: 'reference' }, { video: false });
let d = 0;
for (let i = 0; i < refLow.latents.length; i++) d = Math.max(d, Math.abs(refLow.latents[i]! - studioLow.latents[i]!));
({ studioCfg: studioLow.cfg, referenceCfg: refLow.cfg, studioUnetCalls: studioLow.timings.unetCalls, referenceUnetCalls: refLow.timings.unetCalls, maxLatentDifference: d })`),
  md(`## 4. Scores
Identity (CSIM against the portrait) per frame for both outputs: a cross-reenactment, so there is no ground truth for
PSNR / SSIM. The demo model never saw a real face, so identity scores on a photo are low for both; they show the
protocol.`),
  code(`const studioScores = await mp.metrics(studioResult.video!, null, { mode: 'cross', reference: refImage, title: 'Studio preset: identity' });
const refScores = await mp.metrics(refResult.video!, null, { mode: 'cross', reference: refImagePil, title: 'Reference preset: identity' });
await display(studioScores);
await display(refScores);
({ studio: studioScores.result.summary, reference: refScores.result.summary })`),
];

const data: CellData[] = [
  md(`# Training data

Prepares clips in the layout the trainer reads (\`DATASET/<split>/<clip>/images|depth|normal|render|mask/\`,
\`flame.npz\`, \`meta.json\`; see the README's *Training data*): the reference pipeline's crop (the face found on the
first frame, one similarity for every frame, 512²), our FLAME tracker (identity fitted once per clip), the guidance maps
rendered exactly as \`mp.renderGuidance\` draws them, and the report of what was kept and dropped. Interrupt stops after
the current frame; running the cell again continues where it stopped. The same steps run from the command line:
\`magicportrait prepare-data --videos DIR --out DATASET\` and \`magicportrait synth-data --out DATASET …\`.

Without FLAME files the parameters are those of the built-in **demo head** (not FLAME), labelled as such; the synthetic
set is made of the demo head and labelled *synthetic* everywhere.`),
  code(`const videos = 'inputs';   // a folder of videos (mp4, mov, webm, mkv) and/or frame folders; shipped: inputs/demo-driving.mp4
const realOut = 'out/data/real';
const synthOut = 'out/data/synthetic';
const maxFrames = 16;                  // per clip (0 = every frame)
const workers = 2;
const identities = 4, clips = 1, size = 128, seed = 0;
const frames = 24;                     // per synthetic clip`, { tags: ['parameters'] }),
  md(`## 1. Real clips
Every video under \`videos\` is one clip (portraits lying beside the videos are not). The bar counts frame steps (each
frame is tracked, then rendered) with the clip and phase in progress.`),
  code(`const real = await mp.data.prepare({ videos, out: realOut, workers, ...(maxFrames ? { maxFrames } : {}) });
await display(real);`),
  md(`## 2. Browse a clip
The frame scrubber over the prepared image, its depth / normal / render maps and the FLAME overlay (the render blended
over the image inside the face mask, the mask's outline in yellow, the detected 68 landmarks in red).`),
  code(`await display(real.browse(real.clips[0]?.clip));`),
  md(`## 3. Quality
Per kept frame: the 68-landmark error of the saved parameters (frames above the dashed threshold are dropped) and the
head yaw. \`report.html\` beside the dataset holds the same plots and every dropped frame with its reason.`),
  code(`await display(real.qualityPlot());
real.report?.reasons`),
  md(`## 4. A synthetic set
Randomised demo-head identities (shape, skin / hair / lip / eye colour), smooth random motion, SH light and procedural
backdrops; \`flame.npz\` holds the exact ground truth. Identities are split into train / val / test.`),
  code(`const synth = await mp.data.synth({ out: synthOut, identities, clips, frames, size, seed, workers });
await display(synth);
await display(synth.browse());`),
  md(`## 5. Cross-reenactment ground truth
Identity A driven by clip B's motion, rendered from the two clips' \`flame.npz\` (what a perfect reenactment shows; the
evaluation uses the same call).`),
  code(`const [a, b] = synth.clips;
const cross = [];
if (a && b) for await (const f of mp.data.crossReenactment({ reference: a.dir, driving: b.dir }))
  cross.push({ width: size, height: size, channels: 3, data: f.photo });
if (cross.length) await display(mp.frames([{ name: \`\${a.meta.identity} driven by \${b.clip}\`, frames: cross }], { title: 'Cross-reenactment ground truth', label: 'synthetic demo head — not real faces' }));
cross.length`),
  md(`## 6. The report`),
  code(`await display(mp.data.open(realOut));
\`report: \${mp.path(realOut)}/report.html\``),
];

const train: CellData[] = [
  md(`# Train MagicPortrait

The method's two training stages (README, *Training*) from cells: a small synthetic dataset of the demo head, the
trainer (\`python -m training\`, PyTorch) as a child process with a live loss curve and validation frames, then the
checkpoints it writes — the official MagicPortrait files — imported with our importer, sampled with \`mp.sample\` and
opened in the attention explorer. The defaults use the trainer's \`tiny\` preset (32² images, toy widths, a few dozen
steps), so it runs in a minute or two on a laptop's CPU and shows the workflow, not a useful model (the demo model of
the quickstart is the \`small\` preset trained for hours: \`training/demo-model/README.md\`).

**Interrupt** stops the trainer after it saves a resumable state (a few seconds); running the cell again resumes it.
It needs Python 3 with PyTorch (≥ 1.13), numpy and Pillow: \`python3\`, or the \`magicportrait.pythonPath\` setting.`),
  code(`const dataDir = 'out/train/data';   // the synthetic dataset (kept: a second run reuses it)
const runDir = 'out/train/run';     // the run folder (a second run resumes it)
const config = 'tiny';              // the trainer's preset: tiny (toy), small (the demo model's), or a config JSON
const identities = 6;              // synthetic identities (split into train / val / test)
const frames = 12;                  // frames per clip (stage 2 trains on 12-frame runs)
const size = 32;                    // image size (the tiny preset's)
const vaeSteps = 40;
const stage1Steps = 60;
const stage2Steps = 10;
const validateEvery = 20;           // stage-1 validation every n steps (stage 2 validates at its end)
const sampleSteps = 10;             // DDIM steps when sampling the trained checkpoints`, { tags: ['parameters'] }),
  md(`## 1. Data
Synthetic demo-head identities with random shape, colours, light, backdrops and motion; \`flame.npz\` holds the exact
ground truth, and identities are split into train / val / test.`),
  code(`const ds = await mp.data.synth({ out: dataDir, identities, clips: 1, frames, size, seed: 0 });
await display(ds);`),
  md(`## 2. Training
Base model (the small configs' own SD-1.5-layout folder), the VAE, stage 1 (reference UNet, denoising UNet, guidance
encoders on single frames) and stage 2 (motion modules on frame runs). The curves update from the trainer's JSON-lines
logs as it writes them; validation frames appear as the trainer renders them (reference | generated | ground truth |
render).`),
  code(`const training = await mp.train({
  data: dataDir, run: runDir, config,
  set: { 'vae_train.steps': vaeSteps, 'stage1.steps': stage1Steps, 'stage2.steps': stage2Steps, 'stage1.validate_every': validateEvery, 'stage2.validate_every': stage2Steps },
});
training`),
  md(`## 3. The checkpoints through our importer
\`mp.train.import\` reads the run's official files (\`stage2/ckpts\`: \`reference_unet.pth\`, \`denoising_unet.pth\`,
\`guidance_encoder_*.pth\`, \`motion_module-<step>.pth\`, with \`base/\`) as \`magicportrait import\` does, deriving the
architecture from the files, and imports the guidance encoders for the explorer. Then a validation clip (an identity the
model never trained on) is sampled through the normal \`mp.sample\`.`),
  code(`const trained = await mp.train.import(runDir);
const clip = ds.clips.find((c) => c.split === 'val') ?? ds.clips[0];
const names = clip.meta.frames;
const load = (kind) => names.map((n) => mp.image(\`\${clip.dir}/\${kind}/\${n}\`));
const reference = mp.image(\`\${clip.dir}/images/\${names[0]}\`);
const maps = { depth: load('depth'), normal: load('normal'), render: load('render') };
const sampled = await mp.sample({ reference, guidance: { maps }, bundle: trained, steps: sampleSteps });
await display(sampled.grid);
const truth = load('images');
const psnr = [...sampled.frames].map((f, i) => mp.metrics.psnr(f, truth[i]));
\`\${trained.label}: PSNR \${(psnr.reduce((a, b) => a + b, 0) / psnr.length).toFixed(2)} dB against the clip's frames\``),
  md(`## 4. The trained guidance encoders' attention
The explorer on the run's own \`guidance_encoder_*.pth\`: click a pixel to see where its query attends.`),
  code(`const enc = await mp.gge(maps, { bundle: trained });
await display(enc.attention);`),
];

// Stable cell ids, so regenerating a notebook does not churn its diff.
for (const [name, cells] of [['quickstart', quickstart], ['face-perception', facePerception], ['attention', attention], ['metrics', metrics], ['reenact', reenact], ['reference-vs-studio', referenceVsStudio], ['data', data], ['train', train]] as const) {
  cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
  writeFileSync(join(__dirname, '..', 'notebooks', `${name}.mpnb`), serializeNotebook({ metadata: {}, cells }));
  console.log(`wrote notebooks/${name}.mpnb (${cells.length} cells)`);
}

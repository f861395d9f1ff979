/**
 * The TypeScript side of the trainer's parity test (test/training/test_import_parity.py runs it): samples one clip
 * through an imported diffusion bundle with our ONNX sampler (src/kernel/diffusion/sample.ts) and writes the final
 * latents, so the test can compare them with the trainer's PyTorch sampler on the same weights, inputs and noise.
 *
 *   node --import tsx test/training/onnx_sample.ts SPEC.json
 *
 * SPEC: { bundle, clip (a dataset clip folder), frames, steps, guidanceScale, noise (.npy, the reference layout
 *         1×C×F×h×w), context: { size, overlap }, out (.npy: final latents, frame-major F×C×h×w) }
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImage, toRGB } from '../../src/kernel/io/image';
import { writeNpy } from '../../src/kernel/io/npy';
import { NdArray } from '../../src/kernel/io/ndarray';
import { loadBundle } from '../../src/kernel/diffusion/bundle';
import { latentSize } from '../../src/kernel/diffusion/graph/config';
import { releaseBundleSessions, sample } from '../../src/kernel/diffusion/sample';

interface Spec {
  bundle: string;
  clip: string;
  frames: number;
  steps: number;
  guidanceScale: number;
  noise: string;
  context: { size: number; overlap: number };
  out: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
  const meta = JSON.parse(readFileSync(join(spec.clip, 'meta.json'), 'utf8')) as { frames: string[] };
  const names = meta.frames.slice(0, spec.frames);
  const load = (sub: string, n: string) => toRGB(readImage(join(spec.clip, sub, n)));
  const bundle = await loadBundle(spec.bundle);
  const r = await sample(
    {
      reference: load('images', meta.frames[0]!),
      guidance: { maps: { depth: names.map((n) => load('depth', n)), normal: names.map((n) => load('normal', n)), render: names.map((n) => load('render', n)) } },
      bundle,
      steps: spec.steps,
      guidanceScale: spec.guidanceScale,
      noise: spec.noise,
      context: spec.context,
    },
    { previewEvery: 0 },
  );
  const a = bundle.manifest.architecture;
  const lat = latentSize(a);
  writeFileSync(spec.out, writeNpy(new NdArray('float32', [names.length, a.unet.inChannels, lat, lat], r.latents)));
  r.frames.dispose();
  await releaseBundleSessions(bundle);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

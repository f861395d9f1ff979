// NOT a unit test (needs ~12 GB of sparse files, ~1 GB RAM): run by hand.
//   /usr/bin/python3 test/diffusion/golden/import_fullsize_sparse.py /tmp/fullsize/files
//   node --import tsx test/diffusion/fullsize-check.ts /tmp/fullsize/files /tmp/fullsize/out
// Full-size check (REFERENCE_ARCH) of the parts that fit this machine: VAE encoder/decoder + guidance encoders
// built from sparse real-layout files, saved, and opened with ONNX Runtime; plus the full-size estimate. The two UNets
// are built and run at full size (generated weights) by `npm run bench -- unet-fullsize`.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { planImport, estimatePlan, fmtBytes } from '../../src/kernel/diffusion/import';
import { REFERENCE_ARCH } from '../../src/kernel/diffusion/graph/config';
import { GraphBuilder } from '../../src/kernel/onnx/graph';
import { buildVaeEncoder, buildVaeDecoder } from '../../src/kernel/diffusion/graph/vae';
import { buildGuidanceEncoder } from '../../src/kernel/diffusion/graph/gge-graph';
import { createSession } from '../../src/kernel/onnx/session';
(async () => {
  const F = process.argv[2] ?? '/tmp/fullsize/files';
  const OUT = process.argv[3] ?? '/tmp/fullsize/out';
  const plan = await planImport({ sd15Dir: join(F, 'sd15'), vaeDir: join(F, 'vae'), motionModule: join(F, 'mm.safetensors'), ckptDir: join(F, 'ckpts') }, REFERENCE_ARCH);
  const e = estimatePlan(plan);
  console.log('estimate', fmtBytes(e.diskBytes), fmtBytes(e.peakMemoryBytes));
  mkdirSync(OUT, { recursive: true });
  const builds = { vaeEncoder: buildVaeEncoder, vaeDecoder: buildVaeDecoder, guidanceEncoder: buildGuidanceEncoder } as const;
  for (const [role, build] of Object.entries(builds)) {
    const l = plan.lookups[role as keyof typeof builds];
    await l.prepare();
    const g = new GraphBuilder(role, 17);
    build(REFERENCE_ARCH, { g, w: l });
    g.castWeightsToFloat16();
    const path = join(OUT, `${role}.onnx`);
    g.save(path);
    l.release();
    const s = await createSession(path);
    const c = l.coverage();
    console.log(role, 'keys', c.total, 'used', c.used.length, 'ignored', c.ignored.length, 'unexpected', c.unexpected.length, 'session inputs', s.inputNames.join(','));
    await s.release();
  }
  await plan.close();
})();

#!/usr/bin/env node
// Installs a finished small-config training run as the committed demo model (training/demo-model/), the weights
// `mp.bundle.demo()` imports:
//
//   node scripts/install-demo-model.mjs RUN [--data DATASET] [--command "python3 -m training all …"] [--out DIR]
//
// RUN is a `python -m training all --config small` run folder (base/, stage1/, stage2/, config.json). Copied:
//   base/      unet/, text_encoder/, tokenizer/, vae/ (configs + weights), magicportrait_base.json
//   ckpts/     stage2/ckpts: reference_unet.pth, denoising_unet.pth, guidance_encoder_{depth,normal,render}.pth,
//              motion_module-<step>.pth (the newest)
//   run/       config.json, provenance.json (command, seed, steps, wall times, final losses, validation PSNR, the
//              dataset's synth-data settings, every model file's bytes and SHA-256), the JSON-lines logs, loss-curve
//              PNGs rendered from them (scripts/plot-loss-curves.py, matplotlib), the last validation images
//   README.md  provenance and the label
// --data DATASET: the synthetic dataset the run trained on; its synth-data settings (identities, clips, frames, size,
// seed, held-out identities) are recorded, so evaluation regenerates exactly its test split. The model files must stay
// ≤ 25 MB (25,000,000 bytes) in all. The new folder is built beside the old one and swapped in by renames.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';

export const MAX_MODEL_BYTES = 25_000_000;
export const DEMO_MODEL_LABEL = "demo model trained on synthetic demo-head data — not MagicPortrait's weights";
const ROOT = resolve(new URL('..', import.meta.url).pathname);
const CKPTS = ['reference_unet.pth', 'denoising_unet.pth', 'guidance_encoder_depth.pth', 'guidance_encoder_normal.pth', 'guidance_encoder_render.pth'];
const BASE = ['magicportrait_base.json', 'unet/config.json', 'text_encoder/config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'vae/config.json'];

const fail = (msg) => {
  throw new Error(msg);
};

function readJsonl(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** The one file of `dir` matching one of the names (weights may be .safetensors or .bin). */
function oneOf(dir, names) {
  const f = names.find((n) => existsSync(join(dir, n)));
  if (!f) fail(`${dir}: none of ${names.join(', ')}`);
  return f;
}

/** The newest motion_module-<step>.pth of a ckpts folder. */
export function newestMotionModule(dir) {
  const mm = readdirSync(dir).map((n) => /^motion_module-(\d+)\.pth$/.exec(n)).filter(Boolean).sort((a, b) => Number(b[1]) - Number(a[1]));
  if (!mm.length) fail(`${dir} has no motion_module-<step>.pth`);
  return mm[0][0];
}

/** The model files of a run: [relative path in the demo-model folder, source path]. */
export function modelFiles(run) {
  const base = join(run, 'base');
  const ck = join(run, 'stage2', 'ckpts');
  if (!existsSync(ck)) fail(`${run}: no stage2/ckpts (the run has not finished stage 2)`);
  const out = BASE.map((f) => [`base/${f}`, join(base, f)]);
  out.push([`base/unet/${oneOf(join(base, 'unet'), ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin'])}`, null]);
  out.push([`base/text_encoder/${oneOf(join(base, 'text_encoder'), ['model.safetensors', 'pytorch_model.bin'])}`, null]);
  out.push([`base/vae/${oneOf(join(base, 'vae'), ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin'])}`, null]);
  for (const f of [...CKPTS, newestMotionModule(ck)]) out.push([`ckpts/${f}`, join(ck, f)]);
  for (const e of out) if (e[1] === null) e[1] = join(run, e[0]);
  for (const [, src] of out) if (!existsSync(src)) fail(`${run}: ${relative(run, src)} is missing`);
  return out;
}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The synth-data settings of a synthetic dataset folder, from its dataset.json and clips' meta.json. */
export function datasetSettings(dir) {
  const ds = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
  if (ds.kind !== 'synthetic') fail(`${dir}: a ${ds.kind} dataset; the demo model's evaluation needs the synthetic one`);
  const clips = Object.entries(ds.splits).flatMap(([split, list]) => list.map((c) => ({ split, clip: c })));
  const first = JSON.parse(readFileSync(join(dir, clips[0].split, clips[0].clip, 'meta.json'), 'utf8'));
  const identities = Object.values(ds.identities).reduce((n, l) => n + l.length, 0);
  const perIdentity = clips.filter((c) => c.clip.startsWith(`${first.identity}_`)).length;
  const s = { identities, clips: perIdentity, frames: first.frames.length, size: ds.size, seed: first.source.synthetic.seed, fps: first.fps };
  return {
    ...s,
    command: `npx magicportrait synth-data --out DATASET --identities ${s.identities} --clips ${s.clips} --frames ${s.frames} --size ${s.size} --seed ${s.seed}`,
    identitiesBySplit: ds.identities,
    maps: ds.maps,
  };
}

function lastOf(recs, pred) {
  for (let i = recs.length - 1; i >= 0; i--) if (pred(recs[i])) return recs[i];
  return undefined;
}

function stageSummary(recs) {
  const train = recs.filter((r) => 'loss' in r && !r.event);
  if (!train.length) return null;
  const tail = train.slice(-Math.max(1, Math.floor(train.length / 20)));
  const val = lastOf(recs, (r) => r.event === 'validation');
  return {
    steps: train.at(-1).step,
    wallSeconds: train.at(-1).wall_s ?? null,
    finalLoss: +(tail.reduce((s, r) => s + r.loss, 0) / tail.length).toPrecision(4),
    ...(val ? { validationPsnr: val.val_psnr, ...(val.val_vae_psnr !== undefined ? { vaeReconstructionPsnr: val.val_vae_psnr } : {}) } : {}),
  };
}

function pythonWithMatplotlib() {
  for (const p of [process.env.MP_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    const r = spawnSync(p, ['-c', 'import matplotlib'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  fail('rendering the loss curves needs Python with matplotlib (Debian: apt-get install python3-matplotlib; or MP_PYTHON)');
}

function readme(p) {
  const fmt = (s) => (s ? `${s.steps} steps, ${s.wallSeconds === null ? '?' : (s.wallSeconds / 60).toFixed(1)} min, final loss ${s.finalLoss}${s.validationPsnr !== undefined ? `, validation PSNR ${s.validationPsnr} dB` : ''}` : 'not in the run');
  const d = p.dataset;
  return `# The demo model

**${DEMO_MODEL_LABEL}.** ${p.stand_in ? `\n\n> **${p.stand_in}**\n` : ''}

A MagicPortrait model at the trainer's \`${p.preset}\` scale (README, *Training*), trained from scratch by
\`python -m training\` on the synthetic demo-head dataset (\`synth-data\`: the built-in demo head, never real faces).
\`mp.bundle.demo()\` imports these files with the normal importer (\`magicportrait import\`, architecture derived from
the files) into the cache once, and labels everything made with it as above. Installed by
\`node scripts/install-demo-model.mjs ${p.run}${d ? ` --data ${d.path}` : ''}\` on ${p.installedAt.slice(0, 10)}.

| folder | what |
|---|---|
| \`base/\` | the run's base model in the Stable Diffusion 1.5 layout: \`unet/\`, \`text_encoder/\`, \`tokenizer/\` (the trainer's own, random initial UNet weights the checkpoints override), \`vae/\` (the small VAE trained first) |
| \`ckpts/\` | the official-layout checkpoints of stage 2: \`reference_unet.pth\`, \`denoising_unet.pth\`, \`guidance_encoder_{depth,normal,render}.pth\`, \`${p.motionModule}\` |
| \`run/\` | \`config.json\` (the resolved config), \`provenance.json\` (command, seed, wall times, losses, dataset, file hashes), the JSON-lines logs, loss curves (\`loss-*.png\`), the last validation images |

- Command: \`${p.command}\`${p.commandReconstructed ? ' (reconstructed from the run\'s config; the exact command was not recorded)' : ''}
- Seed: ${p.seed}; model files: ${(p.modelBytes / 1e6).toFixed(2)} MB (limit 25 MB)
- VAE: ${fmt(p.stages.vae)}
- Stage 1: ${fmt(p.stages.stage1)}
- Stage 2: ${fmt(p.stages.stage2)}
- Dataset: ${d ? `\`${d.command}\` — ${d.identities} identities (held out for evaluation: the ${d.identitiesBySplit.test.length} test identities)` : 'not recorded'}

Quality on held-out test identities through our ONNX sampler: \`npm run bench -- demo-model\` (all figures) and
\`test/diffusion/demo-model.test.ts\` (what these files meet: PyTorch parity, key coverage, and the comparisons with the untrained bundle, zeroed guidance, other identities and the stage-1 weights).
`;
}

export function installDemoModel(runArg, opts = {}) {
  const run = resolve(runArg);
  const out = resolve(opts.out ?? join(ROOT, 'training', 'demo-model'));
  if (!existsSync(join(run, 'config.json'))) fail(`${run} has no config.json: not a training run folder`);
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  const files = modelFiles(run);
  const modelBytes = files.reduce((n, [, src]) => n + statSync(src).size, 0);
  if (modelBytes > MAX_MODEL_BYTES) fail(`${run}: the model files take ${modelBytes} bytes, over the ${MAX_MODEL_BYTES}-byte limit`);
  const tmp = join(dirname(out), `.${basename(out)}-${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [rel, src] of files) {
      mkdirSync(dirname(join(tmp, rel)), { recursive: true });
      copyFileSync(src, join(tmp, rel));
    }
    const runOut = join(tmp, 'run');
    mkdirSync(join(runOut, 'validation'), { recursive: true });
    copyFileSync(join(run, 'config.json'), join(runOut, 'config.json'));
    const logs = {};
    for (const [name, rel] of [['vae', 'vae/log.jsonl'], ['stage1', 'stage1/log.jsonl'], ['stage2', 'stage2/log.jsonl']]) {
      if (!existsSync(join(run, rel))) continue;
      copyFileSync(join(run, rel), join(runOut, `${name}-log.jsonl`));
      logs[name] = join(runOut, `${name}-log.jsonl`);
    }
    // the last validation image of each stage (and the first of stage 1, to show the progress)
    const validation = [];
    for (const st of ['stage1', 'stage2']) {
      const vd = join(run, st, 'validation');
      if (!existsSync(vd)) continue;
      const imgs = readdirSync(vd).filter((n) => /^step-\d+\.(png|gif)$/.test(n)).sort();
      for (const n of [...new Set(st === 'stage1' ? [imgs[0], imgs.at(-1)] : [imgs.at(-1)])].filter(Boolean)) {
        copyFileSync(join(vd, n), join(runOut, 'validation', `${st}-${n}`));
        validation.push(`validation/${st}-${n}`);
      }
    }
    const py = pythonWithMatplotlib();
    const plot = spawnSync(py, [join(ROOT, 'scripts', 'plot-loss-curves.py'), runOut, ...Object.entries(logs).map(([n, p]) => `${n}=${p}`)], { encoding: 'utf8' });
    if (plot.status !== 0) fail(`plotting the loss curves failed: ${plot.stderr.slice(-2000)}`);
    const stages = Object.fromEntries(['vae', 'stage1', 'stage2'].map((n) => [n, logs[n] ? stageSummary(readJsonl(logs[n])) : null]));
    const dataset = opts.data ? { path: resolve(opts.data), ...datasetSettings(opts.data) } : null;
    const seed = config.runtime?.seed ?? null;
    const command = opts.command ?? `python3 -m training all --config ${config.preset ?? 'small'}${dataset ? ` --data ${dataset.path}` : ' --data DATASET'} --run ${run}`;
    const provenance = {
      format: 'magicportrait.demo-model',
      version: 1,
      label: DEMO_MODEL_LABEL,
      ...(opts.standIn ? { stand_in: opts.standIn } : {}),
      run,
      preset: config.preset ?? null,
      command,
      commandReconstructed: !opts.command,
      seed,
      installedAt: new Date().toISOString(),
      motionModule: basename(files.at(-1)[0]),
      modelBytes,
      stages,
      dataset,
      validation,
      lossCurves: Object.keys(logs).map((n) => `loss-${n}.png`),
      files: Object.fromEntries(files.map(([rel]) => [rel, { bytes: statSync(join(tmp, rel)).size, sha256: sha256(join(tmp, rel)) }])),
    };
    writeFileSync(join(runOut, 'provenance.json'), JSON.stringify(provenance, null, 1) + '\n');
    writeFileSync(join(tmp, 'README.md'), readme(provenance));
    // swap: the old folder out, the new one in
    const old = join(dirname(out), `.${basename(out)}-${process.pid}.old`);
    if (existsSync(out)) renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
    return provenance;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function main(argv) {
  const args = [...argv];
  const opt = (flag) => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const opts = { data: opt('--data'), command: opt('--command'), out: opt('--out'), standIn: opt('--stand-in') };
  if (args.length !== 1) {
    console.error('usage: node scripts/install-demo-model.mjs RUN [--data DATASET] [--command "…"] [--out DIR] [--stand-in NOTE]');
    return 2;
  }
  try {
    const p = installDemoModel(args[0], opts);
    console.log(`installed ${p.run} → ${relative(process.cwd(), resolve(opts.out ?? join(ROOT, 'training', 'demo-model')))} (${(p.modelBytes / 1e6).toFixed(2)} MB of model files, ${p.motionModule})`);
    for (const [n, s] of Object.entries(p.stages)) if (s) console.log(`  ${n}: ${JSON.stringify(s)}`);
    if (p.dataset) console.log(`  dataset: ${p.dataset.command}`);
    return 0;
  } catch (e) {
    console.error(`error: ${e.message}`);
    return 1;
  }
}

if (resolve(process.argv[1] ?? '') === resolve(new URL(import.meta.url).pathname)) process.exit(main(process.argv.slice(2)));

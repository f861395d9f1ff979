/**
 * The GGE model bundle: a folder with `gge.json` (manifest) and, per guidance type, three graphs sharing the same
 * weights: the explorer encoder (features + attention products), the features-only encoder (fused attention) and
 * the query-rows graph. Written by the importer (user checkpoints) and by the demo generator (seeded weights).
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { WeightLookup, formatCoverage, type KeyCoverage, type StateDict } from '../onnx/blocks';
import { GGE_CONFIG, GGE_IO, GUIDANCE_TYPES, type GGEConfig, buildGGEFeaturesGraph, buildGGEMainGraph, buildGGERowsGraph, ignoreUnusedGGEKeys } from './model';
import { type GuidanceType } from '../../shared/attention';

export const GGE_MANIFEST = 'gge.json';
export const GGE_BUNDLE_FORMAT = 'magicportrait.gge-bundle';
export const GGE_BUNDLE_VERSION = 1;

/** Where an encoder's weights came from. */
export type GGESource =
  | { kind: 'checkpoint'; file: string; sha256: string; bytes: number }
  | { kind: 'generated'; generator: string; seed: number };

export interface GGEOutputSpec {
  name: string;
  shape: (number | string)[];
  description: string;
}

export interface GGEEncoderEntry {
  /** Explorer encoder graph (features + attention products), relative to the bundle folder. */
  model: string;
  /** Features-only graph with the fused attention kernel (what sampling runs). */
  featuresModel: string;
  /** Query-rows graph, relative to the bundle folder. */
  rowsModel: string;
  source: GGESource;
  /** Key coverage summary (the full lists are in the import report). */
  keys: { total: number; used: number; ignored: number; unexpected: string[] };
}

export interface GGEBundleManifest {
  format: typeof GGE_BUNDLE_FORMAT;
  version: typeof GGE_BUNDLE_VERSION;
  /** 'untrained demo weights' for the demo bundle; absent for imported checkpoints. */
  label?: string;
  createdBy: string;
  createdAt: string;
  config: GGEConfig;
  /** Order of the element-wise sum of the per-type features (the reference's `guidance_types` order). */
  sumOrder: GuidanceType[];
  inputs: { guidance: string; range: [0, 1]; layout: 'NCHW RGB' };
  outputs: GGEOutputSpec[];
  featuresGraph: { outputs: GGEOutputSpec[] };
  rowsGraph: { inputs: GGEOutputSpec[]; outputs: GGEOutputSpec[] };
  encoders: Partial<Record<GuidanceType, GGEEncoderEntry>>;
}

/** A bundle on disk (manifest read and validated); sessions are created lazily by run.ts. */
export interface GGEBundle {
  dir: string;
  manifest: GGEBundleManifest;
  /** Key coverage per type, when the bundle was just written (not stored beyond the summary). */
  coverage?: Partial<Record<GuidanceType, KeyCoverage>>;
  /** The printed import report, when the bundle was just written. */
  report?: string;
}

export const GGE_OUTPUTS: GGEOutputSpec[] = [
  { name: GGE_IO.feature, shape: ['N', 320, 'h', 'w'], description: 'guidance features, added after the denoising UNet conv_in' },
  {
    name: GGE_IO.received,
    shape: ['N', 'heads', 'h', 'w'],
    description: 'attentions.5 self-attention: mean over query pixels of the probability each key pixel receives, per head',
  },
  { name: GGE_IO.outNorm, shape: ['N', 'h', 'w'], description: 'channel L2 norm of the attention block output (input of conv_out)' },
  { name: GGE_IO.deltaNorm, shape: ['N', 'h', 'w'], description: 'channel L2 norm of the self-attention contribution (attn1 output)' },
  { name: GGE_IO.tokens, shape: ['N', 'h*w', 256], description: 'norm1 output tokens (self-attention input), for the rows graph' },
];

const ROWS_IO = {
  inputs: [
    { name: GGE_IO.rowsTokens, shape: ['N', 'h*w', 256], description: 'attn_tokens from the encoder graph' },
    { name: GGE_IO.rowsQuery, shape: ['Q'], description: 'int64 query token indices, row*w + col' },
  ],
  outputs: [{ name: GGE_IO.rows, shape: ['N', 'heads', 'Q', 'h*w'], description: 'softmax attention rows of the query pixels' }],
};

export interface WriteBundleOptions {
  label?: string;
  createdBy: string;
  config?: GGEConfig;
  /** Where the coverage report goes (default: console.log). */
  log?: (text: string) => void;
}

export interface EncoderWeights {
  stateDict: StateDict;
  source: GGESource;
  /** Name used in messages (a file path or 'demo:depth'). */
  name: string;
}

/**
 * Builds and saves the graphs for each given type, checks key coverage (a missing or mis-shaped key throws
 * MagicPortraitError naming it), writes the manifest and prints the report.
 */
export function writeGGEBundle(
  weights: Partial<Record<GuidanceType, EncoderWeights>>,
  outDir: string,
  opts: WriteBundleOptions,
): GGEBundle {
  const cfg = opts.config ?? GGE_CONFIG;
  const types = GUIDANCE_TYPES.filter((t) => weights[t]);
  if (!types.length) throw new MagicPortraitError('No guidance encoder given: expected at least one of depth, normal, render.', 'bad-input');
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const encoders: Partial<Record<GuidanceType, GGEEncoderEntry>> = {};
  const coverage: Partial<Record<GuidanceType, KeyCoverage>> = {};
  const lines: string[] = [];
  for (const t of types) {
    const { stateDict, source, name } = weights[t]!;
    const w = new WeightLookup(stateDict, name);
    ignoreUnusedGGEKeys(w);
    const main = buildGGEMainGraph(w, cfg, { name: `guidance_encoder_${t}` });
    const rows = buildGGERowsGraph(w, cfg, `guidance_encoder_${t}_rows`);
    const feats = buildGGEFeaturesGraph(w, cfg, { name: `guidance_encoder_${t}_features` });
    const cov = w.coverage();
    coverage[t] = cov;
    const model = `guidance_encoder_${t}.onnx`;
    const rowsModel = `guidance_encoder_${t}_rows.onnx`;
    const featuresModel = `guidance_encoder_${t}_features.onnx`;
    const meta = { guidance_type: t, source: JSON.stringify(source), ...(opts.label ? { label: opts.label } : {}) };
    main.save(join(dir, model), meta);
    rows.save(join(dir, rowsModel), meta);
    feats.save(join(dir, featuresModel), meta);
    encoders[t] = {
      model,
      featuresModel,
      rowsModel,
      source,
      keys: { total: cov.total, used: cov.used.length, ignored: cov.ignored.length, unexpected: cov.unexpected },
    };
    lines.push(`[${t}] ${formatCoverage(cov)}`);
  }
  const missingTypes = GUIDANCE_TYPES.filter((t) => !weights[t]);
  if (missingTypes.length)
    lines.push(`note: no encoder for ${missingTypes.join(', ')}; the reference sums all three, this bundle sums ${types.join(' + ')}`);
  if (opts.label) lines.push(`label: ${opts.label}`);
  const manifest: GGEBundleManifest = {
    format: GGE_BUNDLE_FORMAT,
    version: GGE_BUNDLE_VERSION,
    ...(opts.label ? { label: opts.label } : {}),
    createdBy: opts.createdBy,
    createdAt: new Date().toISOString(),
    config: { ...cfg, blockOutChannels: [...cfg.blockOutChannels] },
    sumOrder: types,
    inputs: { guidance: GGE_IO.input, range: [0, 1], layout: 'NCHW RGB' },
    outputs: GGE_OUTPUTS,
    featuresGraph: { outputs: GGE_OUTPUTS.slice(0, 1) },
    rowsGraph: ROWS_IO,
    encoders,
  };
  writeFileSync(join(dir, GGE_MANIFEST), JSON.stringify(manifest, null, 1));
  const report = lines.join('\n');
  (opts.log ?? console.log)(report);
  return { dir, manifest, coverage, report };
}

/** Reads and validates a bundle folder's manifest. */
export function loadGGEBundle(dir: string): GGEBundle {
  const path = join(resolve(dir), GGE_MANIFEST);
  if (!existsSync(path))
    throw new MagicPortraitError(`${dir} is not a GGE bundle (no ${GGE_MANIFEST}); create one with importGGE or createDemoGGE.`, 'bad-file');
  let manifest: GGEBundleManifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as GGEBundleManifest;
  } catch (e) {
    throw new MagicPortraitError(`${path} is not valid JSON: ${(e as Error).message}`, 'bad-file');
  }
  if (manifest.format !== GGE_BUNDLE_FORMAT || manifest.version !== GGE_BUNDLE_VERSION)
    throw new MagicPortraitError(
      `${path}: unsupported bundle format ${String(manifest.format)} v${String(manifest.version)} (expected ${GGE_BUNDLE_FORMAT} v${GGE_BUNDLE_VERSION}).`,
      'bad-file',
    );
  for (const t of manifest.sumOrder) {
    const e = manifest.encoders[t];
    if (!e) throw new MagicPortraitError(`${path}: sumOrder names '${t}' but there is no encoder for it.`, 'bad-file');
    for (const f of [e.model, e.rowsModel, e.featuresModel])
      if (!existsSync(join(resolve(dir), f))) throw new MagicPortraitError(`${dir}: bundle file ${f} is missing.`, 'bad-file');
  }
  return { dir: resolve(dir), manifest };
}

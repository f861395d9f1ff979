/**
 * Imports the user's MagicPortrait guidance-encoder checkpoints (`guidance_encoder_{depth,normal,render}.pth`, or
 * .safetensors) into a GGE bundle: one ONNX encoder (plus its query-rows graph) per type, and a manifest with each
 * source file's SHA-256, the configuration and the outputs. No Python: the checkpoints are read by our safe pickle /
 * zip reader, only the tensors the architecture needs are loaded, and full key coverage is checked and printed
 * (the reference loads these files with strict=False, where a renamed key silently turns guidance off).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { openSafetensors } from '../io/safetensors';
import { openTorchCheckpoint, type TensorStore } from '../io/torch-checkpoint';
import { toFloat32 } from '../io/ndarray';
import { loadStateDict } from '../onnx/blocks';
import { type EncoderWeights, type GGEBundle, writeGGEBundle } from './bundle';
import { GGE_CONFIG, GUIDANCE_TYPES, type GGEConfig, ggeRequiredKeys } from './model';
import { type GuidanceType } from '../../shared/attention';

export interface GGEImportOptions {
  /** Where the key-coverage report is printed (default console.log). */
  log?: (text: string) => void;
  /** Shown with everything the bundle computes (e.g. the demo model's label). */
  label?: string;
  /** What the files' shapes do not record: attention heads and GroupNorm groups (default the reference's 8 and 32;
   *  a trainer's unet/config.json `magicportrait.guidance_encoder` section gives them). The widths always come from
   *  the files (conv_in, blocks.1 / 3 / 5, conv_out), so a smaller trained encoder imports as it is. */
  config?: Partial<Pick<GGEConfig, 'attentionHeads' | 'normGroups' | 'normEps'>>;
}

/** The encoder widths a checkpoint records in its shapes: conv_in, blocks.1 / 3 / 5 outputs, conv_out. */
export function ggeConfigFromShapes(store: TensorStore, path: string, base: GGEConfig = GGE_CONFIG): GGEConfig {
  const out = (k: string) => {
    if (!store.has(k)) throw new MagicPortraitError(`${path}: has no '${k}' (needed to tell the guidance encoder's widths).`, 'missing-key');
    return store.info(k).shape;
  };
  const inCh = out('conv_in.weight')[1]!;
  return {
    ...base,
    guidanceInputChannels: inCh,
    blockOutChannels: [out('conv_in.weight')[0]!, out('blocks.1.weight')[0]!, out('blocks.3.weight')[0]!, out('blocks.5.weight')[0]!],
    guidanceEmbeddingChannels: out('conv_out.weight')[0]!,
  };
}

/** Checkpoint files per guidance type, or the checkpoint folder that holds `guidance_encoder_<type>.pth`. */
export type GGEFiles = Partial<Record<GuidanceType, string>> | string;

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function resolveFiles(files: GGEFiles): Partial<Record<GuidanceType, string>> {
  if (typeof files !== 'string') return files;
  const out: Partial<Record<GuidanceType, string>> = {};
  for (const t of GUIDANCE_TYPES)
    for (const ext of ['pth', 'safetensors']) {
      const p = join(files, `guidance_encoder_${t}.${ext}`);
      if (!out[t] && existsSync(p)) out[t] = p;
    }
  if (!Object.keys(out).length)
    throw new MagicPortraitError(`${files} has no guidance_encoder_{depth,normal,render}.pth (or .safetensors).`, 'missing-file');
  return out;
}

async function openStore(path: string): Promise<TensorStore & { close(): Promise<void> }> {
  if (!existsSync(path)) throw new MagicPortraitError(`Guidance encoder checkpoint ${path} does not exist.`, 'missing-file');
  if (path.endsWith('.safetensors')) return await openSafetensors(path);
  return await openTorchCheckpoint(path);
}

/**
 * Builds the bundle in `outDir` from the given checkpoints. Throws MagicPortraitError naming the file and key on a
 * missing or mis-shaped key, a truncated file, or a pickle that references a global outside the allowlist.
 */
export async function importGGE(files: GGEFiles, outDir: string, opts: GGEImportOptions = {}): Promise<GGEBundle> {
  const paths = resolveFiles(files);
  const weights: Partial<Record<GuidanceType, EncoderWeights>> = {};
  let cfg: GGEConfig | undefined;
  let cfgFile = '';
  for (const t of GUIDANCE_TYPES) {
    const p = paths[t];
    if (!p) continue;
    const path = resolve(p);
    const store = await openStore(path);
    try {
      const keys = store.keys();
      if (keys.includes('conv_in.weight')) {
        const mine = ggeConfigFromShapes(store, path, { ...GGE_CONFIG, ...opts.config });
        if (cfg && JSON.stringify(mine) !== JSON.stringify(cfg))
          throw new MagicPortraitError(`${path}: widths ${JSON.stringify(mine.blockOutChannels)} → ${mine.guidanceEmbeddingChannels} differ from ${cfgFile}'s ${JSON.stringify(cfg.blockOutChannels)} → ${cfg.guidanceEmbeddingChannels}.`, 'bad-config');
        cfg = mine;
        cfgFile = path;
      }
      const need = new Set(ggeRequiredKeys(cfg ?? GGE_CONFIG).map((r) => r.key));
      if (!keys.some((k) => need.has(k)))
        throw new MagicPortraitError(
          `${path} does not look like a ${t} guidance encoder: none of its ${keys.length} tensors is a GuidanceEncoder key ` +
            `(e.g. conv_in.weight)${keys.length ? `; it has ${keys.slice(0, 3).join(', ')}…` : ''}.`,
          'missing-key',
        );
      // Only the tensors the architecture reads are loaded; shapes are checked when the graph is built.
      const stateDict = await loadStateDict(store, (k) => need.has(k), toFloat32);
      weights[t] = {
        stateDict,
        name: path,
        source: { kind: 'checkpoint', file: basename(path), sha256: await sha256File(path), bytes: statSync(path).size },
      };
    } finally {
      await store.close();
    }
  }
  return writeGGEBundle(weights, outDir, { createdBy: 'importGGE', log: opts.log, ...(cfg ? { config: cfg } : {}), ...(opts.label ? { label: opts.label } : {}) });
}

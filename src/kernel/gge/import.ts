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
import { GGE_CONFIG, GUIDANCE_TYPES, type GuidanceType, ggeRequiredKeys } from './model';

export interface GGEImportOptions {
  /** Where the key-coverage report is printed (default console.log). */
  log?: (text: string) => void;
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
  const required = ggeRequiredKeys(GGE_CONFIG);
  const need = new Set(required.map((r) => r.key));
  const weights: Partial<Record<GuidanceType, EncoderWeights>> = {};
  for (const t of GUIDANCE_TYPES) {
    const p = paths[t];
    if (!p) continue;
    const path = resolve(p);
    const store = await openStore(path);
    try {
      const keys = store.keys();
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
  return writeGGEBundle(weights, outDir, { createdBy: 'importGGE', log: opts.log });
}

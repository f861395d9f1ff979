/**
 * Reading metric-network weights through the safe readers (PyTorch checkpoints via the allow-listed unpickler, or
 * safetensors), into an in-memory state dict of just the tensors an importer needs.
 */
import { basename } from 'node:path';
import { MagicPortraitError } from '../../errors';
import { openSafetensors, openTorchCheckpoint, toFloat32, type SourceLike, type TensorStore } from '../../io';
import { gunzipSync } from 'fflate';
import type { StateDict, StateTensor } from './blocks';

export interface OpenedWeights {
  store: TensorStore;
  close(): Promise<void>;
}

/** Opens a .pth/.pt/.ckpt (zip or legacy torch.save), a .safetensors file or a gzip of either. */
export async function openWeights(src: SourceLike | TensorStore, label?: string): Promise<OpenedWeights> {
  if (typeof src === 'object' && 'keys' in src && 'get' in src) return { store: src, close: async () => {} };
  let source = src as SourceLike;
  const name = label ?? (typeof source === 'string' ? basename(source) : 'weights');
  if (typeof source === 'string' && source.endsWith('.gz')) {
    const { readFileSync } = await import('node:fs');
    source = gunzipSync(readFileSync(source));
  }
  try {
    const isSafetensors = typeof src === 'string' && /\.safetensors(\.gz)?$/.test(src);
    const store = isSafetensors ? await openSafetensors(source) : await openTorchCheckpoint(source);
    return { store, close: async () => void (await (store as { close?: () => Promise<void> }).close?.()) };
  } catch (e) {
    if (e instanceof MagicPortraitError) throw new MagicPortraitError(`${name}: ${e.message}`, e.code);
    throw e;
  }
}

/** Reads the tensors whose keys pass `want` into a state dict (float32); other keys are listed but not read. */
export async function loadStateDict(store: TensorStore, want: (key: string) => boolean): Promise<{ stateDict: StateDict; skipped: string[] }> {
  const out = new Map<string, StateTensor>();
  const skipped: string[] = [];
  for (const key of store.keys()) {
    if (!want(key)) {
      skipped.push(key);
      continue;
    }
    const info = store.info(key);
    const data = toFloat32(await store.get(key));
    out.set(key, { dtype: info.dtype, shape: info.shape, float32: () => data });
  }
  return { stateDict: out, skipped };
}

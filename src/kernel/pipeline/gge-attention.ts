/**
 * The GGE attention explorer's data contract (kernel side). `display(result.attention)` stores the per-frame maps as
 * float32 artifacts (and each guidance frame as a PNG underlay) and emits one MIME bundle of type
 * `application/vnd.magicportrait.attention+json`; the renderer then asks the kernel for the full attention rows of
 * clicked pixels through `serveAttentionRows(rowsId, …)`.
 */
import { randomUUID } from 'node:crypto';
import { MagicPortraitError } from '../errors';
import { DISPLAY, type DisplayContext } from '../runtime/display';
import { encodePng } from '../io/png';
import { MIME, type MimeBundle } from '../../shared/outputs';
import type { AttentionOutput, GuidanceType } from '../../shared/attention';
import type { GGEAttention, GGEAttentionRows, GGEResult, GuidanceImage, GuidanceMapsByType } from '../gge/run';

const providers = new Map<string, GGEResult['attentionRows']>();

/** Serves a renderer's request for the attention rows of clicked pixels (wired to renderer messaging). */
export async function serveAttentionRows(
  id: string,
  type: GuidanceType,
  frame: number,
  queries: readonly { x: number; y: number }[],
  space: 'grid' | 'input' = 'input',
): Promise<GGEAttentionRows> {
  const p = providers.get(id);
  if (!p)
    throw new MagicPortraitError(
      `This attention output is from an earlier kernel session, or the kernel let it go for newer outputs (it keeps the last ${MAX_PROVIDERS}): re-run the cell to explore it.`,
      'stale-output',
    );
  if (queries.length > MAX_QUERIES) throw new MagicPortraitError(`At most ${MAX_QUERIES} query pixels per request.`, 'bad-input');
  return p(type, frame, queries, space);
}

/** Drops a rows provider (its result's cached tokens can then be collected). */
export function forgetAttentionRows(id: string): void {
  providers.delete(id);
}

const MAX_QUERIES = 64;
/**
 * Rows providers kept per kernel (each may hold its result's attention tokens, up to 256 MB): re-running a cell
 * must not pile them up. The oldest displayed output goes first and then answers as stale.
 */
export const MAX_PROVIDERS = 8;

function register(id: string, rows: GGEResult['attentionRows']): void {
  providers.set(id, rows);
  for (const old of providers.keys()) {
    if (providers.size <= MAX_PROVIDERS) break;
    providers.delete(old);
  }
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function range(arrays: readonly Float32Array[], offset = 0, length?: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    const end = length === undefined ? a.length : offset + length;
    for (let i = offset; i < end; i++) {
      const v = a[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return [lo, hi];
}

/** 8-bit RGB of a guidance image (for the PNG underlay). */
function toRgb8(img: GuidanceImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(3 * n);
  if ('data' in img) {
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < n; i++) out[3 * i + c] = Math.max(0, Math.min(255, Math.round(img.data[c * n + i]! * 255)));
  } else for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = img.pixels[img.channels * i + c]!;
  return out;
}

/** Gives `attention` a non-enumerable display method (the plain data stays serialisable). */
export function makeAttentionDisplayable(attention: GGEAttention, maps: GuidanceMapsByType, rows: GGEResult['attentionRows']): void {
  let id: string | undefined;
  Object.defineProperty(attention, DISPLAY, {
    enumerable: false,
    value: (ctx: DisplayContext): MimeBundle => {
      if (!id) register((id = randomUUID()), rows);
      const cells = attention.grid.width * attention.grid.height;
      const out: AttentionOutput = {
        kind: 'magicportrait.gge-attention',
        version: 1,
        title: 'Geometric Guidance Encoder attention',
        ...(attention.label ? { label: attention.label } : {}),
        module: attention.module,
        types: attention.types,
        frames: attention.frames,
        heads: attention.heads,
        grid: attention.grid,
        input: attention.input,
        stride: attention.stride,
        encoding: 'f32le',
        tracks: attention.types.map((type) => {
          // empty when the run skipped the attention products (runGGE { attention: false }): rows still work
          const m = attention.maps[type] ?? { received: [], outNorm: [], deltaNorm: [] };
          const put = (a: Float32Array) => ctx.artifacts.put(bytesOf(a), 'bin', 'application/octet-stream');
          return {
            type,
            images: (maps[type] ?? []).map((img) =>
              ctx.artifacts.put(encodePng({ width: img.width, height: img.height, channels: 3, data: toRgb8(img) }), 'png', 'image/png'),
            ),
            received: m.received.map(put),
            outNorm: m.outNorm.map(put),
            deltaNorm: m.deltaNorm.map(put),
            ranges: {
              received: m.received.length ? Array.from({ length: attention.heads }, (_, h) => range(m.received, h * cells, cells)) : [],
              outNorm: range(m.outNorm),
              deltaNorm: range(m.deltaNorm),
            },
          };
        }),
        rows: { id, maxQueries: MAX_QUERIES },
      };
      const text =
        `GGE attention (${attention.module}): ${attention.types.join(', ')} × ${attention.frames} frame(s), ${attention.heads} heads, ` +
        `${attention.grid.width}×${attention.grid.height} grid` +
        (attention.label ? ` — ${attention.label}` : '');
      return { [MIME.attention]: out, 'text/plain': text };
    },
  });
}

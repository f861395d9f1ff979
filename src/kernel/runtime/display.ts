/**
 * The display protocol: turning values into MIME bundles. A value can describe itself by implementing
 * `[DISPLAY](ctx)`, which may store large data in the artifact store and return a bundle that references it.
 */
import { inspect } from 'node:util';
import type { ArtifactStore } from './artifacts';
import type { MimeBundle } from '../../shared/outputs';
import { inlineImage } from './inline-image';
import { type AnyImage } from '../io/image';

export const DISPLAY = Symbol.for('magicportrait.display');

export interface DisplayContext {
  artifacts: ArtifactStore;
}

export interface Displayable {
  [DISPLAY](ctx: DisplayContext): MimeBundle | Promise<MimeBundle>;
}

export function isDisplayable(v: unknown): v is Displayable {
  return !!v && (typeof v === 'object' || typeof v === 'function') && typeof (v as Displayable)[DISPLAY] === 'function';
}

const INLINE_JSON_LIMIT = 64 * 1024;

/** An 8-bit image (grey, RGB or RGBA), its bytes in a Uint8Array or a canvas's Uint8ClampedArray. */
function isImageLike(v: unknown): v is AnyImage {
  if (!v || typeof v !== 'object') return false;
  const o = v as { width?: unknown; height?: unknown; channels?: unknown; data?: unknown };
  return (
    typeof o.width === 'number' &&
    typeof o.height === 'number' &&
    (o.channels === 1 || o.channels === 3 || o.channels === 4) &&
    (o.data instanceof Uint8Array || o.data instanceof Uint8ClampedArray) &&
    o.data.length === o.width * o.height * o.channels
  );
}

export async function toMimeBundle(value: unknown, ctx: DisplayContext): Promise<MimeBundle> {
  if (isDisplayable(value)) return await value[DISPLAY]({ ...ctx, artifacts: ctx.artifacts.forDisplay() });
  if (isImageLike(value)) {
    // inline, so a large photo is shown averaged down (JPEG): the notebook stays small
    const shown = inlineImage(value);
    return { [shown.mime]: shown.base64, 'text/plain': `image ${value.width}×${value.height}×${value.channels}${shown.note}` };
  }
  if (typeof value === 'string') return { 'text/plain': value };
  const bundle: MimeBundle = { 'text/plain': inspect(value, { depth: 4, maxArrayLength: 20, breakLength: 100 }) };
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    try {
      const json = JSON.stringify(value);
      if (json && json.length <= INLINE_JSON_LIMIT) bundle['application/json'] = JSON.parse(json);
    } catch {
      /* cyclic or not JSON-able: text only */
    }
  }
  return bundle;
}

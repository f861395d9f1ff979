/**
 * The display protocol: turning values into MIME bundles. A value can describe itself by implementing
 * `[DISPLAY](ctx)`, which may store large data in the artifact store and return a bundle that references it.
 */
import { inspect } from 'node:util';
import type { ArtifactStore } from './artifacts';
import type { MimeBundle } from './protocol';

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

export async function toMimeBundle(value: unknown, ctx: DisplayContext): Promise<MimeBundle> {
  if (isDisplayable(value)) return await value[DISPLAY](ctx);
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

/**
 * Relays the attention explorer's row requests (renderer messaging) to the notebook's kernel and turns the kernel's
 * reply into a renderer message (rows as base64 little-endian float32). No vscode import: tested without VS Code.
 */
import type { KernelClient } from '../kernel/host';
import type { AttentionRowsReply } from '../shared/kernel-ipc';
import type { RendererRowsReply, RendererRowsRequest } from '../shared/attention';

const GUIDANCE = new Set(['depth', 'normal', 'render']);

/** Validates a renderer's message (it comes from webview code); returns an error text or null. */
export function checkRowsRequest(m: RendererRowsRequest): string | null {
  if (typeof m.rowsId !== 'string' || m.rowsId.length > 100) return 'bad rows id';
  if (!GUIDANCE.has(m.guidance)) return 'bad guidance type';
  if (!Number.isInteger(m.frame) || m.frame < 0) return 'bad frame';
  if (!Array.isArray(m.queries) || m.queries.length > 64 || m.queries.some((q) => !Number.isFinite(q?.x) || !Number.isFinite(q?.y))) return 'bad query pixels';
  if (m.space !== undefined && m.space !== 'grid' && m.space !== 'input') return 'bad space';
  return null;
}

export function toRendererReply(requestId: number, r: AttentionRowsReply): RendererRowsReply {
  if (!r.ok) return { type: 'attention-rows', requestId, ok: false, ...(r.stale ? { stale: true } : {}), error: r.error.message };
  const rows = r.rows;
  return {
    type: 'attention-rows',
    requestId,
    ok: true,
    heads: r.heads,
    grid: r.grid,
    queries: r.queries,
    base64: Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength).toString('base64'),
    ...(r.label ? { label: r.label } : {}),
  };
}

/** Handles one renderer request against the notebook's kernel (or reports the output stale when there is none). */
export async function relayRowsRequest(kernel: KernelClient | undefined, m: RendererRowsRequest): Promise<RendererRowsReply> {
  const bad = checkRowsRequest(m);
  if (bad) return { type: 'attention-rows', requestId: m.requestId, ok: false, error: bad };
  if (!kernel || !kernel.running)
    return {
      type: 'attention-rows',
      requestId: m.requestId,
      ok: false,
      stale: true,
      error: 'No kernel is running for this notebook: re-run the cell to explore attention rows (the maps still show).',
    };
  const reply = await kernel.attentionRows({ rowsId: m.rowsId, guidance: m.guidance, frame: m.frame, queries: m.queries.map(({ x, y }) => ({ x, y })), space: m.space ?? 'input' });
  return toRendererReply(m.requestId, reply);
}

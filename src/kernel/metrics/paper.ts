/**
 * The published comparison table of the MagicPortrait paper (Table I), as data, with its citation.
 *
 * POLICY: only numbers that were checked against the paper go in `rows`, each with where it was read. When this
 * module was written, the table's text could not be consulted (only the abstract and front matter were at hand), so
 * **no published number is included**: every value is absent rather than recalled from memory. To place a run beside
 * the paper, transcribe the rows from the PDF into a JSON file of `PaperRow`s and pass it (`mp.metrics(..., {
 * paperRows })`, `magicportrait eval --paper-table FILE`); such rows are shown labelled as user-supplied.
 */
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import { METRIC_IDS, type MetricId } from './types';

export const PAPER_CITATION =
  'M. Wei, Y. Li, T. Varanka, Y. Jiang, G. Zhao. "MagicPortrait: Temporally Consistent Face Reenactment with 3D Geometric Guidance." arXiv:2504.21497, 2025.';
export const PAPER_URL = 'https://arxiv.org/abs/2504.21497';

export interface PaperRow {
  /** Method name as printed in the table (e.g. 'Ours'). */
  method: string;
  /** Self- or cross-reenactment block of the table. */
  setting: 'self' | 'cross';
  /** Dataset column group, when the table has several. */
  dataset?: string;
  /** Published values; a metric the table does not report (or that was not verified) is simply missing. */
  values: Partial<Record<MetricId, number>>;
  /** Where the numbers were read (e.g. 'arXiv v3 PDF, Table I, p. 7' or 'user-supplied'). */
  source: string;
}

export interface PaperTable {
  citation: string;
  url: string;
  table: string;
  /** Verified published rows. Empty: see the file comment. */
  rows: readonly PaperRow[];
  /** Why values are absent (shown in displays and reports). */
  absent: string;
}

export const PAPER_TABLE_I: PaperTable = {
  citation: PAPER_CITATION,
  url: PAPER_URL,
  table: 'Table I',
  rows: [],
  absent:
    'The published Table I values are not included: they could not be verified against the paper when this module was written, ' +
    'and numbers are not recalled from memory. Pass transcribed rows (paperRows / --paper-table) to compare.',
};

/** Validates user-supplied rows (a JSON array of PaperRow, or { rows: [...] }), marking their source. */
export function parsePaperRows(value: unknown, name = 'paper table'): PaperRow[] {
  const rows = Array.isArray(value) ? value : (value as { rows?: unknown })?.rows;
  if (!Array.isArray(rows)) throw new MagicPortraitError(`${name}: expected an array of rows ({ method, setting, values }).`, 'bad-file');
  return rows.map((r, i) => {
    const row = r as Partial<PaperRow>;
    if (typeof row.method !== 'string' || (row.setting !== 'self' && row.setting !== 'cross') || typeof row.values !== 'object' || !row.values)
      throw new MagicPortraitError(`${name}: row ${i} needs "method" (string), "setting" ("self" | "cross") and "values" ({ metric: number }).`, 'bad-file');
    const values: Partial<Record<MetricId, number>> = {};
    for (const [k, v] of Object.entries(row.values)) {
      if (!(METRIC_IDS as readonly string[]).includes(k)) throw new MagicPortraitError(`${name}: row ${i} has unknown metric '${k}' (known: ${METRIC_IDS.join(', ')}).`, 'bad-file');
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new MagicPortraitError(`${name}: row ${i} metric '${k}' is not a number.`, 'bad-file');
      values[k as MetricId] = v;
    }
    return { method: row.method, setting: row.setting, ...(row.dataset ? { dataset: String(row.dataset) } : {}), values, source: row.source ? String(row.source) : 'user-supplied' };
  });
}

export function readPaperRows(path: string): PaperRow[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MagicPortraitError(`Cannot read the paper table ${path}: ${(e as Error).message}`, 'bad-file');
  }
  return parsePaperRows(json, path);
}

/**
 * The MagicPortrait paper's result tables (Table I: self-reenactment on CelebV-HQ; Tables II and III: ablations) as
 * data, with the citation and what differs between the paper's metric networks and ours.
 *
 * The numbers are the project's transcription of the paper's text (shared/docs/paper-tables.md; a test checks every
 * value against that file). Rows a user transcribes themselves can still be passed (`mp.metrics(..., { paperRows })`,
 * `magicportrait eval --paper-table FILE`); they are shown labelled as user-supplied.
 */
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import { METRIC_IDS, type MetricId } from './types';

export const PAPER_CITATION =
  'M. Wei, Y. Li, T. Varanka, Y. Jiang, G. Zhao. "MagicPortrait: Temporally Consistent Face Reenactment with 3D Geometric Guidance." arXiv:2504.21497, 2025.';
export const PAPER_URL = 'https://arxiv.org/abs/2504.21497';

/** The paper's columns, in its order: our metric ids plus the two Deep3DFace RMSEs we do not compute. */
export const PAPER_COLUMNS = ['csim', 'lpips', 'fid', 'apd', 'prmse', 'aed', 'ermse', 'fvd'] as const;
export type PaperColumn = (typeof PAPER_COLUMNS)[number];
/** What a row may hold: the paper's columns, and (in user-supplied rows) any of our metrics. */
export type PaperValueKey = PaperColumn | MetricId;
export const PAPER_COLUMN_LABELS: Record<PaperColumn, string> = {
  csim: 'CSIM ↑', lpips: 'LPIPS ↓', fid: 'FID ↓', apd: 'APD ↓', prmse: 'P-RMSE ↓', aed: 'AED ↓', ermse: 'E-RMSE ↓', fvd: 'FVD ↓',
};

export interface PaperRow {
  /** Method or setting name as printed in the table. */
  method: string;
  /** Self- or cross-reenactment block of the table. */
  setting: 'self' | 'cross';
  /** Dataset column group, when the table has several. */
  dataset?: string;
  /** Published values; a column the table does not report is simply missing. */
  values: Partial<Record<PaperValueKey, number>>;
  /** Where the numbers were read (e.g. 'arXiv 2504.21497, Table I' or 'user-supplied'). */
  source: string;
}

export interface PaperTable {
  citation: string;
  url: string;
  /** 'Table I', 'Table II', 'Table III'. */
  table: string;
  caption: string;
  rows: readonly PaperRow[];
  /** What the reader must know before comparing (shown with the table). */
  note: string;
}

/**
 * Which of the paper's measures ours reproduce. The paper (§IV-A): CSIM = face_recognition (dlib) descriptor cosine;
 * APD = L1 of SMIRK pose parameters; AED = L1 of EMOCA expression features; P-RMSE / E-RMSE = RMSE of Deep3DFace pose /
 * expression coefficients.
 */
export const METRIC_NETWORKS_NOTE =
  'CSIM is the same measure as the paper’s (dlib face-recognition descriptor cosine); LPIPS, FID and FVD use the standard ' +
  'networks from your weights. APD and AED differ: the paper uses SMIRK pose parameters (APD) and EMOCA expression features ' +
  '(AED), ours are FLAME-fit approximations, so their scales are not comparable. P-RMSE and E-RMSE (Deep3DFace coefficients) ' +
  'are not computed here. The paper’s numbers are means over its test set, not over your clips.';

const row = (method: string, v: readonly number[], table: string): PaperRow => ({
  method,
  setting: 'self',
  dataset: 'CelebV-HQ',
  values: Object.fromEntries(PAPER_COLUMNS.map((c, i) => [c, v[i]!])) as Record<PaperColumn, number>,
  source: `arXiv 2504.21497, ${table}`,
});

const table = (name: string, caption: string, rows: [string, number[]][]): PaperTable => ({
  citation: PAPER_CITATION,
  url: PAPER_URL,
  table: name,
  caption,
  rows: rows.map(([m, v]) => row(m, v, name)),
  note: METRIC_NETWORKS_NOTE,
});

//                                       CSIM    LPIPS  FID    APD    P-RMSE AED    E-RMSE FVD
export const PAPER_TABLE_I: PaperTable = table('Table I', 'Self-reenactment on 40 CelebV-HQ test identities', [
  ['TPSM', /*                      */ [0.8518, 0.157, 77.41, 0.087, 0.17, 0.08, 0.232, 206.08]],
  ['DPE', /*                       */ [0.8876, 0.132, 60.35, 0.039, 0.076, 0.137, 0.426, 232.08]],
  ['HyperReenact', /*              */ [0.7687, 0.337, 69.21, 0.047, 0.082, 0.083, 0.251, 168.82]],
  ['LivePortrait', /*              */ [0.8605, 0.239, 58.22, 0.104, 0.188, 0.046, 0.167, 156.29]],
  ['FaceAdapter', /*               */ [0.7091, 0.349, 90.43, 0.029, 0.061, 0.129, 0.422, 485.51]],
  ['AniPortrait', /*               */ [0.8517, 0.165, 72.11, 0.033, 0.067, 0.115, 0.394, 226.49]],
  ['Follow-your-emoji', /*         */ [0.8753, 0.149, 56.8, 0.052, 0.106, 0.052, 0.186, 211.43]],
  ['MagicPortrait', /*             */ [0.9102, 0.125, 53.68, 0.027, 0.064, 0.036, 0.146, 179.13]],
]);

export const PAPER_TABLE_II: PaperTable = table('Table II', 'Ablation: motion guidance ("lmks" = landmark map only)', [
  ['only lmks', /*                 */ [0.8691, 0.143, 62.25, 0.083, 0.101, 0.087, 0.24, 305.17]],
  ['lmks + depth + normal', /*     */ [0.8942, 0.133, 57.4, 0.049, 0.073, 0.047, 0.165, 226.86]],
  ['depth + normal', /*            */ [0.8909, 0.127, 53.44, 0.024, 0.064, 0.055, 0.18, 200.77]],
  ['only rendering', /*            */ [0.8733, 0.134, 60.09, 0.03, 0.069, 0.041, 0.165, 221.15]],
  ['full configuration', /*        */ [0.9102, 0.125, 53.68, 0.027, 0.064, 0.036, 0.146, 179.13]],
]);

export const PAPER_TABLE_III: PaperTable = table('Table III', 'Ablation: Geometric Guidance Encoder architecture', [
  ['CLIP encoder', /*              */ [0.8914, 0.157, 54.34, 0.17, 0.237, 0.268, 0.677, 301.15]],
  ['without self-attention', /*    */ [0.8996, 0.14, 57.79, 0.037, 0.071, 0.044, 0.162, 241.66]],
  ['with self-attention', /*       */ [0.9102, 0.125, 53.68, 0.027, 0.064, 0.036, 0.146, 179.13]],
]);

export const PAPER_TABLES: readonly PaperTable[] = [PAPER_TABLE_I, PAPER_TABLE_II, PAPER_TABLE_III];

/** A table as Markdown: the rows, the citation and the note (the metrics notebook shows the ablations this way). */
export function paperTableMarkdown(t: PaperTable): string {
  const head = `| ${t.table === 'Table I' ? 'method' : 'setting'} | ${PAPER_COLUMNS.map((c) => PAPER_COLUMN_LABELS[c]).join(' | ')} |`;
  const rule = `|---|${PAPER_COLUMNS.map(() => '---:').join('|')}|`;
  const body = t.rows.map((r) => `| ${r.method} | ${PAPER_COLUMNS.map((c) => (r.values[c] === undefined ? '—' : String(r.values[c]))).join(' | ')} |`);
  return [`**${t.table}: ${t.caption}.** From ${t.citation}`, '', head, rule, ...body].join('\n');
}

/** Validates user-supplied rows (a JSON array of PaperRow, or { rows: [...] }), marking their source. */
export function parsePaperRows(value: unknown, name = 'paper table'): PaperRow[] {
  const rows = Array.isArray(value) ? value : (value as { rows?: unknown })?.rows;
  if (!Array.isArray(rows)) throw new MagicPortraitError(`${name}: expected an array of rows ({ method, setting, values }).`, 'bad-file');
  return rows.map((r, i) => {
    const row = r as Partial<PaperRow>;
    if (typeof row.method !== 'string' || (row.setting !== 'self' && row.setting !== 'cross') || typeof row.values !== 'object' || !row.values)
      throw new MagicPortraitError(`${name}: row ${i} needs "method" (string), "setting" ("self" | "cross") and "values" ({ metric: number }).`, 'bad-file');
    const values: Partial<Record<PaperValueKey, number>> = {};
    const known = [...new Set<string>([...METRIC_IDS, ...PAPER_COLUMNS])];
    for (const [k, v] of Object.entries(row.values)) {
      if (!known.includes(k)) throw new MagicPortraitError(`${name}: row ${i} has unknown metric '${k}' (known: ${known.join(', ')}).`, 'bad-file');
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new MagicPortraitError(`${name}: row ${i} metric '${k}' is not a number.`, 'bad-file');
      values[k as PaperValueKey] = v;
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

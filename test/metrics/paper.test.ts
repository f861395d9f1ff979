// The paper's tables in paper.ts against the project's transcription (shared/docs/paper-tables.md): every row, every
// value, in the paper's column order; their display and Markdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAPER_COLUMNS, PAPER_TABLES, paperTableMarkdown, parsePaperRows } from '../../src/kernel/metrics/paper';
import { paperTable } from '../../src/kernel/pipeline/paper-table';
import { DISPLAY } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import { repoRoot } from '../runtime/kernel-harness';

/** The Markdown tables of the transcription, by their heading ("Table I", …). */
function transcribed(): Map<string, { name: string; values: number[] }[]> {
  const text = readFileSync(join(repoRoot, '..', 'shared', 'docs', 'paper-tables.md'), 'utf8');
  const out = new Map<string, { name: string; values: number[] }[]>();
  for (const section of text.split(/^## /m).slice(1)) {
    const m = /^(Table [IV]+) /.exec(section);
    if (!m) continue;
    const lines = section.split('\n').filter((l) => l.startsWith('|'));
    const header = lines[0]!.split('|').slice(2, -1).map((c) => c.trim());
    assert.deepEqual(header, ['CSIM', 'LPIPS', 'FID', 'APD', 'P-RMSE', 'AED', 'E-RMSE', 'FVD']);
    out.set(
      m[1]!,
      lines.slice(2).map((l) => {
        const cells = l.split('|').slice(1, -1).map((c) => c.trim());
        return { name: cells[0]!.replace(' (ours in the paper)', ''), values: cells.slice(1).map(Number) };
      }),
    );
  }
  return out;
}

test('Tables I, II and III hold exactly the transcribed rows and values, in the paper’s column order', () => {
  const docs = transcribed();
  assert.deepEqual([...docs.keys()], ['Table I', 'Table II', 'Table III']);
  assert.deepEqual(PAPER_COLUMNS, ['csim', 'lpips', 'fid', 'apd', 'prmse', 'aed', 'ermse', 'fvd']);
  for (const t of PAPER_TABLES) {
    const rows = docs.get(t.table)!;
    assert.deepEqual(t.rows.map((r) => r.method), rows.map((r) => r.name), t.table);
    t.rows.forEach((r, i) => assert.deepEqual(PAPER_COLUMNS.map((c) => r.values[c]), rows[i]!.values, `${t.table} ${r.method}`));
    for (const r of t.rows) assert.equal(r.source, `arXiv 2504.21497, ${t.table}`);
    assert.match(t.citation, /arXiv:2504\.21497/);
    assert.match(t.note, /SMIRK pose parameters \(APD\).*EMOCA expression features \(AED\).*Deep3DFace/);
  }
});

test('a table shows as a plotly table with the runs first, and as Markdown', () => {
  const view = paperTable('II', { result: { mode: 'self', summary: { csim: 0.5, apd: 0.2, psnr: 30 } }, options: { title: 'mine' } });
  const bundle = view[DISPLAY]() as Record<string, { figures: { data: { cells: { values: string[][] } }[] }[] }>;
  const cells = bundle[MIME.plot]!.figures[0]!.data[0]!.cells.values;
  assert.deepEqual(cells[0], ['<b>mine</b> (self)', 'only lmks', 'lmks + depth + normal', 'depth + normal', 'only rendering', 'full configuration']);
  assert.deepEqual(cells.map((c) => c[0]), ['<b>mine</b> (self)', '0.5000', '—', '—', '0.200*', '—', '—', '—', '—']);
  assert.deepEqual(cells.map((c) => c[5]), ['full configuration', '0.9102', '0.125', '53.68', '0.027', '0.064', '0.036', '0.146', '179.13']);
  const md = paperTableMarkdown(PAPER_TABLES[2]!);
  assert.match(md, /^\*\*Table III: Ablation: Geometric Guidance Encoder architecture\.\*\* From M\. Wei/);
  assert.match(md, /\n\| with self-attention \| 0\.9102 \| 0\.125 \| 53\.68 \| 0\.027 \| 0\.064 \| 0\.036 \| 0\.146 \| 179\.13 \|$/);
  assert.throws(() => paperTable('IV' as 'I'), /Tables I, II and III/);
});

test('user-supplied rows may use the paper’s P-RMSE / E-RMSE columns; unknown names are refused', () => {
  const [r] = parsePaperRows([{ method: 'x', setting: 'self', values: { prmse: 0.1, ermse: 0.2, psnr: 20 } }]);
  assert.deepEqual(r!.values, { prmse: 0.1, ermse: 0.2, psnr: 20 });
  assert.equal(r!.source, 'user-supplied');
  assert.throws(() => parsePaperRows([{ method: 'x', setting: 'self', values: { rmse: 1 } }]), /unknown metric 'rmse'/);
});

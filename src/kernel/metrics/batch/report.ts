/**
 * The self-contained HTML report of an evaluation: tables, per-pair bars, per-frame curves and the comparison with
 * the paper. plotly.js is inlined from `plotly.js-dist-min` (or the copy the build puts in dist/vendor/), so the file
 * opens offline and loads nothing remote.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsResult } from '../evaluate';
import { paperComparisonFigure, paperTableFigure, perFrameFigure, motionFigure, formatValue } from '../display';
import { type PlotFigure } from '../../../shared/outputs';
import { PAPER_TABLE_I, type PaperRow } from '../paper';
import { METRICS, fromJsonNumber, type MetricId } from '../types';
import type { EvalTable } from './table';

/** plotly.min.js source, or null when no copy can be found. */
export function plotlySource(): string | null {
  const candidates: string[] = [];
  try {
    candidates.push(require.resolve('plotly.js-dist-min/plotly.min.js'));
  } catch {
    /* not installed (packaged extension): try the vendored copy */
  }
  candidates.push(join(__dirname, 'vendor', 'plotly.min.js'));
  for (const c of candidates) if (existsSync(c)) return readFileSync(c, 'utf8');
  return null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** JSON safe inside <script>: no '</script', no '<!--'. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function cell(m: MetricId, v: number | string | null | undefined, why?: string): string {
  if (v === undefined || v === null) return `<td class="absent" title="${esc(why ?? 'absent')}">—</td>`;
  return `<td>${esc(formatValue(m, fromJsonNumber(v)))}</td>`;
}

/** Bars of every pair per metric (one subplot per metric present). */
function pairBarsFigure(t: EvalTable): PlotFigure | null {
  const metrics = t.metrics.filter((m) => t.rows.some((r) => Number.isFinite(fromJsonNumber(r.values[m]))));
  if (!metrics.length) return null;
  const data: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = { title: { text: 'Per pair' }, grid: { rows: 1, columns: metrics.length, pattern: 'independent' }, showlegend: true, legend: { orientation: 'h', y: -0.35 }, height: 380 };
  metrics.forEach((m, k) => {
    const ax = k === 0 ? '' : String(k + 1);
    for (const mode of ['self', 'cross'] as const) {
      const rows = t.rows.filter((r) => r.mode === mode && Number.isFinite(fromJsonNumber(r.values[m])));
      if (!rows.length) continue;
      data.push({ type: 'bar', name: mode, legendgroup: mode, showlegend: k === 0, x: rows.map((r) => r.id), y: rows.map((r) => fromJsonNumber(r.values[m])), xaxis: `x${ax}`, yaxis: `y${ax}`, marker: { color: mode === 'self' ? '#4e79a7' : '#f28e2b' } });
    }
    layout[`xaxis${ax}`] = { title: { text: `${METRICS[m].label} ${METRICS[m].better === 'higher' ? '↑' : '↓'}` }, tickangle: -45 };
  });
  return { data, layout };
}

export interface ReportInfo {
  manifest?: string;
  /** Extra lines for the header (e.g. how the run was sharded). */
  lines?: string[];
  paperRows?: readonly PaperRow[];
}

export function renderReport(t: EvalTable, results: Map<string, MetricsResult>, info: ReportInfo = {}): string {
  const plotly = plotlySource();
  const figures: { id: string; fig: PlotFigure }[] = [];
  const bars = pairBarsFigure(t);
  if (bars) figures.push({ id: 'fig-pairs', fig: bars });
  const runs = (['self', 'cross'] as const)
    .filter((m) => t.aggregate[m].pairs)
    .map((m) => ({ name: `mean of ${t.aggregate[m].pairs} pair(s)`, mode: m, summary: Object.fromEntries(Object.entries(t.aggregate[m].values).map(([k, v]) => [k, fromJsonNumber(v)])) as Partial<Record<MetricId, number>> }));
  figures.push({ id: 'fig-paper-table', fig: paperTableFigure(runs, PAPER_TABLE_I, info.paperRows) });
  figures.push({ id: 'fig-paper', fig: paperComparisonFigure(runs, info.paperRows) });
  const perPair: string[] = [];
  for (const r of t.rows) {
    const res = results.get(r.id);
    if (!res) continue;
    const f = perFrameFigure(res, `${r.id}: per frame`);
    const mo = motionFigure(res);
    const divs: string[] = [];
    for (const [id, fig] of [[`fig-frames-${r.id}`, f], [`fig-motion-${r.id}`, mo]] as const) {
      if (!fig) continue;
      figures.push({ id, fig });
      divs.push(`<div class="plot" id="${esc(id)}"></div>`);
    }
    const notes = t.notes[r.id]?.length ? `<p class="note">${t.notes[r.id]!.map(esc).join('<br>')}</p>` : '';
    perPair.push(`<details><summary>${esc(r.id)} (${r.mode}, ${r.frames} frames)</summary>${notes}${divs.join('')}</details>`);
  }

  const head = `<tr><th>pair</th><th>mode</th><th>frames</th>${t.metrics.map((m) => `<th title="${esc(METRICS[m].description)}">${METRICS[m].label} ${METRICS[m].better === 'higher' ? '↑' : '↓'}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r) => `<tr><td>${esc(r.id)}</td><td>${r.mode}</td><td>${r.frames}</td>${t.metrics.map((m) => cell(m, r.values[m], t.absent[r.id]?.[m])).join('')}</tr>`);
  const agg = (['self', 'cross'] as const)
    .filter((m) => t.aggregate[m].pairs)
    .map((m) => `<tr class="agg"><td>mean (${m})</td><td>${m}</td><td>${t.aggregate[m].pairs} pairs</td>${t.metrics.map((k) => cell(k, t.aggregate[m].values[k], 'no pair has it')).join('')}</tr>`);
  const paper = `<p>${esc(PAPER_TABLE_I.table)} (${esc(PAPER_TABLE_I.caption)}): ${PAPER_TABLE_I.rows.length} rows${info.paperRows?.length ? `, ${info.paperRows.length} user-supplied` : ''}. ${esc(PAPER_TABLE_I.citation)} (${esc(PAPER_TABLE_I.url)})</p>
<p class="note">${esc(PAPER_TABLE_I.note)}</p>`;
  const missing = t.missing.length ? `<p class="warn">${t.missing.length} pair(s) without results: ${t.missing.map(esc).join(', ')}</p>` : '';
  const plotScript = plotly
    ? `<script>${plotly.replace(/<!--/g, '<\\!--').replace(/<\/script/gi, '<\\/script')}</script>
<script>
const FIGURES = ${scriptJson(figures)};
for (const f of FIGURES) {
  const el = document.getElementById(f.id);
  if (!el) continue;
  const draw = () => Plotly.newPlot(el, f.fig.data, Object.assign({ margin: { l: 50, r: 30, t: 50, b: 60 }, height: 340 }, f.fig.layout), { displaylogo: false, responsive: true });
  const d = el.closest('details');
  if (d && !d.open) d.addEventListener('toggle', () => d.open && !el.dataset.drawn && (el.dataset.drawn = '1', draw()));
  else draw();
}
</script>`
    : '<p class="warn">plotly.js was not found next to this build: the figures are omitted (tables above are complete).</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(t.name)} — MagicPortrait evaluation</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0; } th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child, td:nth-child(2) { text-align: left; } tr.agg td { font-weight: 600; background: #f4f4f4; }
td.absent { color: #999; } .note { color: #666; font-size: 12px; } .warn { color: #a40; } .plot { width: 100%; min-height: 340px; }
details { margin: 6px 0; } summary { cursor: pointer; }
</style></head><body>
<h1>${esc(t.name)}</h1>
<p>${t.rows.length} pair(s) evaluated${info.manifest ? ` from <code>${esc(info.manifest)}</code>` : ''}. ${(info.lines ?? []).map(esc).join(' ')}</p>
${missing}
<h2>Results</h2>
<table>${head}${rows.join('')}${agg.join('')}</table>
${t.aggregateNotes.length ? `<p class="note">${t.aggregateNotes.map(esc).join('<br>')}</p>` : ''}
<p class="note">Self-reenactment compares generated frames with the ground truth (PSNR/SSIM as scikit-image computes them, LPIPS from the user's weights) and the reference identity (CSIM: dlib descriptor cosine). Cross-reenactment has no ground truth. APD/AED are FLAME-fit approximations of the paper's SMIRK/EMOCA measures. Means are over pairs. Hover a "—" for why a metric is absent.</p>
<h2>Figures</h2>
<div class="plot" id="fig-pairs"></div>
<h2>Beside the paper</h2>
${paper}
<div class="plot" id="fig-paper-table"></div>
<div class="plot" id="fig-paper"></div>
<h2>Per pair</h2>
${perPair.join('\n')}
${plotScript}
</body></html>
`;
}

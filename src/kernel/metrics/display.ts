/**
 * Plotly figures for metric results — used by the notebook display (MIME.plot, drawn by webviews/plot.ts) and by
 * the batch HTML report (the same figure JSON, drawn by an inlined plotly.js).
 */
import type { PlotFigure, PlotPayload } from '../../shared/outputs';
import { METRICS, METRIC_IDS, type MetricId } from './types';
import { PAPER_COLUMNS, PAPER_COLUMN_LABELS, PAPER_TABLE_I, type PaperColumn, type PaperRow, type PaperTable } from './paper';

/** What the figures need from a result: the plain figures of an evaluation (MetricsResult extends it). */
export interface FigureInput {
  mode: 'self' | 'cross';
  /** Frames compared. */
  frames: number;
  /** Indices (in the source videos) of the compared frames. */
  frameIndices: number[];
  /** Per-frame values (NaN: not available for that frame, e.g. no face). */
  perFrame: Partial<Record<MetricId, number[]>>;
  /** Aggregates: the mean over frames (per-frame metrics) or the set value (FID/FVD). Present metrics only. */
  summary: Partial<Record<MetricId, number>>;
  /** Why each missing metric is absent. */
  absent: Partial<Record<MetricId, string>>;
  notes?: string[];
  /** Shown beside a metric's value, e.g. CSIM's '(faces in 17 of 24 frames, 71%)'. */
  coverage?: Partial<Record<MetricId, string>>;
}

const plotValue = (v: number) => (Number.isFinite(v) ? v : null);

export function formatValue(id: MetricId, v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  if (v === Infinity) return '∞';
  if (id === 'psnr') return v.toFixed(2);
  if (id === 'fid' || id === 'fvd') return v.toFixed(2);
  return v.toFixed(4);
}

/** Per-frame curves: image quality / identity on the left axis (0…1), PSNR on the right axis. */
export function perFrameFigure(r: FigureInput, title = 'Per-frame metrics'): PlotFigure | null {
  const data: Record<string, unknown>[] = [];
  for (const id of ['ssim', 'lpips', 'csim'] as const) {
    const v = r.perFrame[id];
    if (v) data.push({ type: 'scatter', mode: 'lines+markers', name: METRICS[id].label, x: r.frameIndices, y: v.map(plotValue) });
  }
  const p = r.perFrame.psnr;
  if (p) data.push({ type: 'scatter', mode: 'lines+markers', name: 'PSNR (dB)', x: r.frameIndices, y: p.map(plotValue), yaxis: 'y2', line: { dash: 'dot' } });
  if (!data.length) return null;
  const infinite = p?.some((v) => v === Infinity);
  return {
    data,
    layout: {
      title: { text: title + (infinite ? ' (PSNR ∞ on identical frames: not drawn)' : '') },
      xaxis: { title: { text: 'frame' } },
      yaxis: { title: { text: 'SSIM / LPIPS / CSIM' }, rangemode: 'tozero' },
      yaxis2: { title: { text: 'PSNR (dB)' }, overlaying: 'y', side: 'right', showgrid: false },
      legend: { orientation: 'h', y: -0.2 },
    },
  };
}

/** APD / AED per frame (when FLAME parameters were given). */
export function motionFigure(r: FigureInput): PlotFigure | null {
  const data: Record<string, unknown>[] = [];
  for (const id of ['apd', 'aed'] as const) {
    const v = r.perFrame[id];
    if (v) data.push({ type: 'scatter', mode: 'lines', name: METRICS[id].label, x: r.frameIndices.slice(0, v.length), y: v.map(plotValue) });
  }
  if (!data.length) return null;
  return {
    data,
    layout: { title: { text: 'Per-frame APD / AED (FLAME-fit approximations)' }, xaxis: { title: { text: 'frame' } }, yaxis: { title: { text: 'mean |Δ parameter|' }, rangemode: 'tozero' } },
  };
}

/** The summary table: every metric, its value or why it is absent. */
export function summaryFigure(r: FigureInput, title = 'Summary'): PlotFigure {
  const rows = METRIC_IDS.map((id) => {
    const v = r.summary[id];
    const present = v !== undefined;
    return [METRICS[id].label, present ? `${formatValue(id, v)}${r.coverage?.[id] ? ` ${r.coverage[id]}` : ''}` : '—', METRICS[id].better === 'higher' ? '↑' : '↓', present ? METRICS[id].description : (r.absent[id] ?? 'not computed')];
  });
  const cols = rows[0]!.map((_, c) => rows.map((row) => row[c]));
  return {
    data: [
      {
        type: 'table',
        columnwidth: [60, 150, 40, 350],
        // Translucent fills: readable on light and dark themes (the text takes the layout's font colour).
        header: { values: ['metric', 'value', 'better', 'definition / why absent'], align: 'left', font: { size: 12 }, fill: { color: 'rgba(128,128,128,0.25)' }, line: { color: 'rgba(128,128,128,0.4)' } },
        cells: { values: cols, align: 'left', height: 24, fill: { color: 'rgba(128,128,128,0.06)' }, line: { color: 'rgba(128,128,128,0.3)' } },
      },
    ],
    layout: { title: { text: `${title} — ${r.mode}-reenactment, ${r.frames} frame(s)` }, height: 80 + 26 * rows.length, margin: { l: 10, r: 10, t: 40, b: 10 } },
  };
}

type RunSummary = { name: string; mode: 'self' | 'cross'; summary: Partial<Record<MetricId, number>> };

const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#d62728'];

function paperNote(runs: readonly RunSummary[], table: PaperTable): string {
  const cross = runs.some((r) => r.mode === 'cross') ? ` ${table.table} is self-reenactment; a cross-reenactment run has no ground truth, so only its identity and motion columns compare.` : '';
  return `${table.table} of ${table.citation} ${table.note}${cross}`;
}

/**
 * This run beside the paper's Table I rows: one small bar chart per metric that both report (`extraRows`:
 * user-supplied rows, labelled so).
 */
export function paperComparisonFigure(runs: RunSummary[], extraRows: readonly PaperRow[] = [], table: PaperTable = PAPER_TABLE_I): PlotFigure {
  const paperRows = [...table.rows, ...extraRows];
  const metrics = METRIC_IDS.filter((id) => runs.some((r) => Number.isFinite(r.summary[id] ?? NaN)) && paperRows.some((p) => p.values[id] !== undefined));
  const data: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = {
    title: { text: `This run beside ${table.table} of the paper (${table.caption})` },
    grid: { rows: 1, columns: Math.max(1, metrics.length), pattern: 'independent' },
    showlegend: true,
    legend: { orientation: 'h', y: -0.25 },
    barmode: 'group',
  };
  const series = [
    ...runs.map((r) => ({ name: `${r.name} (${r.mode})`, get: (id: MetricId) => r.summary[id] })),
    ...paperRows.map((p) => ({ name: `${p.method} — paper${p.source === 'user-supplied' ? ' (user-supplied)' : ''}`, get: (id: MetricId) => p.values[id] })),
  ];
  metrics.forEach((id, k) => {
    const ax = k === 0 ? '' : String(k + 1);
    series.forEach((s, j) => {
      const v = s.get(id);
      if (v === undefined || !Number.isFinite(v)) return;
      data.push({ type: 'bar', name: s.name, legendgroup: s.name, showlegend: k === 0 || !data.some((d) => d.legendgroup === s.name), x: [METRICS[id].label], y: [v], xaxis: `x${ax}`, yaxis: `y${ax}`, marker: { color: COLOURS[j % COLOURS.length] } });
    });
    layout[`xaxis${ax}`] = { title: { text: `${METRICS[id].label} ${METRICS[id].better === 'higher' ? '↑' : '↓'}` }, showticklabels: false };
  });
  layout.annotations = [{ text: wrap(paperNote(runs, table), 140), xref: 'paper', yref: 'paper', x: 0, y: 1.04, yanchor: 'bottom', showarrow: false, align: 'left', font: { size: 10 } }];
  layout.margin = { t: 150 };
  layout.height = 440;
  return { data, layout };
}

/**
 * The paper's table with this run as its first row(s), every column in the paper's order: what we measure in the
 * same terms, "—" where we do not (P-RMSE / E-RMSE) or this run has no value, APD / AED marked as approximations.
 */
export function paperTableFigure(runs: RunSummary[], table: PaperTable = PAPER_TABLE_I, extraRows: readonly PaperRow[] = []): PlotFigure {
  const fmt = (c: PaperColumn, v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : c === 'fid' || c === 'fvd' ? v.toFixed(2) : v.toFixed(c === 'csim' ? 4 : 3));
  const rows: string[][] = [
    ...runs.map((r) => [`<b>${r.name}</b> (${r.mode})`, ...PAPER_COLUMNS.map((c) => (c === 'prmse' || c === 'ermse' ? '—' : `${fmt(c, r.summary[c])}${(c === 'apd' || c === 'aed') && r.summary[c] !== undefined ? '*' : ''}`))]),
    ...[...table.rows, ...extraRows].map((p) => [`${p.method}${p.source === 'user-supplied' ? ' (user-supplied)' : ''}`, ...PAPER_COLUMNS.map((c) => fmt(c, p.values[c]))]),
  ];
  const cols = rows[0]!.map((_, c) => rows.map((row) => row[c]!));
  const note = `* FLAME-fit approximation, not the paper’s SMIRK (APD) / EMOCA (AED) measure. ${paperNote(runs, table)}`;
  return {
    data: [
      {
        type: 'table',
        columnwidth: [160, ...PAPER_COLUMNS.map(() => 60)],
        header: { values: [table.table === 'Table I' ? 'method' : 'setting', ...PAPER_COLUMNS.map((c) => PAPER_COLUMN_LABELS[c])], align: 'left', font: { size: 12 }, fill: { color: 'rgba(128,128,128,0.25)' }, line: { color: 'rgba(128,128,128,0.4)' } },
        cells: { values: cols, align: 'left', height: 24, fill: { color: 'rgba(128,128,128,0.06)' }, line: { color: 'rgba(128,128,128,0.3)' } },
      },
    ],
    layout: {
      title: { text: `${table.table} of the paper beside this run — ${table.caption}` },
      height: 150 + 26 * rows.length,
      margin: { l: 10, r: 10, t: 40, b: 90 },
      annotations: [{ text: wrap(note, 150), xref: 'paper', yref: 'paper', x: 0, y: 0, yanchor: 'top', showarrow: false, align: 'left', font: { size: 10 } }],
    },
  };
}

function wrap(text: string, width: number): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if ((line + ' ' + w).trim().length > width) {
      lines.push(line.trim());
      line = w;
    } else line += ' ' + w;
  }
  if (line.trim()) lines.push(line.trim());
  return lines.join('<br>');
}

/** The notebook payload of one evaluation: curves, summary table, paper comparison. */
export function metricsPlot(r: FigureInput, opts: { title?: string; name?: string; paperRows?: readonly PaperRow[] } = {}): PlotPayload {
  const run = [{ name: opts.name ?? 'this run', mode: r.mode, summary: r.summary }];
  const figures = [perFrameFigure(r), motionFigure(r), summaryFigure(r), paperTableFigure(run, PAPER_TABLE_I, opts.paperRows), paperComparisonFigure(run, opts.paperRows)].filter(
    (f): f is PlotFigure => f !== null,
  );
  return { title: opts.title ?? 'MagicPortrait metrics', label: r.notes?.length ? r.notes.join(' · ') : undefined, figures };
}

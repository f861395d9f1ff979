/**
 * The dataset's report: one record per clip a run looked at (written to `<out>/.report/<clip>.json` as soon as the
 * clip is finished, skipped or failed, so shards on other machines contribute theirs), and the combined
 * `report.json` + self-contained `report.html` (inline SVG plots, no scripts, nothing remote) written from all records
 * by every run and by `data-merge`. Records hold no timings, so a resumed or sharded run writes the same bytes as an
 * uninterrupted one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { ensureDir, jsonText, writeFileAtomic } from './files';
import { REPORT_FORMAT, LAYOUT_VERSION, SYNTHETIC_LABEL, type DatasetJson, type DroppedFrame } from './layout';

export interface ClipRecord {
  clip: string;
  split: string;
  identity: string;
  /** Source file (relative to --videos) or 'synthetic'. */
  source: string;
  synthetic: boolean;
  status: 'complete' | 'skipped' | 'failed';
  /** Why a clip was skipped or failed (a clear message naming the file / frame). */
  reason?: string;
  /** Frames read from the source and frames kept. */
  read: number;
  kept: number;
  dropped: DroppedFrame[];
  /** Per kept frame: the quality metric (68-landmark NME for real clips, 0 for synthetic) and the head yaw (degrees). */
  quality: number[];
  yaw: number[];
  /** Frame indices of the kept frames (x axis of the plots). */
  frameIndex: number[];
}

export const REPORT_DIR = '.report';
export const recordPath = (out: string, clip: string) => join(out, REPORT_DIR, `${clip}.json`);

export function writeClipRecord(out: string, rec: ClipRecord): void {
  ensureDir(join(out, REPORT_DIR));
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e5) / 1e5 : null);
  writeFileAtomic(recordPath(out, rec.clip), jsonText({ ...rec, quality: rec.quality.map(r), yaw: rec.yaw.map((y) => (Number.isFinite(y) ? Math.round(y * 100) / 100 : null)) }));
}

export function readClipRecords(out: string): ClipRecord[] {
  const dir = join(out, REPORT_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .sort()
    .map((f) => {
      try {
        return JSON.parse(readFileSync(join(dir, f), 'utf8')) as ClipRecord;
      } catch (e) {
        throw new MagicPortraitError(`${join(dir, f)} is not a valid clip record: ${(e as Error).message}`, 'bad-file');
      }
    });
}

export interface DataReport {
  format: typeof REPORT_FORMAT;
  version: number;
  kind: DatasetJson['kind'];
  label: string;
  counts: { clips: number; complete: number; skipped: number; failed: number; framesRead: number; framesKept: number; framesDropped: number };
  /** Dropped frames per reason. */
  reasons: Record<string, number>;
  /** How frames are judged (documented in the README). */
  rules: string[];
  clips: ClipRecord[];
}

export function buildReport(records: ClipRecord[], dataset: DatasetJson, rules: string[]): DataReport {
  const recs = [...records].sort((a, b) => a.split.localeCompare(b.split) || a.clip.localeCompare(b.clip));
  const reasons: Record<string, number> = {};
  for (const r of recs) for (const d of r.dropped) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
  const sum = (f: (r: ClipRecord) => number) => recs.reduce((s, r) => s + f(r), 0);
  return {
    format: REPORT_FORMAT,
    version: LAYOUT_VERSION,
    kind: dataset.kind,
    label: dataset.label,
    counts: {
      clips: recs.length,
      complete: recs.filter((r) => r.status === 'complete').length,
      skipped: recs.filter((r) => r.status === 'skipped').length,
      failed: recs.filter((r) => r.status === 'failed').length,
      framesRead: sum((r) => r.read),
      framesKept: sum((r) => (r.status === 'complete' ? r.kept : 0)),
      framesDropped: sum((r) => r.dropped.length),
    },
    reasons: Object.fromEntries(Object.entries(reasons).sort()),
    rules,
    clips: recs,
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A small line plot (inline SVG) of one series per clip. */
function svgPlot(title: string, series: { name: string; x: number[]; y: (number | null)[] }[], yLabel: string, threshold?: number): string {
  const W = 720, H = 220, L = 48, R = 12, T = 24, B = 30;
  const xs = series.flatMap((s) => s.x), ys = series.flatMap((s) => s.y.filter((v): v is number => v !== null && Number.isFinite(v)));
  if (!xs.length || !ys.length) return `<p><em>${esc(title)}: no frames.</em></p>`;
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys, threshold ?? Infinity), y1 = Math.max(...ys, threshold ?? -Infinity);
  if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R), py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const colours = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const lines = series.map((s, k) => {
    const pts = s.x.map((x, i) => (s.y[i] === null || !Number.isFinite(s.y[i]!) ? null : `${px(x).toFixed(1)},${py(s.y[i]!).toFixed(1)}`)).filter(Boolean).join(' ');
    return `<polyline fill="none" stroke="${colours[k % colours.length]}" stroke-width="1.3" points="${pts}"><title>${esc(s.name)}</title></polyline>`;
  });
  const thr = threshold !== undefined ? `<line x1="${L}" x2="${W - R}" y1="${py(threshold).toFixed(1)}" y2="${py(threshold).toFixed(1)}" stroke="#c00" stroke-dasharray="4 3"><title>threshold ${threshold}</title></line>` : '';
  const ticks = [y0, (y0 + y1) / 2, y1].map((v) => `<text x="${L - 4}" y="${py(v) + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`).join('');
  const legend = series.slice(0, 10).map((s, k) => `<tspan fill="${colours[k % colours.length]}">■ ${esc(s.name)} </tspan>`).join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="11" font-family="sans-serif" role="img" aria-label="${esc(title)}">
<text x="${L}" y="14" font-weight="bold">${esc(title)}</text><text x="${W - R}" y="14" text-anchor="end">${legend}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>
${ticks}<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">frame</text><text x="12" y="${(T + H - B) / 2}" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>
${thr}${lines.join('\n')}</svg>`;
}

export function reportHtml(rep: DataReport, threshold?: number): string {
  const c = rep.counts;
  const rows = rep.clips.map((r) => {
    const q = r.quality.filter((v) => v !== null && Number.isFinite(v));
    const mean = q.length ? q.reduce((a, b) => a + b, 0) / q.length : NaN;
    const reasons: Record<string, number> = {};
    for (const d of r.dropped) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    return `<tr class="${r.status}"><td>${esc(r.split)}</td><td>${esc(r.clip)}</td><td>${esc(r.source)}</td><td>${r.status}</td><td>${r.read}</td><td>${r.kept}</td><td>${esc(Object.entries(reasons).map(([k, v]) => `${k}: ${v}`).join(', '))}</td><td>${Number.isFinite(mean) ? (r.synthetic ? 'exact' : `${(100 * mean).toFixed(2)} %`) : '—'}</td><td>${esc(r.reason ?? '')}</td></tr>`;
  });
  const real = rep.clips.filter((r) => !r.synthetic && r.quality.length);
  const plots = [
    real.length ? svgPlot('Tracking quality per frame (68-landmark NME of the saved parameters; dashed: drop threshold)', real.map((r) => ({ name: r.clip, x: r.frameIndex, y: r.quality.map((v) => (v === null ? null : 100 * v)) })), 'NME %', threshold !== undefined ? 100 * threshold : undefined) : '',
    svgPlot('Head yaw per frame', rep.clips.filter((r) => r.yaw.length).slice(0, 40).map((r) => ({ name: r.clip, x: r.frameIndex, y: r.yaw })), 'degrees'),
  ];
  const dropped = rep.clips.flatMap((r) => r.dropped.slice(0, 50).map((d) => `<tr><td>${esc(r.clip)}</td><td>${d.frame}</td><td>${d.reason}</td><td>${esc(d.detail)}</td></tr>`));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>MagicPortrait dataset report</title>
<style>body{font:14px sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}tr.skipped td,tr.failed td{background:#fff3f0}.label{background:#fffbe0;padding:6px 10px;border:1px solid #e0d890;display:inline-block}</style></head><body>
<h1>Dataset report</h1>
<p class="label">${esc(rep.kind === 'synthetic' ? SYNTHETIC_LABEL : rep.label)}</p>
<table><tr><th>clips</th><th>complete</th><th>skipped</th><th>failed</th><th>frames read</th><th>kept</th><th>dropped</th></tr>
<tr><td>${c.clips}</td><td>${c.complete}</td><td>${c.skipped}</td><td>${c.failed}</td><td>${c.framesRead}</td><td>${c.framesKept}</td><td>${c.framesDropped}</td></tr></table>
<h2>Rules</h2><ul>${rep.rules.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
<h2>Dropped frames by reason</h2><table><tr><th>reason</th><th>frames</th></tr>${Object.entries(rep.reasons).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join('') || '<tr><td colspan="2">none</td></tr>'}</table>
<h2>Clips</h2><table><tr><th>split</th><th>clip</th><th>source</th><th>status</th><th>read</th><th>kept</th><th>dropped</th><th>mean NME</th><th>note</th></tr>${rows.join('\n')}</table>
<h2>Quality</h2>${plots.join('\n')}
<h2>Dropped frames</h2><table><tr><th>clip</th><th>frame</th><th>reason</th><th>detail</th></tr>${dropped.join('\n') || '<tr><td colspan="4">none</td></tr>'}</table>
</body></html>
`;
}

/** Writes report.json and report.html from the records on disk. */
export function writeReport(out: string, dataset: DatasetJson, rules: string[], threshold?: number): DataReport {
  const rep = buildReport(readClipRecords(out), dataset, rules);
  writeFileAtomic(join(out, 'report.json'), jsonText(rep));
  writeFileAtomic(join(out, 'report.html'), reportHtml(rep, threshold));
  return rep;
}

/**
 * The Model manager panel (a webview, @vscode-elements/elements): a folder field per download with what was found
 * and what is missing, the bundle folder, fp32/fp16, the disk/memory estimate, Import with a progress bar and Cancel,
 * and the key coverage report. Everything it shows comes from the kernel's model manager service through the
 * extension host (src/extension/model-manager.ts); the folders and steps are data sent by the host, not hard-coded.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-divider/index.js';
import type { CoverageRow, FolderScan, HostMessage, ImportAllResult, PanelMessage, PanelSettings, ScanResult, StepScan } from '../src/shared/model-manager';

declare function acquireVsCodeApi(): { postMessage(m: PanelMessage): void };
const vscode = acquireVsCodeApi();
const post = (m: PanelMessage) => vscode.postMessage(m);

// A constructed stylesheet: allowed by the panel's CSP without 'unsafe-inline' (so are the elements' own styles).
const CSS = `
[hidden] { display: none !important; }
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 16px 24px; max-width: 1000px; }
h2 { font-weight: 600; margin: 14px 0 4px; }
.mm-intro, .mm-hint { color: var(--vscode-descriptionForeground); }
.mm-hint { font-size: 0.9em; margin: 0 0 4px; }
.mm-folder { margin: 12px 0; }
.mm-heading { display: flex; align-items: center; }
.mm-row { display: flex; gap: 6px; align-items: center; }
.mm-row vscode-textfield { flex: 1; }
.mm-files { list-style: none; padding: 0; margin: 4px 0 0; columns: 2; font-size: 0.92em; }
.mm-files li { margin: 1px 0; break-inside: avoid; }
.mm-found::before { content: '✓ '; color: var(--vscode-testing-iconPassed, #73c991); }
.mm-missing::before { content: '✗ '; color: var(--vscode-errorForeground, #f48771); }
.mm-missing { color: var(--vscode-errorForeground, #f48771); }
.mm-absent::before { content: '– '; }
.mm-absent { color: var(--vscode-descriptionForeground); }
.mm-status { font-size: 0.85em; padding: 0 6px; border-radius: 3px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); margin-left: 6px; }
.mm-status.complete { background: var(--vscode-testing-iconPassed, #388a34); color: #fff; }
.mm-status.incomplete, .mm-status.not-a-folder { background: var(--vscode-inputValidation-errorBackground, #5a1d1d); }
.mm-steps { margin: 6px 0; padding-left: 18px; }
.mm-actions { display: flex; gap: 8px; align-items: center; margin: 12px 0 6px; }
.mm-progress-text { font-variant-numeric: tabular-nums; margin: 4px 0; min-height: 1.3em; }
.mm-error { color: var(--vscode-errorForeground, #f48771); white-space: pre-wrap; margin: 6px 0; }
.mm-notice { border-left: 3px solid var(--vscode-inputValidation-warningBorder, #b89500); padding: 4px 8px; margin: 8px 0; }
.mm-summary { font-weight: 600; margin: 8px 0; }
table.mm-coverage { border-collapse: collapse; width: 100%; font-size: 0.92em; margin: 4px 0 8px; }
table.mm-coverage th, table.mm-coverage td { text-align: right; padding: 2px 8px; border-bottom: 1px solid var(--vscode-widget-border, #444); font-variant-numeric: tabular-nums; }
table.mm-coverage th:first-child, table.mm-coverage td:first-child { text-align: left; word-break: break-all; }
td.mm-bad { color: var(--vscode-errorForeground, #f48771); font-weight: 600; }
vscode-collapsible { margin: 4px 0; }
.mm-collapsible-body { padding: 4px 8px; }
`;
const sheet = new CSSStyleSheet();
sheet.replaceSync(CSS);
document.adoptedStyleSheets = [sheet];

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Record<string, string | undefined>, ...children: (Node | string)[]): HTMLElementTagNameMap[K];
function h(tag: string, props?: Record<string, string | undefined>, ...children: (Node | string)[]): HTMLElement;
function h(tag: string, props: Record<string, string | undefined> = {}, ...children: (Node | string)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

const fmtBytes = (n: number): string => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

interface State {
  settings: PanelSettings;
  trusted: boolean;
  scan?: ScanResult;
  scanning: boolean;
  running: boolean;
  progress?: { fraction: number; message: string };
  result?: ImportAllResult;
  error?: string;
}
const state: State = { settings: { folders: {}, out: '', precision: 'fp32' }, trusted: false, scanning: false, running: false };

// ------------------------------------------------------------------------------------------------------------------
// Fields that stay in the DOM (so typing is never interrupted by a re-render)

const app = document.getElementById('app')!;
const foldersEl = h('div', { class: 'mm-folders' });
const fields = new Map<string, HTMLElement & { value: string }>();
const fileLists = new Map<string, HTMLElement>();
const statusBadges = new Map<string, HTMLElement>();

let scanTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleScan(): void {
  clearTimeout(scanTimer);
  scanTimer = setTimeout(() => post({ type: 'scan', settings: state.settings }), 350);
}

function pathField(id: string, placeholder: string, onChange: (v: string) => void): HTMLElement {
  const field = h('vscode-textfield', { id: `mm-field-${id}`, placeholder, 'data-target': id }) as HTMLElement & { value: string };
  field.addEventListener('input', () => onChange(field.value));
  field.addEventListener('change', () => onChange(field.value));
  fields.set(id, field);
  const browse = h('vscode-button', { secondary: '', id: `mm-browse-${id}` }, 'Browse…');
  browse.addEventListener('click', () => post({ type: 'browse', target: id }));
  return h('div', { class: 'mm-row' }, field, browse);
}

function folderSection(f: FolderScan): HTMLElement {
  const badge = h('span', { class: 'mm-status' });
  statusBadges.set(f.id, badge);
  const files = h('ul', { class: 'mm-files', id: `mm-files-${f.id}` });
  fileLists.set(f.id, files);
  return h(
    'div',
    { class: 'mm-folder', 'data-folder': f.id },
    h('div', { class: 'mm-heading' }, h('vscode-label', { for: `mm-field-${f.id}` }, f.label), badge),
    h('p', { class: 'mm-hint' }, f.hint),
    pathField(f.id, `path to ${f.label}`, (v) => {
      state.settings.folders[f.id] = v;
      scheduleScan();
    }),
    files,
  );
}

const outField = pathField('out', 'folder for the model bundle (created if needed)', (v) => {
  state.settings.out = v;
  renderActions();
  scheduleScan();
});

const precisionGroup = h(
  'vscode-radio-group',
  { id: 'mm-precision' },
  h('vscode-radio', { name: 'precision', value: 'fp32', id: 'mm-precision-fp32' }, 'fp32 — exact weights (CPU and GPU)'),
  h('vscode-radio', { name: 'precision', value: 'fp16', id: 'mm-precision-fp16' }, 'fp16 — half the disk, for GPU execution providers'),
);
precisionGroup.addEventListener('change', (e) => {
  const v = (e.target as HTMLElement & { value: string }).value;
  if (v === 'fp32' || v === 'fp16') {
    state.settings.precision = v;
    scheduleScan();
  }
});

const trustNotice = h('div', { class: 'mm-notice', id: 'mm-trust' });
const stepsEl = h('ul', { class: 'mm-steps', id: 'mm-steps' });
const estimateEl = h('div', { id: 'mm-estimate' });
const importBtn = h('vscode-button', { id: 'mm-import' }, 'Import');
importBtn.addEventListener('click', () => {
  if (importBtn.hasAttribute('disabled')) return;
  state.running = true;
  state.result = undefined;
  state.error = undefined;
  state.progress = { fraction: 0, message: 'starting…' };
  post({ type: 'import', settings: state.settings });
  renderAll();
});
const cancelBtn = h('vscode-button', { id: 'mm-cancel', secondary: '' }, 'Cancel');
cancelBtn.addEventListener('click', () => post({ type: 'cancel' }));
const progressBar = h('vscode-progress-bar', { id: 'mm-progress', max: '100', value: '0', 'aria-label': 'import progress' }) as HTMLElement & { value: number };
const progressText = h('div', { class: 'mm-progress-text', id: 'mm-progress-text' });
const errorEl = h('div', { class: 'mm-error', id: 'mm-error' });
const reportEl = h('div', { id: 'mm-report' });

app.append(
  h('h2', {}, 'MagicPortrait model manager'),
  h('p', { class: 'mm-intro' }, 'Point at the folders you downloaded. The manager shows what it finds, estimates the disk and memory the import needs, and imports everything into one model bundle. Re-importing only redoes what changed (content hashes).'),
  trustNotice,
  foldersEl,
  h('vscode-divider'),
  h('div', { class: 'mm-folder' }, h('vscode-label', { for: 'mm-field-out' }, 'Model bundle folder'), outField),
  h('div', { class: 'mm-folder' }, h('vscode-label', {}, 'Precision of the diffusion weights'), precisionGroup),
  h('h2', {}, 'Import'),
  stepsEl,
  estimateEl,
  h('div', { class: 'mm-actions' }, importBtn, cancelBtn),
  progressBar,
  progressText,
  errorEl,
  reportEl,
);

// ------------------------------------------------------------------------------------------------------------------
// Rendering from state

function renderFolders(): void {
  const scan = state.scan;
  if (!scan) return;
  if (foldersEl.childElementCount !== scan.folders.length) {
    foldersEl.replaceChildren(...scan.folders.map(folderSection));
    for (const f of scan.folders) fields.get(f.id)!.value = state.settings.folders[f.id] ?? '';
  }
  for (const f of scan.folders) {
    const badge = statusBadges.get(f.id)!;
    badge.className = `mm-status ${f.status}`;
    badge.textContent = { unset: 'not set', 'not-a-folder': 'not a folder', complete: 'all found', incomplete: 'files missing' }[f.status];
    fileLists.get(f.id)!.replaceChildren(
      ...(f.status === 'unset' || f.status === 'not-a-folder'
        ? []
        : f.files.map((x) =>
            x.path
              ? h('li', { class: 'mm-found', 'data-file': x.name }, `${x.found ?? x.name} (${fmtBytes(x.bytes ?? 0)})`)
              : x.required
                ? h('li', { class: 'mm-missing', 'data-file': x.name }, `${x.name} — missing`)
                : h('li', { class: 'mm-absent', 'data-file': x.name }, `${x.name} — optional, not there`),
          )),
    );
  }
}

function stepLine(s: StepScan): HTMLElement {
  const est = s.estimate ? ` — ${s.estimate.exact ? '' : 'at most '}${fmtBytes(s.estimate.diskBytes)} of disk, ${fmtBytes(s.estimate.peakMemoryBytes)} of memory` : '';
  const text =
    s.status === 'ready'
      ? `${s.label}: ready${est}${s.estimateError ? ` — cannot read the headers: ${s.estimateError}` : ''}`
      : s.status === 'unset'
        ? `${s.label}: not set (skipped)`
        : `${s.label}: missing ${s.missing.join('; ')} (skipped)`;
  return h('li', { 'data-step': s.id, 'data-status': s.status }, text);
}

function renderSteps(): void {
  const scan = state.scan;
  stepsEl.replaceChildren(...(scan?.steps.map(stepLine) ?? []));
  const e = scan?.estimate;
  estimateEl.textContent = e
    ? `Needs about ${fmtBytes(e.diskBytes)} of disk and ${fmtBytes(e.peakMemoryBytes)} of memory (steps run one at a time).`
    : state.trusted
      ? state.scanning
        ? 'Estimating…'
        : ''
      : 'The estimate reads the checkpoint headers: it needs a trusted workspace.';
}

function canImport(): boolean {
  return state.trusted && !state.running && !!state.settings.out.trim() && !!state.scan?.steps.some((s) => s.status === 'ready');
}

function renderActions(): void {
  if (canImport()) importBtn.removeAttribute('disabled');
  else importBtn.setAttribute('disabled', '');
  cancelBtn.hidden = !state.running;
  progressBar.hidden = !state.running && !state.result && !state.progress;
  progressBar.value = Math.round(100 * (state.progress?.fraction ?? 0));
  progressText.textContent = state.progress ? `${Math.floor(100 * state.progress.fraction)}% · ${state.progress.message}` : '';
  errorEl.textContent = state.error ?? '';
  trustNotice.hidden = state.trusted;
}

function coverageTable(rows: CoverageRow[]): HTMLElement {
  const keyed = rows.filter((r) => r.total !== undefined);
  const noted = rows.filter((r) => r.total === undefined);
  const parts: HTMLElement[] = [];
  if (keyed.length) {
    const cell = (v: number, bad = false) => h('td', bad ? { class: 'mm-bad' } : {}, String(v));
    parts.push(
      h(
        'table',
        { class: 'mm-coverage' },
        h('thead', {}, h('tr', {}, ...['file', 'keys', 'used', 'overridden', 'ignored', 'unexpected', 'coverage'].map((t) => h('th', {}, t)))),
        h(
          'tbody',
          {},
          ...keyed.map((r) => {
            const pct = r.total ? (100 * (r.total - (r.unexpected ?? 0))) / r.total : 100;
            return h(
              'tr',
              { class: 'mm-coverage-row', 'data-file': r.file },
              h('td', {}, r.file),
              cell(r.total!),
              cell(r.used ?? 0),
              cell(r.overridden ?? 0),
              cell(r.ignored ?? 0),
              cell(r.unexpected ?? 0, (r.unexpected ?? 0) > 0),
              h('td', { class: pct < 100 ? 'mm-bad mm-pct' : 'mm-pct' }, `${pct.toFixed(1)}%`),
            );
          }),
        ),
      ),
    );
  }
  if (noted.length)
    parts.push(h('table', { class: 'mm-coverage' }, h('tbody', {}, ...noted.map((r) => h('tr', { class: 'mm-note-row' }, h('td', {}, r.file), h('td', {}, r.note ?? ''))))));
  return h('div', { class: 'mm-collapsible-body' }, ...parts);
}

function renderReport(): void {
  const r = state.result;
  if (!r) {
    reportEl.replaceChildren();
    return;
  }
  const c = r.coverage;
  reportEl.replaceChildren(
    h('h2', {}, 'Key coverage report'),
    h(
      'div',
      { class: 'mm-summary', id: 'mm-coverage-summary', 'data-keys': String(c.keys), 'data-accounted': String(c.accounted), 'data-unexpected': String(c.unexpected), 'data-percent': c.percent.toFixed(1) },
      `Key coverage: ${c.accounted} / ${c.keys} keys accounted for (${c.percent.toFixed(1)}%), ${c.unexpected} unexpected — bundle in ${r.dir}`,
    ),
    ...r.steps.map((s) =>
      h(
        'vscode-collapsible',
        { heading: `${s.label} — ${s.status === 'unchanged' ? 'unchanged (same hashes), kept' : 'imported'}`, open: '', 'data-step': s.id, 'data-status': s.status },
        coverageTable(s.record.coverage),
      ),
    ),
    ...r.skipped.map((s) => h('div', { class: 'mm-hint', 'data-skipped': s.id }, `${s.label}: not imported — missing ${s.missing.join('; ')}`)),
  );
}

function renderAll(): void {
  renderFolders();
  renderSteps();
  renderActions();
  renderReport();
}

// ------------------------------------------------------------------------------------------------------------------
// Messages from the extension host

window.addEventListener('message', (ev: MessageEvent<HostMessage>) => {
  const m = ev.data;
  switch (m.type) {
    case 'init': {
      state.settings = { folders: { ...m.settings.folders }, out: m.settings.out, precision: m.settings.precision };
      state.trusted = m.trusted;
      fields.get('out')!.value = state.settings.out;
      for (const r of precisionGroup.querySelectorAll('vscode-radio')) (r as HTMLElement & { checked: boolean }).checked = r.getAttribute('value') === state.settings.precision;
      trustNotice.replaceChildren(
        'This workspace is not trusted: the folders are checked by name and size only. Reading the checkpoint headers (the estimate) and importing need a trusted workspace. ',
        Object.assign(h('vscode-button', { secondary: '' }, 'Manage Workspace Trust'), { onclick: () => post({ type: 'trust' }) }),
      );
      break;
    }
    case 'scan':
      state.scan = m.scan;
      state.scanning = m.scanning;
      break;
    case 'browsed':
      if (m.target === 'out') state.settings.out = m.path;
      else state.settings.folders[m.target] = m.path;
      fields.get(m.target)!.value = m.path;
      scheduleScan();
      break;
    case 'progress':
      state.running = true;
      state.progress = m.progress;
      break;
    case 'result':
      state.running = false;
      state.result = m.result;
      state.progress = { fraction: 1, message: `done — model bundle written to ${m.result.dir}` };
      break;
    case 'error':
      state.running = false;
      state.error = m.cancelled ? `Cancelled: ${m.message} No bundle manifest was written; steps that finished are reused next time.` : m.message;
      break;
  }
  renderAll();
});

post({ type: 'ready' });

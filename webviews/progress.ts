/** Progress renderer: a live bar with counts, percentage and ETA for long stages. */
import type { ActivationFunction } from 'vscode-notebook-renderer';
import { BASE_CSS, h, shadowMount } from './shared/dom';
import type { ProgressState } from '../src/shared/outputs';

const CSS = `${BASE_CSS}
.mp-progress { display: flex; align-items: center; gap: 8px; max-width: 640px; }
.mp-bar { flex: 1; height: 8px; background: var(--vscode-editorWidget-background, #333); border-radius: 4px; overflow: hidden; }
.mp-fill { height: 100%; background: var(--vscode-progressBar-background, #0e70c0); }
.mp-fill.failed { background: var(--vscode-errorForeground, #f48771); }
.mp-text { font-variant-numeric: tabular-nums; white-space: nowrap; }
`;

function fmt(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export const activate: ActivationFunction = () => ({
  renderOutputItem(item, element) {
    const s = item.json() as ProgressState;
    const root = shadowMount(element, CSS);
    const pct = s.total > 0 ? (100 * s.done) / s.total : 0;
    const fill = h('div', { class: `mp-fill${s.failed ? ' failed' : ''}`, style: `width:${pct.toFixed(1)}%` });
    const tail = s.failed ? `stopped: ${s.failed}` : s.finished ? `done in ${fmt(s.elapsedMs)}` : s.etaMs === null ? '' : `ETA ${fmt(s.etaMs)}`;
    root.append(
      h(
        'div',
        { class: 'mp-progress', role: 'progressbar', 'aria-valuenow': String(s.done), 'aria-valuemax': String(s.total) },
        h('span', { class: 'mp-text mp-progress-label' }, s.label),
        h('div', { class: 'mp-bar' }, fill),
        h('span', { class: 'mp-text mp-progress-count' }, `${s.done}/${s.total}${s.unit ? ' ' + s.unit : ''} · ${Math.floor(pct)}% · ${tail}`),
      ),
    );
  },
});

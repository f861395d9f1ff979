/** Plot renderer: plotly.js figures (parameter curves, per-frame metrics, comparison bars), bundled, nothing remote. */
import type { ActivationFunction } from 'vscode-notebook-renderer';
// The dist-min bundle is self-contained (no network, no MathJax).
import Plotly from 'plotly.js-dist-min';
import { BASE_CSS, errorBox, h, shadowMount } from './shared/dom';
import type { PlotPayload } from '../src/shared/outputs';

const CSS = `${BASE_CSS} .mp-plot { width: 100%; min-height: 320px; } .mp-plots { display: flex; flex-direction: column; gap: 8px; }`;

function themeLayout(layout: Partial<Plotly.Layout> = {}): Partial<Plotly.Layout> {
  const fg = getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim() || '#ccc';
  return {
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: fg, size: 11 },
    margin: { l: 50, r: 20, t: 36, b: 40 },
    height: 320,
    ...layout,
  };
}

export const activate: ActivationFunction = () => ({
  async renderOutputItem(item, element) {
    // Plotly injects global styles, so it draws into the light DOM of the output element.
    element.replaceChildren();
    const out = item.json() as PlotPayload;
    const wrap = h('div', { class: 'mp-plots' });
    if (out.title) {
      const t = h('div', { class: 'mp-title' }, out.title);
      if (out.label) t.append(h('span', { class: 'mp-label' }, out.label));
      wrap.append(t);
    }
    element.append(wrap);
    const style = document.createElement('style');
    style.textContent = CSS.replace(':host', '.mp-plots');
    element.prepend(style);
    for (const fig of out.figures) {
      const div = h('div', { class: 'mp-plot' });
      wrap.append(div);
      try {
        await Plotly.newPlot(div, fig.data as Plotly.Data[], themeLayout(fig.layout as Partial<Plotly.Layout>), { displaylogo: false, responsive: true, toImageButtonOptions: { format: 'png' } });
      } catch (e) {
        errorBox(wrap, `Plot failed: ${(e as Error).message}`);
      }
    }
    void shadowMount;
  },
});

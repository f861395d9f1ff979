/**
 * Frame scrubber renderer: several frame sequences (driving | depth | normal | render | output) side by side,
 * synchronised by one slider, with play/pause. Frames are PNG artifacts fetched on demand.
 */
import type { ActivationFunction } from 'vscode-notebook-renderer';
import { ArtifactLoader } from './shared/artifacts';
import type { FramesOutput } from '../src/shared/outputs';
import { BASE_CSS, errorBox, h, shadowMount } from './shared/dom';

const CSS = `${BASE_CSS}
.mp-frames { display: flex; flex-direction: column; gap: 6px; }
.mp-title { font-weight: 600; }
.mp-tracks { display: flex; flex-wrap: wrap; gap: 8px; }
.mp-track { display: flex; flex-direction: column; align-items: center; gap: 2px; }
.mp-track img { image-rendering: auto; max-width: 256px; max-height: 256px; background: #000; }
.mp-controls { display: flex; align-items: center; gap: 8px; }
.mp-counter { font-variant-numeric: tabular-nums; min-width: 80px; }
`;

export const activate: ActivationFunction = (ctx) => {
  const loader = new ArtifactLoader(ctx);
  const timers = new WeakMap<HTMLElement, number>();
  return {
    renderOutputItem(item, element) {
      const root = shadowMount(element, CSS);
      let data: FramesOutput;
      try {
        data = item.json() as FramesOutput;
      } catch (e) {
        return errorBox(root, `Cannot read frames output: ${(e as Error).message}`);
      }
      const count = Math.max(0, ...data.tracks.map((t) => t.frames.length));
      const imgs = data.tracks.map((t) => h('img', { alt: t.name, width: String(Math.min(256, t.width)), class: 'mp-frame' }));
      const slider = h('input', { type: 'range', min: '0', max: String(Math.max(0, count - 1)), value: '0', class: 'mp-slider' });
      const counter = h('span', { class: 'mp-counter' }, `frame 1 / ${count}`);
      const play = h('button', { class: 'mp-play' }, '▶ Play');
      const title = h('div', { class: 'mp-title' }, data.title);
      if (data.label) title.append(h('span', { class: 'mp-label' }, data.label));
      const status = h('div', { class: 'mp-status' });
      root.append(
        h(
          'div',
          { class: 'mp-frames' },
          title,
          h('div', { class: 'mp-tracks' }, ...data.tracks.map((t, i) => h('div', { class: 'mp-track' }, imgs[i]!, h('span', {}, t.name)))),
          h('div', { class: 'mp-controls' }, play, slider, counter),
          status,
        ),
      );
      let shown = -1;
      const show = async (k: number) => {
        shown = k;
        counter.textContent = `frame ${k + 1} / ${count}`;
        await Promise.all(
          data.tracks.map(async (t, i) => {
            const ref = t.frames[Math.min(k, t.frames.length - 1)];
            if (!ref) return;
            try {
              const url = await loader.url(ref);
              if (shown === k) imgs[i]!.src = url;
            } catch (e) {
              status.replaceChildren();
              errorBox(status, `${t.name}: ${(e as Error).message}`);
            }
          }),
        );
        imgs.forEach((img) => img.setAttribute('data-frame', String(k)));
      };
      slider.addEventListener('input', () => void show(Number(slider.value)));
      play.addEventListener('click', () => {
        const running = timers.get(element);
        if (running !== undefined) {
          clearInterval(running);
          timers.delete(element);
          play.textContent = '▶ Play';
          return;
        }
        play.textContent = '⏸ Pause';
        timers.set(
          element,
          window.setInterval(() => {
            const next = (Number(slider.value) + 1) % Math.max(1, count);
            slider.value = String(next);
            void show(next);
          }, 1000 / Math.max(1, data.fps)),
        );
      });
      if (count) void show(0);
    },
    disposeOutputItem(id) {
      void id;
    },
  };
};

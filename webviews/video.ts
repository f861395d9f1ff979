/**
 * Video renderer: an H.264 MP4 artifact played with the browser's <video> element (yuv420p, +faststart, no audio
 * plays in desktop VS Code and in browsers).
 */
import type { ActivationFunction } from 'vscode-notebook-renderer';
import { ArtifactLoader } from './shared/artifacts';
import type { VideoOutputData as VideoOutput } from '../src/shared/outputs';
import { BASE_CSS, errorBox, h, shadowMount } from './shared/dom';

const CSS = `${BASE_CSS}
.mp-video { display: flex; flex-direction: column; gap: 4px; }
video { max-width: 100%; max-height: 512px; background: #000; }
.mp-meta { opacity: 0.8; }
`;

export const activate: ActivationFunction = (ctx) => {
  const loader = new ArtifactLoader(ctx);
  return {
    async renderOutputItem(item, element) {
      const root = shadowMount(element, CSS);
      const v = item.json() as VideoOutput;
      const title = h('div', { class: 'mp-title' }, v.title);
      if (v.label) title.append(h('span', { class: 'mp-label' }, v.label));
      const video = h('video', { controls: '', loop: '', muted: '', playsinline: '', width: String(Math.min(v.width, 768)) });
      video.muted = true;
      root.append(h('div', { class: 'mp-video' }, title, video, h('div', { class: 'mp-meta' }, `${v.frames} frames · ${v.width}×${v.height} · ${v.fps} fps · H.264`)));
      try {
        video.src = await loader.url(v.video);
      } catch (e) {
        errorBox(root, `Cannot load the video: ${(e as Error).message}`);
      }
    },
  };
};

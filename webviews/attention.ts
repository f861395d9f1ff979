/**
 * GGE attention explorer: the guidance image (depth / normal / render) of a frame with an attention heatmap on top.
 * Maps: attention received per key cell (one head or the mean of the heads), the attention block's output norm and
 * the self-attention contribution's norm — all from artifacts. Clicking a pixel asks the kernel (renderer messaging →
 * extension → kernel IPC) for that query's attention row and shows where it attends; if the kernel that made the
 * output is gone, the stored maps keep working and a message says to re-run the cell.
 */
import type { ActivationFunction, RendererContext } from 'vscode-notebook-renderer';
import { ArtifactLoader } from './shared/artifacts';
import type { ArtifactRef } from '../src/shared/outputs';
import { BASE_CSS, errorBox, h, shadowMount } from './shared/dom';
import type { AttentionOutput, GuidanceType, RendererRowsReply as RowsReply, RendererRowsRequest } from '../src/shared/attention';

type MapKind = 'received' | 'outNorm' | 'deltaNorm' | 'row';

const CSS = `${BASE_CSS}
.mp-attn { display: flex; flex-direction: column; gap: 6px; }
.mp-title { font-weight: 600; }
.mp-attn-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.mp-attn-controls label { display: inline-flex; align-items: center; gap: 4px; }
.mp-attn-controls select { background: var(--vscode-dropdown-background, #3c3c3c); color: var(--vscode-dropdown-foreground, #ccc); border: 1px solid var(--vscode-dropdown-border, #555); }
.mp-attn-stage { position: relative; display: inline-block; line-height: 0; align-self: flex-start; }
.mp-attn-canvas { width: 384px; max-width: 100%; cursor: crosshair; image-rendering: auto; background: #000; }
.mp-attn-query { position: absolute; width: 12px; height: 12px; margin: -7px 0 0 -7px; border: 2px solid #fff; border-radius: 50%; box-shadow: 0 0 0 1px #000; pointer-events: none; }
.mp-attn-frame-row { display: flex; align-items: center; gap: 8px; max-width: 520px; }
.mp-counter { font-variant-numeric: tabular-nums; min-width: 80px; }
.mp-attn-legend { display: flex; align-items: center; gap: 6px; font-variant-numeric: tabular-nums; }
.mp-attn-bar { width: 160px; height: 10px; }
.mp-attn-status { min-height: 16px; }
.mp-attn-status.mp-error { color: var(--vscode-errorForeground, #f48771); }
.mp-attn-download { margin-left: 6px; }
`;

const MAP_NAMES: Record<MapKind, string> = {
  received: 'attention received',
  outNorm: 'block output norm',
  deltaNorm: 'attention contribution norm',
  row: 'where the query attends',
};

/** Inferno-like colour map: 0 → black/purple, 1 → yellow. */
const STOPS: [number, number, number][] = [
  [0, 0, 4],
  [40, 11, 84],
  [101, 21, 110],
  [159, 42, 99],
  [212, 72, 66],
  [245, 125, 21],
  [250, 193, 39],
  [252, 255, 164],
];
function colour(t: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

function f32(bytes: Uint8Array): Float32Array {
  const copy = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
}

function rangeOf(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Talks to the extension for attention rows (the extension relays to the kernel). */
class RowsClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: RowsReply) => void>();
  readonly available: boolean;

  constructor(private readonly ctx: RendererContext<unknown>) {
    this.available = !!(ctx.postMessage && ctx.onDidReceiveMessage);
    ctx.onDidReceiveMessage?.((msg: unknown) => {
      const m = msg as RowsReply;
      if (m?.type !== 'attention-rows') return;
      const w = this.waiting.get(m.requestId);
      if (!w) return;
      this.waiting.delete(m.requestId);
      w(m);
    });
  }

  request(rowsId: string, guidance: GuidanceType, frame: number, query: { x: number; y: number }): Promise<RowsReply> {
    const requestId = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (!this.waiting.delete(requestId)) return;
        resolve({ type: 'attention-rows', requestId, ok: false, error: 'No answer from the kernel within 60 s (is a long cell running?). Click again to retry.' });
      }, 60_000);
      this.waiting.set(requestId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.ctx.postMessage!({ type: 'attention-rows', requestId, rowsId, guidance, frame, queries: [query], space: 'input' } satisfies RendererRowsRequest);
    });
  }
}

export const activate: ActivationFunction = (ctx) => {
  let loader: ArtifactLoader | null = null;
  let loaderError = '';
  try {
    loader = new ArtifactLoader(ctx);
  } catch (e) {
    loaderError = (e as Error).message;
  }
  const rowsClient = new RowsClient(ctx);
  return {
    renderOutputItem(item, element) {
      const root = shadowMount(element, CSS);
      let data: AttentionOutput;
      try {
        data = item.json() as AttentionOutput;
        if (data?.kind !== 'magicportrait.gge-attention') throw new Error('not a GGE attention output');
      } catch (e) {
        return errorBox(root, `Cannot read the attention output: ${(e as Error).message}`);
      }
      if (!loader) return errorBox(root, loaderError);
      new Explorer(root, data, loader, rowsClient);
    },
    disposeOutputItem(id) {
      void id;
    },
  };
};

class Explorer {
  private type: GuidanceType;
  private head: number | 'mean' = 'mean';
  private map: MapKind = 'received';
  private frame = 0;
  private opacity = 0.6;
  /** The clicked query pixel (input coordinates). */
  private query: { x: number; y: number } | null = null;
  /** Rows are unavailable (kernel gone): explain once, keep the maps working. */
  private rowsStale = false;
  private drawSeq = 0;
  private readonly arrays = new Map<string, Promise<Float32Array>>();
  private readonly images = new Map<string, Promise<HTMLImageElement>>();
  private readonly rows = new Map<string, Promise<Float32Array>>();

  private readonly canvas: HTMLCanvasElement;
  private readonly marker: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private readonly mapSelect: HTMLSelectElement;
  private readonly headSelect: HTMLSelectElement;
  private readonly slider: HTMLInputElement;
  private readonly counter: HTMLSpanElement;
  private readonly legendLo: HTMLSpanElement;
  private readonly legendHi: HTMLSpanElement;
  private readonly legendNote: HTMLSpanElement;
  private readonly download: HTMLAnchorElement;

  constructor(
    root: ShadowRoot,
    private readonly d: AttentionOutput,
    private readonly loader: ArtifactLoader,
    private readonly rowsClient: RowsClient,
  ) {
    this.type = d.types[0]!;
    const hasMaps = d.tracks.some((t) => t.received.length > 0);
    if (!hasMaps) this.map = 'outNorm';

    const title = h('div', { class: 'mp-title' }, `${d.title} (${d.module})`);
    if (d.label) title.append(h('span', { class: 'mp-label mp-attn-label' }, d.label));

    const typeSelect = h('select', { class: 'mp-attn-type', title: 'Condition' }, ...d.types.map((t) => h('option', { value: t }, t)));
    this.headSelect = h(
      'select',
      { class: 'mp-attn-head', title: 'Head' },
      h('option', { value: 'mean' }, `mean of ${d.heads} heads`),
      ...Array.from({ length: d.heads }, (_, i) => h('option', { value: String(i) }, `head ${i}`)),
    );
    this.mapSelect = h('select', { class: 'mp-attn-map', title: 'Map' }, ...(['received', 'outNorm', 'deltaNorm', 'row'] as MapKind[]).map((k) => h('option', { value: k }, MAP_NAMES[k])));
    this.mapSelect.value = this.map;
    const opacity = h('input', { type: 'range', min: '0', max: '1', step: '0.05', value: String(this.opacity), class: 'mp-attn-opacity', title: 'Heatmap opacity' });
    const exportBtn = h('button', { class: 'mp-attn-export', title: 'Export the current view as PNG' }, 'Export PNG');
    const clearBtn = h('button', { class: 'mp-attn-clear', title: 'Forget the clicked query pixel' }, 'Clear query');
    this.download = h('a', { class: 'mp-attn-download', hidden: '' }, 'download');

    this.canvas = h('canvas', { class: 'mp-attn-canvas', width: String(d.input.width), height: String(d.input.height) });
    this.marker = h('div', { class: 'mp-attn-query', hidden: '' });
    const stage = h('div', { class: 'mp-attn-stage' }, this.canvas, this.marker);

    this.slider = h('input', { type: 'range', min: '0', max: String(Math.max(0, d.frames - 1)), value: '0', class: 'mp-attn-frame' });
    this.counter = h('span', { class: 'mp-counter' }, '');
    const bar = h('canvas', { class: 'mp-attn-bar', width: '160', height: '10' });
    const bctx = bar.getContext('2d');
    if (bctx) for (let x = 0; x < 160; x++) {
      const [r, g, b] = colour(x / 159);
      bctx.fillStyle = `rgb(${r | 0},${g | 0},${b | 0})`;
      bctx.fillRect(x, 0, 1, 10);
    }
    this.legendLo = h('span', { class: 'mp-attn-lo' });
    this.legendHi = h('span', { class: 'mp-attn-hi' });
    this.legendNote = h('span', { class: 'mp-attn-note' });
    this.status = h('div', { class: 'mp-attn-status' });

    root.append(
      h(
        'div',
        { class: 'mp-attn' },
        title,
        h(
          'div',
          { class: 'mp-attn-controls' },
          h('label', {}, 'condition ', typeSelect),
          h('label', {}, 'map ', this.mapSelect),
          h('label', {}, 'head ', this.headSelect),
          h('label', {}, 'opacity ', opacity),
          clearBtn,
          exportBtn,
          this.download,
        ),
        stage,
        h('div', { class: 'mp-attn-frame-row' }, this.slider, this.counter),
        h('div', { class: 'mp-attn-legend' }, this.legendLo, bar, this.legendHi, this.legendNote),
        this.status,
        h(
          'div',
          { class: 'mp-attn-help' },
          `Click the image to see where that pixel's query attends (${d.grid.width}×${d.grid.height} grid, one cell = ${d.stride}×${d.stride} pixels).`,
        ),
      ),
    );
    if (!this.rowsClient.available) this.setRowsStale('Click-to-explore needs renderer messaging (open the notebook in VS Code with the MagicPortrait extension); the stored maps still show.');

    typeSelect.addEventListener('change', () => {
      this.type = typeSelect.value as GuidanceType;
      void this.draw();
    });
    this.headSelect.addEventListener('change', () => {
      this.head = this.headSelect.value === 'mean' ? 'mean' : Number(this.headSelect.value);
      void this.draw();
    });
    this.mapSelect.addEventListener('change', () => {
      this.map = this.mapSelect.value as MapKind;
      void this.draw();
    });
    opacity.addEventListener('input', () => {
      this.opacity = Number(opacity.value);
      void this.draw();
    });
    this.slider.addEventListener('input', () => {
      this.frame = Number(this.slider.value);
      void this.draw();
    });
    clearBtn.addEventListener('click', () => {
      this.query = null;
      if (this.map === 'row') this.map = hasMaps ? 'received' : 'outNorm';
      this.mapSelect.value = this.map;
      void this.draw();
    });
    this.canvas.addEventListener('click', (ev) => {
      const r = this.canvas.getBoundingClientRect();
      const x = Math.floor(((ev.clientX - r.left) / Math.max(1, r.width)) * d.input.width);
      const y = Math.floor(((ev.clientY - r.top) / Math.max(1, r.height)) * d.input.height);
      this.query = { x: Math.max(0, Math.min(d.input.width - 1, x)), y: Math.max(0, Math.min(d.input.height - 1, y)) };
      this.map = 'row';
      this.mapSelect.value = 'row';
      void this.draw();
    });
    exportBtn.addEventListener('click', () => this.exportPng());
    void this.draw();
  }

  private track() {
    return this.d.tracks.find((t) => t.type === this.type)!;
  }

  private array(kind: 'received' | 'outNorm' | 'deltaNorm', frame: number): Promise<Float32Array> | null {
    const ref = this.track()[kind][frame];
    if (!ref) return null;
    let p = this.arrays.get(ref.hash);
    if (!p) {
      p = this.loader.bytes(ref).then(f32);
      this.arrays.set(ref.hash, p);
      p.catch(() => this.arrays.delete(ref.hash));
    }
    return p;
  }

  private image(frame: number): Promise<HTMLImageElement> | null {
    const ref = this.track().images[frame];
    if (!ref) return null;
    let p = this.images.get(ref.hash);
    if (!p) {
      p = this.loader.url(ref).then(async (url) => {
        const img = new Image();
        img.src = url;
        await img.decode();
        return img;
      });
      this.images.set(ref.hash, p);
      p.catch(() => this.images.delete(ref.hash));
    }
    return p;
  }

  /** heads·cells row of the current query (cached per type, frame and grid cell). */
  private row(frame: number): Promise<Float32Array> {
    const q = this.query!;
    const gx = Math.floor((q.x * this.d.grid.width) / this.d.input.width);
    const gy = Math.floor((q.y * this.d.grid.height) / this.d.input.height);
    const key = `${this.type}:${frame}:${gx}:${gy}`;
    let p = this.rows.get(key);
    if (!p) {
      p = this.rowsClient.request(this.d.rows.id, this.type, frame, q).then((r) => {
        if (!r.ok) {
          const text = r.stale ? `${r.error} The stored maps (attention received, norms) still work.` : r.error;
          if (r.stale) this.setRowsStale(text);
          throw new Error(text);
        }
        return f32(Uint8Array.from(atob(r.base64), (c) => c.charCodeAt(0)));
      });
      this.rows.set(key, p);
      p.catch(() => this.rows.delete(key));
    }
    return p;
  }

  private setRowsStale(message: string): void {
    this.rowsStale = true;
    this.canvas.setAttribute('data-rows', 'unavailable');
    this.showStatus(message, true);
  }

  private showStatus(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('mp-error', error);
  }

  /** The values to draw (cells) and the colour range with a note about it. */
  private async values(): Promise<{ v: Float32Array; range: [number, number]; note: string } | { error: string }> {
    const cells = this.d.grid.width * this.d.grid.height;
    const H = this.d.heads;
    const t = this.track();
    const pick = (all: Float32Array): Float32Array => {
      if (all.length === cells) return all;
      if (this.head !== 'mean') return all.subarray(this.head * cells, (this.head + 1) * cells);
      const m = new Float32Array(cells);
      for (let hh = 0; hh < H; hh++) for (let i = 0; i < cells; i++) m[i]! += all[hh * cells + i]! / H;
      return m;
    };
    if (this.map === 'row') {
      if (!this.query) return { error: 'Click a pixel to see where its query attends.' };
      if (this.rowsStale && !this.rowsClient.available) return { error: this.status.textContent ?? '' };
      const v = pick(await this.row(this.frame));
      return { v, range: rangeOf(v), note: `scale: this row (${this.head === 'mean' ? 'mean of heads' : `head ${this.head}`})` };
    }
    const p = this.array(this.map, this.frame);
    if (!p) return { error: `No ${MAP_NAMES[this.map]} maps in this output (the run skipped the attention products); click a pixel for rows.` };
    const v = pick(await p);
    if (this.map === 'received') {
      if (this.head === 'mean') return { v, range: rangeOf(v), note: 'scale: this frame' };
      return { v, range: t.ranges.received[this.head] ?? rangeOf(v), note: 'scale: all frames' };
    }
    return { v, range: t.ranges[this.map], note: 'scale: all frames' };
  }

  private async draw(): Promise<void> {
    const seq = ++this.drawSeq;
    const d = this.d;
    this.counter.textContent = `frame ${this.frame + 1} / ${d.frames}`;
    this.headSelect.disabled = this.map === 'outNorm' || this.map === 'deltaNorm';
    if (this.query) {
      // in % of the stage (which wraps the canvas), so the marker stays put when the output is resized
      this.marker.style.left = `${((this.query.x + 0.5) / d.input.width) * 100}%`;
      this.marker.style.top = `${((this.query.y + 0.5) / d.input.height) * 100}%`;
      this.marker.hidden = false;
      this.canvas.setAttribute('data-query', `${this.query.x},${this.query.y}`);
    } else {
      this.marker.hidden = true;
      this.canvas.removeAttribute('data-query');
    }
    if (this.map === 'row' && this.query && !this.rowsStale) this.showStatus('Fetching the attention row…');
    let underlay: HTMLImageElement | null = null;
    let vals: Awaited<ReturnType<Explorer['values']>>;
    try {
      [underlay, vals] = await Promise.all([this.image(this.frame) ?? Promise.resolve(null), this.values()]);
    } catch (e) {
      vals = { error: (e as Error).message };
    }
    if (seq !== this.drawSeq) return; // a newer draw superseded this one
    const g = this.canvas.getContext('2d');
    if (!g) return;
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (underlay) g.drawImage(underlay, 0, 0, this.canvas.width, this.canvas.height);
    this.canvas.setAttribute('data-frame', String(this.frame));
    this.canvas.setAttribute('data-type', this.type);
    this.canvas.setAttribute('data-map', this.map);
    this.canvas.setAttribute('data-head', String(this.head));
    if ('error' in vals) {
      this.canvas.removeAttribute('data-peak');
      this.legendLo.textContent = this.legendHi.textContent = this.legendNote.textContent = '';
      if (vals.error) this.showStatus(vals.error, this.map !== 'row' || !!this.query);
      return;
    }
    const { v, range, note } = vals;
    const [lo, hi] = range;
    const span = hi > lo ? hi - lo : 1;
    const gw = d.grid.width;
    const gh = d.grid.height;
    const heat = document.createElement('canvas');
    heat.width = gw;
    heat.height = gh;
    const hctx = heat.getContext('2d')!;
    const img = hctx.createImageData(gw, gh);
    let peak = 0;
    for (let i = 0; i < gw * gh; i++) {
      const t = (v[i]! - lo) / span;
      if (v[i]! > v[peak]!) peak = i;
      const [r, gg, b] = colour(t);
      img.data[4 * i] = r;
      img.data[4 * i + 1] = gg;
      img.data[4 * i + 2] = b;
      img.data[4 * i + 3] = 255;
    }
    hctx.putImageData(img, 0, 0);
    g.save();
    g.globalAlpha = underlay ? this.opacity : 1;
    g.imageSmoothingEnabled = true;
    g.drawImage(heat, 0, 0, this.canvas.width, this.canvas.height);
    g.restore();
    if (this.query) {
      g.save();
      g.strokeStyle = '#fff';
      g.lineWidth = Math.max(1, this.canvas.width / 256);
      const s = d.stride;
      g.strokeRect(Math.floor(this.query.x / s) * s, Math.floor(this.query.y / s) * s, s, s);
      g.restore();
    }
    this.canvas.setAttribute('data-peak', `${peak % gw},${Math.floor(peak / gw)}`);
    this.legendLo.textContent = fmt(lo);
    this.legendHi.textContent = fmt(hi);
    this.legendNote.textContent = `${MAP_NAMES[this.map]} — ${note}`;
    if (!this.rowsStale) this.showStatus(this.map === 'row' && this.query ? `Query pixel (${this.query.x}, ${this.query.y}) → grid cell (${Math.floor(this.query.x / d.stride)}, ${Math.floor(this.query.y / d.stride)}); peak at cell (${peak % gw}, ${Math.floor(peak / gw)}).` : '');
  }

  private exportPng(): void {
    const name = `attention-${this.type}-frame${this.frame + 1}-${this.map}${this.map === 'deltaNorm' || this.map === 'outNorm' ? '' : `-${this.head === 'mean' ? 'mean' : `head${this.head}`}`}.png`;
    this.canvas.toBlob((blob) => {
      if (!blob) return this.showStatus('Could not export the canvas as PNG.', true);
      const old = this.download.href;
      if (old) URL.revokeObjectURL(old);
      this.download.href = URL.createObjectURL(blob);
      this.download.download = name;
      this.download.textContent = `download ${name}`;
      this.download.hidden = false;
      this.download.click();
    }, 'image/png');
  }
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? x.toExponential(2) : x.toPrecision(3);
}

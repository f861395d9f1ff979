/**
 * Training data as notebook stages (`mp.data`): synthetic and real datasets with a live progress bar (counts, ETA,
 * the clip and phase in progress) and Interrupt (stops after the current frame; the next run continues), and a
 * dataset browser: the frame scrubber over image | depth | normal | render | FLAME overlay, the per-clip quality
 * plot, and the report. The work itself is in src/kernel/data/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentRun, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay } from '../runtime/frames';
import { type AnyImage } from '../io/image';
import { MIME, type MimeBundle } from '../../shared/outputs';
import { MagicPortraitError } from '../errors';
import { generateSynthetic, type SynthOptions, type SynthSummary } from '../data/synth/generate';
import { prepareData, NME_DROP, type PrepareOptions, type PrepareSummary } from '../data/prepare';
import { mergeData } from '../data/merge';
import { crossReenactment, rerenderClip, loadClip } from '../data/api';
import { listCompleteClips, SYNTHETIC_LABEL, type ClipMeta, type DatasetJson } from '../data/layout';
import { readPng } from '../io/png';
import { readFlameNpz } from '../data/flame-npz';
import type { DataReport } from '../data/report';
import { resolvePath } from './face';

/** A dataset folder: its clips, the browser, the quality plot and the report (display it for a summary). */
export class DatasetView implements Displayable {
  constructor(readonly dir: string, readonly run?: SynthSummary | PrepareSummary) {}

  get dataset(): DatasetJson | null {
    const p = join(this.dir, 'dataset.json');
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as DatasetJson) : null;
  }

  get report(): DataReport | null {
    const p = join(this.dir, 'report.json');
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as DataReport) : null;
  }

  /** The complete clips (split, id, folder, meta.json). */
  get clips(): { split: string; clip: string; dir: string; meta: ClipMeta }[] {
    return listCompleteClips(this.dir);
  }

  private find(clip?: string) {
    const all = this.clips;
    const c = clip ? all.find((x) => x.clip === clip) : all[0];
    if (!c) throw new MagicPortraitError(clip ? `No complete clip '${clip}' in ${this.dir} (clips: ${all.map((x) => x.clip).join(', ') || 'none'})` : `${this.dir} has no complete clip`, 'bad-argument');
    return c;
  }

  /**
   * The frame scrubber over one clip: image | depth | normal | render | FLAME overlay (the render blended over the
   * image inside the face mask, the mask outline, and for real clips the detected 68 landmarks). At most `maxFrames`
   * frames (default 48), evenly spaced; read from disk one at a time.
   */
  browse(clip?: string, options: { maxFrames?: number } = {}): Displayable {
    const c = this.find(clip);
    const m = c.meta;
    const n = m.frames.length, max = Math.max(1, options.maxFrames ?? 48);
    const picks = n <= max ? m.frames.map((_, i) => i) : Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1)));
    const read = (kind: string, i: number): AnyImage => {
      const px = readPng(join(c.dir, kind, m.frames[i]!));
      return { width: px.width, height: px.height, channels: px.channels, data: px.data };
    };
    const seq = (kind: string) => ({ [Symbol.asyncIterator]: async function* () { for (const i of picks) yield read(kind, i); } });
    const dir = c.dir;
    const overlay = {
      [Symbol.asyncIterator]: async function* () {
        const p = await readFlameNpz(join(dir, 'flame.npz'));
        for (const i of picks) yield overlayFrame(read('images', i), m.maps.includes('render') ? read('render', i) : null, m.maps.includes('mask') ? read('mask', i) : null, p.landmarks?.subarray(136 * i, 136 * (i + 1)) ?? null);
      },
    };
    const kinds = (['depth', 'normal', 'render'] as const).filter((k) => m.maps.includes(k));
    const tracks = [{ name: 'image', frames: seq('images') }, ...kinds.map((k) => ({ name: k, frames: seq(k) })), { name: 'FLAME overlay', frames: overlay }];
    const q = m.quality ? `, NME mean ${(100 * m.quality.mean).toFixed(2)} %` : '';
    return new FrameSequenceDisplay(tracks, {
      title: `${m.split}/${m.clip}: ${n} frames${m.dropped.length ? ` (${m.dropped.length} dropped)` : ''} at ${m.size}²${q}${n > max ? ` — ${max} shown` : ''}`,
      fps: m.fps,
      label: m.synthetic ? SYNTHETIC_LABEL : m.model.kind === 'demo-head' ? 'real video; parameters of the demo head (not FLAME)' : undefined,
    });
  }

  /** Plotly: per-clip tracking quality (NME per kept frame, the drop threshold) and head yaw, from report.json. */
  qualityPlot(): Displayable {
    const rep = this.report;
    if (!rep) throw new MagicPortraitError(`${this.dir} has no report.json yet (run prepare / synth to the end, or data-merge)`, 'bad-argument');
    const clips = rep.clips.filter((r) => r.frameIndex.length);
    const real = clips.filter((r) => !r.synthetic);
    const figures: { data: Record<string, unknown>[]; layout: Record<string, unknown> }[] = [];
    if (real.length) {
      const xs = real.flatMap((r) => r.frameIndex);
      figures.push({
        data: [
          ...real.map((r) => ({ type: 'scatter', mode: 'lines', name: r.clip, x: r.frameIndex, y: r.quality.map((v) => (v === null ? null : 100 * v)) })),
          { type: 'scatter', mode: 'lines', name: `drop threshold ${100 * NME_DROP} %`, x: [Math.min(...xs), Math.max(...xs)], y: [100 * NME_DROP, 100 * NME_DROP], line: { dash: 'dash', color: '#c00' } },
        ],
        layout: { title: { text: 'Tracking quality per kept frame' }, xaxis: { title: { text: 'frame' } }, yaxis: { title: { text: '68-landmark NME (% of the outer-eye-corner distance)' } } },
      });
    }
    figures.push({
      data: clips.slice(0, 40).map((r) => ({ type: 'scatter', mode: 'lines', name: r.clip, x: r.frameIndex, y: r.yaw })),
      layout: { title: { text: 'Head yaw per kept frame' }, xaxis: { title: { text: 'frame' } }, yaxis: { title: { text: 'degrees' } } },
    });
    const c = rep.counts;
    const title = `${c.complete} complete, ${c.skipped} skipped, ${c.failed} failed clip(s); ${c.framesKept} of ${c.framesRead} frames kept`;
    return { [DISPLAY]: (): MimeBundle => ({ [MIME.plot]: { title, ...(rep.kind === 'synthetic' ? { label: SYNTHETIC_LABEL } : {}), figures }, 'text/plain': title }) };
  }

  /** The report as a table (markdown) with the reasons and every clip's status. */
  summary(): string {
    const rep = this.report, ds = this.dataset;
    if (!rep || !ds) return `${this.dir}: no dataset.json yet`;
    const c = rep.counts;
    const lines = [
      `**${this.dir}** — ${ds.label}`,
      '',
      `| clips | complete | skipped | failed | frames read | kept | dropped |`, `|---|---|---|---|---|---|---|`,
      `| ${c.clips} | ${c.complete} | ${c.skipped} | ${c.failed} | ${c.framesRead} | ${c.framesKept} | ${c.framesDropped} |`,
      '',
      `Splits: ${Object.entries(ds.splits).map(([k, v]) => `${k} ${v.length}`).join(', ')}; dropped by reason: ${Object.entries(rep.reasons).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
      '',
      '| split | clip | source | status | kept / read | note |', '|---|---|---|---|---|---|',
      ...rep.clips.map((r) => `| ${r.split} | ${r.clip} | ${r.source} | ${r.status} | ${r.kept} / ${r.read} | ${(r.reason ?? '').replace(/\|/g, '\\|').slice(0, 160)} |`),
    ];
    return lines.join('\n');
  }

  [DISPLAY](_ctx: DisplayContext): MimeBundle {
    const s = this.summary();
    return { 'text/markdown': s, 'text/plain': s.replace(/\*\*/g, '') };
  }
}

/** image ⊕ render inside the mask, the mask outline in yellow, detected landmarks in red. */
function overlayFrame(image: AnyImage, render: AnyImage | null, mask: AnyImage | null, landmarks: Float32Array | null): AnyImage {
  const W = image.width, H = image.height, out = Uint8Array.from(image.data);
  if (render && mask) {
    for (let i = 0; i < W * H; i++) {
      if (!mask.data[i]) continue;
      for (let c = 0; c < 3; c++) out[3 * i + c] = (image.data[3 * i + c]! + render.data[3 * i + c]!) >> 1;
      const x = i % W, y = (i / W) | 0;
      const edge = x === 0 || y === 0 || x === W - 1 || y === H - 1 || !mask.data[i - 1] || !mask.data[i + 1] || !mask.data[i - W] || !mask.data[i + W];
      if (edge) out.set([255, 220, 0], 3 * i);
    }
  }
  if (landmarks) {
    const r = Math.max(1, Math.round(W / 256));
    for (let k = 0; k < 68; k++) {
      const cx = Math.round(landmarks[2 * k]!), cy = Math.round(landmarks[2 * k + 1]!);
      for (let y = cy - r; y <= cy + r; y++) for (let x = cx - r; x <= cx + r; x++) if (x >= 0 && y >= 0 && x < W && y < H) out.set([230, 30, 30], 3 * (y * W + x));
    }
  }
  return { width: W, height: H, channels: 3, data: out };
}

/** `mp.data.synth({ out, identities, clips, frames, size, seed })`: a synthetic demo-head dataset, with progress. */
export async function synthStage(options: Omit<SynthOptions, 'signal' | 'onProgress'>): Promise<DatasetView> {
  const out = resolvePath(options.out);
  const total = options.identities * options.clips * options.frames;
  const progress = newProgress('Synthetic frames', Math.max(1, total), 'frames');
  try {
    const s = await generateSynthetic({ ...options, out, signal: currentRun().signal, onProgress: (d) => progress.update(d) });
    progress.finish();
    return new DatasetView(out, s);
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  }
}

/** `mp.data.prepare({ videos, out, maxFrames, workers, shard, encoder })`: real clips, with progress. */
export async function prepareStage(options: Omit<PrepareOptions, 'signal' | 'onProgress'>): Promise<DatasetView> {
  const out = resolvePath(options.out);
  let progress: ReturnType<typeof newProgress> | null = null;
  try {
    const s = await prepareData({
      ...options, videos: resolvePath(options.videos), out, ...(options.encoderDir ? { encoderDir: resolvePath(options.encoderDir) } : {}),
      ...(options.flameDir ? { flameDir: resolvePath(options.flameDir) } : {}),
      signal: currentRun().signal,
      onProgress: (p) => {
        progress ??= newProgress('Preparing clips', Math.max(1, p.total), 'frame steps');
        progress.setDetail(`clip ${p.clipIndex + 1}/${p.clips} ${p.clip}: ${p.phase}`);
        progress.update(p.done);
      },
    });
    (progress as ReturnType<typeof newProgress> | null)?.finish();
    return new DatasetView(out, s);
  } catch (e) {
    (progress as ReturnType<typeof newProgress> | null)?.finish((e as Error).message);
    throw e;
  }
}

export const dataStages = {
  /** A synthetic demo-head dataset in the training layout (labelled synthetic); returns the dataset view. */
  synth: synthStage,
  /** Real videos / frame folders in the training layout; returns the dataset view. */
  prepare: prepareStage,
  /** Opens a dataset folder (browse, qualityPlot, summary). */
  open: (dir: string) => new DatasetView(resolvePath(dir)),
  /** Combines prepare-data shards (moved from `shardDirs`, or already in `out`) and writes the report + dataset.json. */
  merge: (out: string, shardDirs: string[] = []) => {
    mergeData(resolvePath(out), shardDirs.map(resolvePath));
    return new DatasetView(resolvePath(out));
  },
  /** Re-renders a clip from its flame.npz, frame by frame (async generator of { name, maps, photo? }). */
  rerender: (clipDir: string, options?: Parameters<typeof rerenderClip>[1]) => rerenderClip(resolvePath(clipDir), options),
  /** Ground truth of identity A (reference clip) driven by clip B's motion (async generator). */
  crossReenactment: (o: Parameters<typeof crossReenactment>[0]) => crossReenactment({ ...o, reference: resolvePath(o.reference), driving: resolvePath(o.driving) }),
  /** meta.json + flame.npz of a complete clip. */
  loadClip: (clipDir: string) => loadClip(resolvePath(clipDir)),
};

// Notebook displays of the fit area: the fit overlay (frames display: input and overlay), the tracked parameter curves
// (plotly via MIME.plot, raw vs smoothed), and the aligned sequence in the frame scrubber beside the driving frames.

import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay } from '../runtime/frames';
import { type AnyImage } from '../io/image';
import { MIME, type MimeBundle } from '../../shared/outputs';
import type { Image } from '../io/image';
import { readFrames } from '../io/video';
import type { FlameModelData } from '../flame/types';
import { createDemoHead } from '../flame/demo-head';
import { buildFitRig } from '../fit/fit-rig';
import type { FlameFit } from '../fit/types';
import { trackDifference, type TrackDifference } from '../fit/compare';
import { headAngles } from '../fit/frame-targets';
import { trackLandmarks } from '../fit/track-smoothing';
import { type FlameTrack, type AlignedSequence } from '../fit/types';
import { alignedFrame } from '../fit/align';
import { drawFitOverlay } from '../fit/overlay';
import { copyRgb } from '../io/draw';

const labelOf = (kind: string) => (kind === 'demo-head' ? 'demo head — not FLAME' : undefined);

/** Fit overlay: the input image and the overlay (wireframe, fitted vs detected landmarks, residual lines). */
export function fitOverlayView(fit: FlameFit, image?: Image): Displayable {
  const title = `FLAME fit (${fit.modelName}): NME ${(fit.nme * 100).toFixed(2)}% (inner ${(fit.nmeInner * 100).toFixed(2)}%), ` +
    `${fit.quality}${fit.flags.length ? ` [${fit.flags.join(', ')}]` : ''}; yaw ${fit.angles.yaw.toFixed(1)}°, pitch ${fit.angles.pitch.toFixed(1)}°, roll ${fit.angles.roll.toFixed(1)}°`;
  const tracks = [];
  if (image) tracks.push({ name: 'input', frames: [image as AnyImage] });
  if (fit.overlay) tracks.push({ name: 'fit overlay', frames: [fit.overlay as AnyImage] });
  return new FrameSequenceDisplay(tracks, { title, fps: 1, label: labelOf(fit.modelKind) });
}

/** Plotly figures of a track: head rotation, jaw and leading expressions, camera, per-frame NME; raw vs smoothed. */
export class TrackPlot implements Displayable {
  constructor(readonly track: FlameTrack, readonly options: { expressions?: number; model?: FlameModelData } = {}) {}

  figures(): { title: string; label?: string; figures: { data: object[]; layout: object }[] } {
    const t = this.track, F = t.numFrames, J = t.numJoints, nE = t.numExpression;
    const x = t.frames.map((f) => f.index / t.fps);
    const deg = 180 / Math.PI;
    const lost = t.frames.map((f) => f.status !== 'tracked');
    const pair = (name: string, raw: number[], sm: number[], color: string) => [
      { type: 'scatter', mode: 'lines', name: `${name} (raw)`, x, y: raw, line: { color, width: 1 }, opacity: 0.45, legendgroup: name },
      { type: 'scatter', mode: 'lines', name, x, y: sm, line: { color, width: 2 }, legendgroup: name },
    ];
    const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7'];
    const angles = (s: Float64Array) => Array.from({ length: F }, (_, i) => headAngles(s.subarray(i * 3 * J, i * 3 * J + 3)));
    const ar = angles(t.raw.pose), as = angles(t.smoothed.pose);
    const fig1 = [
      ...pair('pitch', ar.map((a) => a.pitch), as.map((a) => a.pitch), colors[0]),
      ...pair('yaw', ar.map((a) => a.yaw), as.map((a) => a.yaw), colors[1]),
      ...pair('roll', ar.map((a) => a.roll), as.map((a) => a.roll), colors[2]),
    ];
    const model = this.options.model;
    const exprNames = Array.from({ length: nE }, (_, k) => Object.entries(model?.expressionNames ?? {}).find(([, v]) => v === k)?.[0] ?? `ψ${k + 1}`);
    const K = Math.min(this.options.expressions ?? 6, nE);
    const fig2: object[] = J > 2 ? pair('jaw opening (°)', Array.from({ length: F }, (_, i) => t.raw.pose[i * 3 * J + 6] * deg), Array.from({ length: F }, (_, i) => t.smoothed.pose[i * 3 * J + 6] * deg), colors[3]) : [];
    for (let k = 0; k < K; k++) {
      fig2.push(...pair(exprNames[k].replace(/_/g, ' '), Array.from({ length: F }, (_, i) => t.raw.expression[i * nE + k]), Array.from({ length: F }, (_, i) => t.smoothed.expression[i * nE + k]), colors[(k + 4) % colors.length]));
    }
    const fig3 = [
      ...pair('scale s', Array.from({ length: F }, (_, i) => t.raw.cam[3 * i]), Array.from({ length: F }, (_, i) => t.smoothed.cam[3 * i]), colors[0]),
      ...pair('tx ×100', Array.from({ length: F }, (_, i) => 100 * t.raw.cam[3 * i + 1]), Array.from({ length: F }, (_, i) => 100 * t.smoothed.cam[3 * i + 1]), colors[1]),
      ...pair('ty ×100', Array.from({ length: F }, (_, i) => 100 * t.raw.cam[3 * i + 2]), Array.from({ length: F }, (_, i) => 100 * t.smoothed.cam[3 * i + 2]), colors[2]),
    ];
    const fig4 = [
      { type: 'scatter', mode: 'lines', name: 'NME raw (%)', x, y: t.frames.map((f) => (Number.isFinite(f.nme) ? 100 * f.nme : null)), line: { color: colors[4], width: 1 } },
      { type: 'scatter', mode: 'lines', name: 'NME smoothed (%)', x, y: t.frames.map((f) => (Number.isFinite(f.nmeSmoothed) ? 100 * f.nmeSmoothed : null)), line: { color: colors[5], width: 2 } },
      { type: 'scatter', mode: 'markers', name: 'lost (interpolated)', x: x.filter((_, i) => lost[i]), y: x.filter((_, i) => lost[i]).map(() => 0), marker: { color: '#e15759', symbol: 'x' } },
    ];
    const j = t.jitter;
    const red = (n: string) => j.groups.find((g) => g.name === n);
    const jitterText = ['pose (global + jaw)', 'expression', 'camera'].map((n) => `${n} −${Math.round(100 * (red(n)?.reduction ?? 0))}%`).join(', ');
    const layout = (title: string, y: string) => ({ title: { text: title }, xaxis: { title: { text: 'time (s)' } }, yaxis: { title: { text: y } }, legend: { orientation: 'h' } });
    return {
      title: `Tracked parameters (${t.numFrames} frames, ${t.fps} fps): raw vs smoothed (${t.smoothing.method}); jitter ${jitterText}; NME ${(100 * j.nmeRaw).toFixed(2)}% → ${(100 * j.nmeSmoothed).toFixed(2)}%`,
      label: labelOf(t.modelKind),
      figures: [
        { data: fig1, layout: layout('Head rotation', 'degrees') },
        { data: fig2, layout: layout('Jaw and expressions', 'degrees / coefficient') },
        { data: fig3, layout: layout('Camera (DECA s, tx, ty)', 'value') },
        { data: fig4, layout: layout('68-landmark NME per frame', '% of inter-ocular distance') },
      ],
    };
  }

  [DISPLAY](_ctx: DisplayContext): MimeBundle {
    const f = this.figures();
    return { [MIME.plot]: f, 'text/plain': f.title };
  }
}

export function trackPlot(track: FlameTrack, options: { expressions?: number; model?: FlameModelData } = {}): TrackPlot {
  return new TrackPlot(track, options);
}

export interface AlignedViewOptions {
  /** The reference image the aligned frames are placed in (default: a black canvas of the sequence's size). */
  reference?: Image;
  /** The driving track, to draw its fits over the driving frames. */
  track?: FlameTrack;
  model?: FlameModelData;
  /** At most this many frames (evenly spaced; default all). */
  maxFrames?: number;
  title?: string;
}

/**
 * The aligned sequence in the frame scrubber: the driving frames (re-read from the video, with the track's fit) beside
 * the aligned model placed in the reference image (wireframe and landmarks; the rasterised guidance comes with the
 * renderer).
 */
export function alignedView(seq: AlignedSequence, options: AlignedViewOptions = {}): Displayable {
  const model = options.model ?? createDemoHead();
  const F = seq.numFrames;
  const n = Math.min(F, options.maxFrames ?? F);
  const pick = Array.from({ length: n }, (_, i) => Math.min(F - 1, Math.round((i * (F - 1)) / Math.max(1, n - 1))));
  const refRig = buildFitRig(model, { numShape: seq.shape.length, numExpression: seq.numExpression, fixedShape: seq.shape });
  async function* aligned(): AsyncGenerator<AnyImage> {
    for (const i of pick) {
      const p = alignedFrame(seq, i);
      const lm = trackLandmarks(refRig, { expression: p.expression, pose: p.pose, cam: p.cam }, p.tform);
      yield drawFitOverlay(options.reference ?? null, model, { ...p, landmarks: lm, detected: null }, { width: seq.width, height: seq.height }) as AnyImage;
    }
  }
  const tracks: { name: string; frames: AsyncIterable<AnyImage> }[] = [];
  const track = options.track;
  if (seq.drivingSource) {
    const wanted = new Map<number, number[]>();
    pick.forEach((i, k) => { const fi = seq.drivingFrames[i]; wanted.set(fi, [...(wanted.get(fi) ?? []), k]); });
    const drvRig = track ? buildFitRig(model, { numShape: track.shape.length, numExpression: track.numExpression, fixedShape: track.shape }) : null;
    const pos = track ? new Map(track.frames.map((f, t) => [f.index, t])) : null;
    const src = seq.drivingSource;
    async function* driving(): AsyncGenerator<AnyImage> {
      for await (const fr of readFrames(src)) {
        const ks = wanted.get(fr.index);
        if (!ks) continue;
        let img: Image = fr.image;
        if (track && drvRig && pos) {
          const t = pos.get(fr.index);
          if (t !== undefined) {
            const J = track.numJoints, nE = track.numExpression, s = track.smoothed;
            const st = { expression: s.expression.subarray(t * nE, (t + 1) * nE), pose: s.pose.subarray(t * 3 * J, (t + 1) * 3 * J), cam: s.cam.subarray(3 * t, 3 * t + 3) };
            const tf = s.tform.subarray(9 * t, 9 * t + 9);
            const lm = trackLandmarks(drvRig, st, tf);
            img = drawFitOverlay(fr.image, model, { shape: track.shape, ...st, tform: tf, landmarks: lm, detected: Float64Array.from(track.detected.subarray(136 * t, 136 * (t + 1))) });
          }
        }
        for (const _ of ks) yield (img === fr.image ? copyRgb(img) : img) as AnyImage;
      }
    }
    tracks.push({ name: 'driving', frames: driving() });
  }
  tracks.push({ name: 'aligned', frames: aligned() });
  return new FrameSequenceDisplay(tracks, {
    title: options.title ?? `Aligned sequence: ${F} frames, ${seq.variant}`, fps: seq.fps, label: labelOf(seq.modelKind),
  });
}

/** The display: difference curves and both head-angle series. */
export class TrackComparison implements Displayable {
  readonly difference: TrackDifference;
  constructor(readonly studio: FlameTrack, readonly reference: FlameTrack, readonly labels: [string, string] = ['studio', 'reference']) {
    this.difference = trackDifference(studio, reference);
  }

  [DISPLAY](_ctx: DisplayContext): MimeBundle {
    const d = this.difference;
    const [a, b] = this.labels;
    const layout = (title: string, y: string) => ({ title: { text: title }, xaxis: { title: { text: 'time (s)' } }, yaxis: { title: { text: y } }, legend: { orientation: 'h' } });
    const line = (name: string, y: (number | null)[], color: string, dash?: string) => ({ type: 'scatter', mode: 'lines', name, x: d.time, y, line: { color, width: 2, ...(dash ? { dash } : {}) } });
    const angles = (t: FlameTrack, series: 'raw' | 'smoothed') => t.frames.map((_, i) => headAngles(t[series].pose.subarray(i * 3 * t.numJoints, i * 3 * t.numJoints + 3)));
    const sa = angles(this.studio, 'smoothed'), ra = angles(this.reference, 'raw');
    const ta = this.studio.frames.map((f) => f.index / this.studio.fps), tr = this.reference.frames.map((f) => f.index / this.reference.fps);
    const colors = ['#4e79a7', '#f28e2b', '#e15759'];
    const angleTraces = (['yaw', 'pitch', 'roll'] as const).flatMap((k, i) => [
      { type: 'scatter', mode: 'lines', name: `${k} (${a})`, x: ta, y: sa.map((v) => v[k]), line: { color: colors[i], width: 2 } },
      { type: 'scatter', mode: 'lines', name: `${k} (${b})`, x: tr, y: ra.map((v) => v[k]), line: { color: colors[i], width: 1, dash: 'dot' } },
    ]);
    const s = d.summary;
    const title = `${a} vs ${b} estimator, ${d.time.length} frames: head rotation differs by ${s.rotationDeg.toFixed(2)}° on average, jaw by ${s.jawDeg.toFixed(2)}°` +
      (s.expression === null ? ` (expressions not comparable: ${this.studio.modelName} vs ${this.reference.modelName})` : `, expression by ‖Δψ‖ ${s.expression.toFixed(3)}`);
    const figures = [
      { data: [line('head rotation Δ (°)', d.rotationDeg, colors[0]), line('jaw Δ (°)', d.jawDeg.map((v) => (Number.isFinite(v) ? v : null)), colors[1])], layout: layout('Per-frame rotation differences', 'degrees') },
      ...(d.expression ? [{ data: [line('‖Δ expression‖', d.expression, colors[2])], layout: layout('Per-frame expression difference', 'L2 of coefficients') }] : []),
      { data: angleTraces, layout: layout(`Head angles: ${a} (solid) vs ${b} (dotted)`, 'degrees') },
    ];
    return { [MIME.plot]: { title, figures }, 'text/plain': title };
  }
}

/** Per-frame rotation / jaw / expression differences of a studio track against a 'reference' one, as a display. */
export function compareTracks(studio: FlameTrack, reference: FlameTrack, labels?: [string, string]): TrackComparison {
  return new TrackComparison(studio, reference, labels);
}

/**
 * `mp.metrics` as a notebook stage: the pure evaluation (metrics/evaluate.ts) with the cell's progress bar and
 * interrupt, file paths resolved against the notebook, network weights loaded from paths, and the result as a
 * display (per-frame curves, summary table, bars beside the paper's Table I).
 */
import * as metrics from '../metrics';
import { csimCoverageText, resultToJson, type MetricsResult } from '../metrics/evaluate';
import { formatValue, metricsPlot } from '../metrics/display';
import { METRIC_IDS } from '../metrics/types';
import type { PaperRow } from '../metrics/paper';
import { probeVideo } from '../io/video';
import { DISPLAY, type Displayable } from '../runtime/display';
import { MIME, type MimeBundle } from '../../shared/outputs';
import { runCellTask } from './cell-task';
import { cellPath } from './cell';
import { stageCache } from './cache';

export interface MpMetricsOptions extends Omit<metrics.EvaluateOptions, 'onFrame' | 'fid' | 'fvd' | 'cache'> {
  /** The stage cache (default: the kernel's, as every stage; only file inputs are keyed, by their bytes); `false` or
   * null computes everything again. */
  cache?: metrics.EvaluateOptions['cache'] | false;
  /** FID feature network, or the path of pytorch-fid's Inception weights (pt_inception-2015-12-05-*.pth). */
  fid?: metrics.FeatureNetwork | string;
  /** FVD clip network, or the path of pytorch-i3d InceptionI3d(400) weights (i3d_pretrained_400.pt). */
  fvd?: metrics.ClipFeatureNetwork | string;
  /** Title of the display. */
  title?: string;
  /** Transcribed rows of the paper's Table I to plot beside this run (see metrics/paper.ts). */
  paperRows?: metrics.PaperRow[];
}

/** A frame source, or a video output of another stage (`result.video`, `mp.demo.drivingVideo(...)`): its MP4 file. */
type VideoLike = metrics.FrameSource | { readonly path: string };

function videoPath(v: VideoLike): metrics.FrameSource {
  if (v && typeof v === 'object' && !Array.isArray(v) && 'path' in v && typeof v.path === 'string' && !('data' in v)) return v.path;
  return v as metrics.FrameSource;
}

/**
 * Metrics of a generated video against its target and the reference identity, with a plotly display: per-frame
 * curves, the summary table and bars beside the paper's Table I. `target` null (or mode 'cross'): CSIM / APD / AED only.
 */
export async function metricsStage(generatedInput: VideoLike, targetInput: VideoLike | null, options: MpMetricsOptions = {}): Promise<MetricsReport> {
  const generated = videoPath(generatedInput);
  const target = targetInput === null ? null : videoPath(targetInput);
  const { title, paperRows, ...rest } = options;
  const ref = rest.reference;
  const { fid: fidOption, fvd: fvdOption, cache, ...evalRest } = rest;
  const opts: metrics.EvaluateOptions = { ...evalRest, cache: cache === false || cache === null ? null : cache ?? (stageCache().enabled ? stageCache() : null), ...(typeof fidOption === 'object' ? { fid: fidOption } : {}), ...(typeof fvdOption === 'object' ? { fvd: fvdOption } : {}), reference: ref && typeof ref === 'object' && 'video' in ref ? { ...ref, video: cellPath(ref.video) } : cellPath(ref) };
  if (rest.flame) opts.flame = { generated: cellPath(rest.flame.generated), driving: cellPath(rest.flame.driving) };
  if (rest.lpips && !(rest.lpips instanceof metrics.Lpips))
    opts.lpips = { ...rest.lpips, linear: cellPath(rest.lpips.linear), ...(rest.lpips.backbone ? { backbone: cellPath(rest.lpips.backbone) } : {}) };
  let ownFid: metrics.InceptionFeatures | null = null;
  let ownFvd: metrics.I3dFeatures | null = null;
  try {
    if (typeof fidOption === 'string') opts.fid = ownFid = await metrics.InceptionFeatures.load(cellPath(fidOption));
    if (typeof fvdOption === 'string') opts.fvd = ownFvd = await metrics.I3dFeatures.load(cellPath(fvdOption));
  } catch (e) {
    if (ownFid) await ownFid.dispose();
    throw e;
  }
  const gen = cellPath(generated);
  let total = options.maxFrames ?? 0;
  if (typeof gen === 'string' && /\.(mp4|mov|mkv|webm|avi)$/i.test(gen)) {
    const n = Math.ceil(probeVideo(gen, { countFrames: false }).frameCount / Math.max(1, options.step ?? 1));
    total = total ? Math.min(total, n) : n;
  }
  try {
    // the total is known before the first frame (a probed video's count), so the bar shows at once
    return await runCellTask('Metrics', 'frames', true, async (task) => {
      task.onProgress(0, Math.max(1, total));
      const result = await metrics.evaluate(gen, target === null ? null : cellPath(target), { ...opts, signal: task.signal, onFrame: (n) => task.onProgress(n, Math.max(1, total)) });
      return new MetricsReport(result, { title, paperRows });
    });
  } finally {
    if (ownFid) await ownFid.dispose();
    if (ownFvd) await ownFvd.dispose();
  }
}


/** The displayable result of `mp.metrics`: per-frame curves, summary table, bars beside the paper. */
export class MetricsReport implements Displayable {
  constructor(
    readonly result: MetricsResult,
    readonly options: { title?: string; paperRows?: readonly PaperRow[] } = {},
  ) {}

  get summary(): MetricsResult['summary'] {
    return this.result.summary;
  }
  get perFrame(): MetricsResult['perFrame'] {
    return this.result.perFrame;
  }
  get absent(): MetricsResult['absent'] {
    return this.result.absent;
  }

  toJSON(): unknown {
    return resultToJson(this.result);
  }

  /** One line per metric. */
  toString(): string {
    const r = this.result;
    const lines = METRIC_IDS.map((id) => `${id.toUpperCase().padEnd(6)} ${r.summary[id] !== undefined ? formatValue(id, r.summary[id]) + (id === 'csim' ? csimCoverageText(r) : '') : `— (${r.absent[id] ?? 'not computed'})`}`);
    return [`${this.options.title ?? 'MagicPortrait metrics'}: ${r.mode}-reenactment, ${r.frames} frame(s)`, ...lines, ...r.notes.map((n) => `note: ${n}`)].join('\n');
  }

  [DISPLAY](): MimeBundle {
    return { [MIME.plot]: metricsPlot({ ...this.result, coverage: { csim: csimCoverageText(this.result).trim() } }, { title: this.options.title, paperRows: this.options.paperRows }), 'text/plain': this.toString() };
  }
}

/** LPIPS from the user's weights (paths relative to the notebook): { linear: 'alex.pth', backbone: 'alexnet-owt-7be5be79.pth' }. */
export function loadLpips(w: metrics.LpipsWeights) {
  return metrics.Lpips.load({ ...w, linear: cellPath(w.linear), ...(w.backbone ? { backbone: cellPath(w.backbone) } : {}) });
}

/** The FID Inception-v3 feature network from pytorch-fid's weights (a path relative to the notebook). */
export function loadInception(path: string) {
  return metrics.InceptionFeatures.load(cellPath(path));
}

/** The FVD I3D network from pytorch-i3d weights (i3d_pretrained_400.pt; a path relative to the notebook). */
export function loadI3d(path: string, options?: metrics.I3dOptions) {
  return metrics.I3dFeatures.load(cellPath(path), options);
}

/** A FLAME parameter sequence from a file (a path relative to the notebook), for APD / AED. */
export function readFlameFile(path: string) {
  return metrics.readFlameSequence(cellPath(path));
}

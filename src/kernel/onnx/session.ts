/**
 * The one place that creates ONNX Runtime sessions and picks execution providers. Everything else asks here.
 */
import * as ort from 'onnxruntime-node';
import { MagicPortraitError } from '../errors';
import { type ExecutionProviderName, type ProviderSetting, providerStatuses, resolveProvider } from './providers';
import { type Precision, deriveRequest, derivedModel } from './derived';
import { settings } from '../settings';

export type { ExecutionProviderName, ProviderSetting } from './providers';
export type { Precision } from './derived';

/** Execution providers that are ready on this machine (the binary has them and, for CUDA, its libraries are found). */
export function availableProviders(): ExecutionProviderName[] {
  return providerStatuses()
    .filter((s) => s.ready)
    .map((s) => s.name);
}

/** What a session runs on: the provider it was created with (CPU takes the nodes that provider cannot run). */
export interface SessionPlacement {
  label: string;
  provider: ExecutionProviderName;
  /** What was asked for ('auto' or a provider name). */
  requested: ProviderSetting;
  /** Set when 'auto' fell back to the CPU because the accelerator failed to start (the reason). */
  fallback?: string;
  /** What the graph computes in: 'float16' when a float16 version was derived for the provider. */
  compute: 'float32' | 'float16';
  /** Fused attention replaced by explicit, query-chunked attention for this provider. */
  attentionDecomposed: boolean;
}

const placements = new WeakMap<ort.InferenceSession, SessionPlacement>();

/** Where a session created here runs (undefined for sessions made elsewhere, which there are none of). */
export function sessionPlacement(s: ort.InferenceSession): SessionPlacement | undefined {
  return placements.get(s);
}

export interface CreateSessionOptions {
  /** Used in error messages: which model this is. */
  label?: string;
  /** Default: the setting (settings.ts). */
  provider?: ProviderSetting;
  threads?: number;
  /** ORT's CPU memory arena (default on): freed buffers are kept for the next run. */
  memoryArena?: boolean;
  /**
   * ORT's memory pattern (default on): one pre-planned block per run. For graphs with huge transient
   * intermediates (a 4096×4096 attention) turning it off while keeping the arena halves the resident memory
   * (the arena then reuses the big buffers themselves) without page-faulting fresh memory on every run.
   */
  memoryPattern?: boolean;
  /** ORT log level for this session: 0 verbose … 2 warning (ORT's default) … 4 fatal. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Let ORT's intra-op threads spin between ops (ORT's default: true). Small models run many times between other
   * JS work (face perception) are faster without spinning on few cores, where spinning threads steal the JS thread.
   */
  allowSpinning?: boolean;
  /** Extra ONNX Runtime session configuration entries (`session.*` keys of onnxruntime_session_options_config_keys.h). */
  sessionConfig?: Record<string, string>;
  /**
   * Compute precision of a model file: 'auto' = float16 on accelerators (derived.ts), float32 on the CPU; default
   * 'float32'. A provider may also get a derived graph for other reasons (attention it runs badly); see derived.ts.
   */
  precision?: Precision;
  /** Content identity of the model file for the derived-model cache (e.g. its SHA-256 from a bundle manifest). */
  sourceId?: string;
  /** Output names to leave on the device (WebGPU: 'gpu-buffer' tensors that another session can take as inputs). */
  keepOnDevice?: string[];
}

/** Creates a session from a file path or model bytes, with a clear error for bad models or unavailable providers. */
export async function createSession(
  model: string | Uint8Array,
  options: CreateSessionOptions = {},
): Promise<ort.InferenceSession> {
  const requested = options.provider ?? settings().provider;
  const label = options.label ?? (typeof model === 'string' ? model : 'in-memory model');
  const provider = resolveProvider(requested);
  const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (options.memoryArena === false) opts.enableCpuMemArena = false;
  if (options.memoryPattern === false || options.memoryArena === false) opts.enableMemPattern = false;
  if (options.logSeverityLevel !== undefined) opts.logSeverityLevel = options.logSeverityLevel;
  // on accelerators ORT warns that shape ops stay on the CPU, which is by design: keep the kernel log readable
  else if (provider !== 'cpu') opts.logSeverityLevel = 3;
  const extra: Record<string, string> = { ...options.sessionConfig };
  if (options.allowSpinning === false) Object.assign(extra, { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' });
  if (Object.keys(extra).length) opts.extra = extra;
  const threads = options.threads ?? settings().threads;
  if (threads > 0) opts.intraOpNumThreads = threads;
  let derived = { compute: 'float32' as 'float32' | 'float16', attentionDecomposed: false };
  const open = (p: ExecutionProviderName) => {
    const o: ort.InferenceSession.SessionOptions = { ...opts, executionProviders: p === 'cpu' ? ['cpu'] : [p, 'cpu'] };
    if (p === 'webgpu' && options.keepOnDevice?.length) o.preferredOutputLocation = Object.fromEntries(options.keepOnDevice.map((n) => [n, 'gpu-buffer' as const]));
    let src = model;
    const req = typeof model === 'string' ? deriveRequest(p, options.precision ?? 'float32') : null;
    let decomposed = 0;
    if (req && typeof model === 'string') {
      try {
        const d = derivedModel(model, req, { sourceId: options.sourceId });
        src = d.path;
        decomposed = d.report.decomposed;
      } catch (e) {
        throw new MagicPortraitError(`Could not derive the ${req.float16 ? 'float16' : 'float32'} ${p} version of ${label}: ${(e as Error).message}`, 'bad-model');
      }
    }
    derived = { compute: req?.float16 ? 'float16' : 'float32', attentionDecomposed: decomposed > 0 };
    return typeof src === 'string' ? ort.InferenceSession.create(src, o) : ort.InferenceSession.create(src, o);
  };
  let session: ort.InferenceSession;
  let fallback: string | undefined;
  try {
    session = await open(provider);
  } catch (e) {
    const why = (e as Error).message;
    if (e instanceof MagicPortraitError) throw e;
    if (provider === 'cpu') throw new MagicPortraitError(`Could not load ONNX model ${label}: ${why}`, 'bad-model');
    if (requested !== 'auto')
      throw new MagicPortraitError(
        `Execution provider '${provider}' could not run ${label}: ${why}. Choose another magicportrait.executionProvider ('cpu' always works).`,
        'provider-failed',
      );
    // 'auto': the accelerator looked ready but did not start (driver, adapter, out of memory); the CPU still works
    fallback = `${provider} failed to start (${why.split('\n')[0]})`;
    try {
      session = await open('cpu');
    } catch (e2) {
      throw new MagicPortraitError(`Could not load ONNX model ${label}: ${(e2 as Error).message}`, 'bad-model');
    }
  }
  placements.set(session, { label, provider: fallback ? 'cpu' : provider, requested, ...(fallback ? { fallback } : {}), ...derived });
  return session;
}

export { ort };

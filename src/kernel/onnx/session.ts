/**
 * The one place that creates ONNX Runtime sessions and picks execution providers. Everything else asks here.
 */
import * as ort from 'onnxruntime-node';
import { MagicPortraitError } from '../errors';

export type ExecutionProviderName = 'cpu' | 'cuda' | 'dml' | 'coreml';

export interface SessionSettings {
  /** Preferred execution provider; CPU is always appended as the fallback. */
  provider: ExecutionProviderName;
  /** Intra-op threads (0 = ORT's default: one per core). */
  threads: number;
}

const settings: SessionSettings = { provider: 'cpu', threads: 0 };

export function configureSessions(update: Partial<SessionSettings>): void {
  Object.assign(settings, update);
}

export function sessionSettings(): Readonly<SessionSettings> {
  return settings;
}

/** Execution providers the installed onnxruntime-node binary can use on this platform. */
export function availableProviders(): ExecutionProviderName[] {
  const list = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.();
  if (!list) return ['cpu'];
  const names = new Set(list.map((b) => b.name));
  return (['cpu', 'cuda', 'dml', 'coreml'] as const).filter((p) => names.has(p));
}

export interface CreateSessionOptions {
  /** Used in error messages: which model this is. */
  label?: string;
  provider?: ExecutionProviderName;
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
}

/** Creates a session from a file path or model bytes, with a clear error for bad models or unavailable providers. */
export async function createSession(
  model: string | Uint8Array,
  options: CreateSessionOptions = {},
): Promise<ort.InferenceSession> {
  const provider = options.provider ?? settings.provider;
  const label = options.label ?? (typeof model === 'string' ? model : 'in-memory model');
  if (provider !== 'cpu' && !availableProviders().includes(provider))
    throw new MagicPortraitError(
      `Execution provider '${provider}' is not available in this onnxruntime-node build (available: ${availableProviders().join(', ')}). ` +
        `Choose 'cpu' in the magicportrait.executionProvider setting or install a build with ${provider} support.`,
      'provider-unavailable',
    );
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
    graphOptimizationLevel: 'all',
  };
  if (options.memoryArena === false) opts.enableCpuMemArena = false;
  if (options.memoryPattern === false || options.memoryArena === false) opts.enableMemPattern = false;
  if (options.logSeverityLevel !== undefined) opts.logSeverityLevel = options.logSeverityLevel;
  if (options.allowSpinning === false) opts.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  const threads = options.threads ?? settings.threads;
  if (threads > 0) opts.intraOpNumThreads = threads;
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, opts)
      : await ort.InferenceSession.create(model, opts);
  } catch (e) {
    throw new MagicPortraitError(`Could not load ONNX model ${label}: ${(e as Error).message}`, 'bad-model');
  }
}

export { ort };

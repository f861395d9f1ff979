/**
 * Runs transformed cells in the kernel's global context, one at a time, with console capture, cancellation and
 * stack traces mapped to the cell's own lines.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { ArtifactStore } from './artifacts';
import { setCurrentRun, type RunContext, notebookDir } from './context';
import { toMimeBundle } from './display';
import type { ErrorInfo, ExecuteRequest, KernelToHost } from '../../shared/kernel-ipc';
import type { MimeBundle } from '../../shared/outputs';
import { CellSyntaxError, IMPORT_HELPER, transformCell } from './transform';
import { CancelledError } from '../errors';

type Emit = (msg: KernelToHost) => void;

interface CellMap {
  label: string;
  mapLine(line: number, column: number): number | null;
}

export class Executor {
  private readonly cellMaps = new Map<string, CellMap>();
  private runCounter = 0;
  private active: { id: string; abort: AbortController } | null = null;
  /** Where console output goes when no cell is running (late timers): the last cell. */
  private lastId: string | null = null;

  constructor(private readonly emit: Emit) {}

  get activeId(): string | null {
    return this.active?.id ?? null;
  }

  /** Where console output currently belongs. */
  get streamTarget(): string | null {
    return this.active?.id ?? this.lastId;
  }

  interrupt(id: string): void {
    if (this.active?.id === id) this.active.abort.abort(new CancelledError('cell'));
  }

  async execute(req: ExecuteRequest): Promise<void> {
    const abort = new AbortController();
    this.active = { id: req.id, abort };
    this.lastId = req.id;
    const baseDir = req.baseDir ?? notebookDir(req.notebookPath);
    const artifacts = req.artifactDir ? new ArtifactStore(req.artifactDir) : req.notebookPath ? ArtifactStore.besideNotebook(req.notebookPath) : new ArtifactStore(join(baseDir, '.magicportrait-artifacts'));
    const ctx: RunContext = {
      id: req.id,
      signal: abort.signal,
      artifacts,
      baseDir,
      emitDisplay: (bundle, displayId) => this.emit({ type: 'display', id: req.id, bundle, ...(displayId ? { displayId } : {}) }),
      updateDisplay: (bundle, displayId) => this.emit({ type: 'update', id: req.id, bundle, displayId }),
      requestInterruptGrace: (ms) => this.emit({ type: 'grace', id: req.id, ms }),
    };
    setCurrentRun(ctx);
    installCellGlobals(ctx);
    try {
      const fileName = `mpcell-${++this.runCounter}`;
      const cell = transformCell(req.code, `${req.cellLabel}.ts`);
      this.cellMaps.set(fileName, { label: req.cellLabel, mapLine: cell.mapLine });
      const promise = vm.runInThisContext(cell.code, { filename: fileName }) as Promise<unknown>;
      const value = await promise;
      let result: MimeBundle | undefined;
      if (cell.returnsValue && value !== undefined) result = await toMimeBundle(value, ctx);
      this.emit({ type: 'done', id: req.id, ok: true, ...(result ? { result } : {}), ...written(artifacts) });
    } catch (e) {
      const cancelled = abort.signal.aborted || e instanceof CancelledError;
      this.emit({ type: 'done', id: req.id, ok: false, error: this.describe(e, req.cellLabel), ...(cancelled ? { cancelled } : {}), ...written(artifacts) });
    } finally {
      this.active = null;
    }
  }

  /** Error name, message and a stack that names cells and their own line numbers. */
  describe(e: unknown, label: string): ErrorInfo {
    if (e instanceof CellSyntaxError) return { name: 'SyntaxError', message: e.message, stack: `SyntaxError: ${e.message}\n    at ${label}, line ${e.line}` };
    if (!(e instanceof Error)) return { name: 'Error', message: String(e), stack: `Thrown value: ${String(e)}` };
    const lines = (e.stack ?? '').split('\n');
    const head: string[] = [];
    const frames: string[] = [];
    for (const line of lines) {
      if (!/^\s+at /.test(line)) {
        if (!frames.length) head.push(line);
        continue;
      }
      const mapped = line.replace(/(mpcell-\d+):(\d+):(\d+)/, (_m, file: string, l: string, c: string) => {
        const map = this.cellMaps.get(file);
        const src = map?.mapLine(Number(l), Number(c) - 1);
        return map ? `${map.label}, line ${src ?? '?'}` : `${file}:${l}:${c}`;
      });
      // Drop the runtime's own frames and Node internals; keep cells and library stages.
      if (/node:internal|\/runtime\/executor\.|\(node:vm|\/kernel\/main\./.test(mapped)) continue;
      frames.push(mapped.replace(/async (mpcell-\d+)/, 'async cell'));
    }
    return { name: e.name, message: e.message, stack: [...head, ...frames].join('\n') };
  }
}

function written(store: ArtifactStore): { artifacts?: { hash: string; ext: string }[] } {
  const w = store.written;
  return w.length ? { artifacts: w } : {};
}

/** Globals a cell sees besides the kernel's own: `require` and static / dynamic import relative to the notebook. */
function installCellGlobals(ctx: RunContext): void {
  const req = createRequire(join(ctx.baseDir, '__cell__.js'));
  const g = globalThis as Record<string, unknown>;
  g.require = req;
  g[IMPORT_HELPER] = async (spec: unknown) => {
    if (typeof spec !== 'string') throw new TypeError(`import() needs a module name or path, got ${typeof spec}`);
    const local = spec.startsWith('.') || isAbsolute(spec);
    const target = local ? resolve(ctx.baseDir, spec) : spec;
    try {
      return asNamespace(req(target));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
      return import(local ? pathToFileURL(target).href : target);
    }
  };
}

/**
 * A CommonJS module as `import` shows it: its exports by name plus `default` (Node's own interop), so
 * `import fs from 'node:fs'` and `(await import('node:fs')).readFileSync` both work. Transpiled ES modules
 * (`__esModule`) already have that shape.
 */
function asNamespace(mod: unknown): unknown {
  if ((typeof mod !== 'object' && typeof mod !== 'function') || mod === null) return { default: mod };
  if ((mod as { __esModule?: boolean }).__esModule) return mod;
  const ns: Record<string, unknown> = { default: mod };
  for (const key of Object.keys(mod)) if (key !== 'default') ns[key] = (mod as Record<string, unknown>)[key];
  return ns;
}

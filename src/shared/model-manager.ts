/**
 * Plain data of the model manager, shared by the kernel service, the CLI's JSON-lines protocol, the extension host and
 * the Model manager webview. No imports: the webview type-checks this file without Node's types.
 */

export type Precision = 'fp32' | 'fp16';

export interface FoundFile {
  name: string;
  required: boolean;
  /** The candidate that was found (relative to the folder), e.g. `unet/diffusion_pytorch_model.bin`. */
  found?: string;
  /** Absolute path when found. */
  path?: string;
  bytes?: number;
}

export interface FolderScan {
  id: string;
  label: string;
  hint: string;
  dir?: string;
  /** unset: no folder given; not-a-folder: the path is not an existing folder. */
  status: 'unset' | 'not-a-folder' | 'complete' | 'incomplete';
  files: FoundFile[];
}

/** Where the keys of one source file went (checkpoints), or what was checked (FLAME files: `note`). */
export interface CoverageRow {
  file: string;
  total?: number;
  used?: number;
  /** Keys a later file in the reference's layering replaced. */
  overridden?: number;
  /** Keys deliberately not used (modules the reference builds but never runs, training-only counters). */
  ignored?: number;
  unexpected?: number;
  note?: string;
}

export interface StepEstimate {
  diskBytes: number;
  peakMemoryBytes: number;
  /** false: an upper bound from file sizes (the header estimate is only worked out for the diffusion bundle). */
  exact: boolean;
}

export interface StepScan {
  id: string;
  label: string;
  folders: string[];
  /** ready: every required file found; unset: none of its folders given; incomplete: otherwise. */
  status: 'ready' | 'incomplete' | 'unset';
  /** `<folder label>: <file>` for each missing required file (or the folder itself). */
  missing: string[];
  usesPrecision: boolean;
  estimate?: StepEstimate;
  estimateError?: string;
}

export interface ScanResult {
  folders: FolderScan[];
  steps: StepScan[];
  /** Over the ready steps (they run one after another: disk adds up, memory is the largest step's). */
  estimate?: StepEstimate;
}

/** What the user points at: a folder per folder id (see folders.ts), the bundle folder and the precision. */
export interface ModelConfig {
  folders: Record<string, string | undefined>;
  out?: string;
  precision?: Precision;
  /** Architecture overrides per step id (small test checkpoints), or a JSON file holding them. Default: the real ones. */
  architecture?: string | Record<string, unknown>;
}

export interface ManagerProgress {
  /** 0 … 1 over the whole import. */
  fraction: number;
  step?: string;
  message: string;
}

export interface SourceRecord {
  folder: string;
  file: string;
  path: string;
  bytes: number;
  sha256: string;
}

export interface StepRecord {
  step: string;
  label: string;
  /** SHA-256 over the step id, its sources' hashes and the options its output depends on. */
  key: string;
  precision?: Precision;
  sources: SourceRecord[];
  /** Files written, relative to the bundle folder. */
  outputs: { path: string; bytes: number }[];
  coverage: CoverageRow[];
  report: string;
  complete: boolean;
  importedAt: string;
}

export interface ModelBundleManifest {
  format: 'magicportrait.model-bundle';
  version: 1;
  createdAt: string;
  precision: Precision;
  steps: Record<string, StepRecord>;
}

export interface CoverageSummary {
  /** Checkpoint keys over all files with key counts. */
  keys: number;
  /** Keys used, overridden by a later file or deliberately ignored. */
  accounted: number;
  unexpected: number;
  percent: number;
}

export interface ImportAllResult {
  dir: string;
  manifest: ModelBundleManifest;
  steps: { id: string; label: string; status: 'imported' | 'unchanged'; record: StepRecord }[];
  /** Steps not imported because files are missing (they are listed, not silently dropped). */
  skipped: { id: string; label: string; missing: string[] }[];
  coverage: CoverageSummary;
  estimate?: StepEstimate;
}

/** `magicportrait models scan|import --json`: one of these per stdout line. */
export type ManagerEvent =
  | { type: 'scan'; scan: ScanResult }
  | ({ type: 'progress' } & ManagerProgress)
  | { type: 'result'; result: ImportAllResult }
  | { type: 'error'; message: string; code: string };

/** The webview's state: what it sends on every change, and what the host remembers. */
export interface PanelSettings {
  folders: Record<string, string>;
  out: string;
  precision: Precision;
}

/** Webview → extension host. */
export type PanelMessage =
  | { type: 'ready' }
  | { type: 'scan'; settings: PanelSettings }
  | { type: 'browse'; target: string }
  | { type: 'import'; settings: PanelSettings }
  | { type: 'cancel' }
  | { type: 'trust' };

/** Extension host → webview. */
export type HostMessage =
  | { type: 'init'; settings: PanelSettings; trusted: boolean }
  | { type: 'scan'; scan: ScanResult; scanning: boolean }
  | { type: 'browsed'; target: string; path: string }
  | { type: 'progress'; progress: ManagerProgress }
  | { type: 'result'; result: ImportAllResult }
  | { type: 'error'; message: string; cancelled: boolean };

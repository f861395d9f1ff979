/**
 * Notebook outputs of the kernel as the renderers in webviews/ read them: the MIME types and the JSON each carries.
 * The kernel's displays write these, the renderers read them, the extension stores them in .mpnb files. No imports:
 * the webviews type-check this file with their own (browser) settings.
 */

/** A Jupyter-style MIME bundle: MIME type → data (string for text types, JSON-able value for +json types). */
export type MimeBundle = Record<string, unknown>;

export const MIME = {
  frames: 'application/vnd.magicportrait.frames+json',
  progress: 'application/vnd.magicportrait.progress+json',
  mesh: 'application/vnd.magicportrait.mesh+json',
  plot: 'application/vnd.magicportrait.plot+json',
  attention: 'application/vnd.magicportrait.attention+json',
  video: 'application/vnd.magicportrait.video+json',
  error: 'application/vnd.code.notebook.error',
} as const;

/** A file in the notebook's content-addressed artifact store (`<notebook>.artifacts/<hash>.<ext>`). */
export interface ArtifactRef {
  /** sha256 of the content, hex. */
  hash: string;
  /** File extension without the dot: png, mp4, bin, json… */
  ext: string;
  size: number;
  mime: string;
}

/** MIME.progress: a live progress bar. */
export interface ProgressState {
  label: string;
  done: number;
  total: number;
  unit: string;
  elapsedMs: number;
  /** Estimated time left, from the average rate so far; null until there is a rate. */
  etaMs: number | null;
  finished: boolean;
  failed?: string;
}

/** MIME.frames: synchronised frame sequences for the scrubber, each frame a PNG artifact. */
export interface FramesOutput {
  title: string;
  fps: number;
  label?: string;
  tracks: { name: string; width: number; height: number; frames: ArtifactRef[] }[];
}

/** MIME.video: an H.264 MP4 artifact. */
export interface VideoOutputData {
  title: string;
  video: ArtifactRef;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** e.g. 'untrained demo weights'. */
  label?: string;
}

/** One plotly.js figure (its JSON: traces and layout). */
export interface PlotFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

/** MIME.plot: plotly.js figures. */
export interface PlotPayload {
  title?: string;
  label?: string;
  figures: PlotFigure[];
}

/**
 * MIME.mesh: a FLAME-structured head for the three.js viewer, which re-poses it itself (expression blendshapes,
 * Rodrigues rotations, linear blend skinning). Arrays are little-endian artifacts: `base` V×3 float32 (the shaped
 * template), `faces` F×3 uint32, `exprBasis` K×V×3 float32 (component-major), `weights` V×J float32 (LBS).
 */
export interface MeshOutput {
  title: string;
  label?: string;
  vertexCount: number;
  faceCount: number;
  jointCount: number;
  exprCount: number;
  exprNames?: string[];
  arrays: { base: ArtifactRef; faces: ArtifactRef; exprBasis: ArtifactRef; weights: ArtifactRef };
  /** Joint positions of the shaped template, J×3. */
  joints: number[];
  parents: number[];
  /** Initial parameters: expression coefficients and J×3 axis-angle pose. */
  expression: number[];
  pose: number[];
  /** Landmarks as (face index, barycentrics) so they follow the posed mesh. */
  landmarks?: { faces: number[]; bary: number[] };
  jawJoint?: number;
}

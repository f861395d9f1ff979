/**
 * The GGE attention explorer's messages: the output the kernel displays (MIME.attention), and the request for the
 * full attention rows of clicked pixels with its reply, on both hops (renderer ↔ extension as JSON with base64 rows,
 * extension ↔ kernel over Node IPC with a Float32Array). No imports but the shared output types.
 */
import type { ArtifactRef } from './outputs';

/** The guidance map types of the paper (§6): depth, normal, shaded render. */
export type GuidanceType = 'depth' | 'normal' | 'render';

/** What an attention record says about itself: the kernel's data (GGEAttention) and the displayed output share it. */
export interface AttentionHeader {
  kind: 'magicportrait.gge-attention';
  version: 1;
  /** 'untrained demo weights' for the demo bundle: show it on the explorer. */
  label?: string;
  /** The module whose attention this is. */
  module: 'attentions.5';
  types: GuidanceType[];
  frames: number;
  heads: number;
  /** Attention grid (keys and queries are its cells, index row·width + col). */
  grid: { width: number; height: number };
  /** Guidance image size; grid cell (x, y) covers input pixels [x·stride, (x+1)·stride). */
  input: { width: number; height: number };
  stride: number;
}

/** MIME.attention. Binary artifacts are little-endian float32, row-major. */
export interface AttentionOutput extends AttentionHeader {
  title: string;
  encoding: 'f32le';
  tracks: {
    type: GuidanceType;
    /** PNG of each guidance frame, to draw the maps over. */
    images: ArtifactRef[];
    /** Per frame: heads·h·w (head-major), mean attention received by each key cell. */
    received: ArtifactRef[];
    /** Per frame: h·w, channel L2 norm of the attention block output. */
    outNorm: ArtifactRef[];
    /** Per frame: h·w, channel L2 norm of the self-attention contribution. */
    deltaNorm: ArtifactRef[];
    /** Value ranges over all frames, for stable colour scales: per head for `received`. */
    ranges: { received: [number, number][]; outNorm: [number, number]; deltaNorm: [number, number] };
  }[];
  /** The id to ask the kernel for full rows with (valid for the kernel session that made the output). */
  rows: { id: string; maxQueries: number };
}

/** Which rows: the output's `rows.id`, a guidance type, a frame and query pixels. */
export interface AttentionRowsQuery {
  rowsId: string;
  guidance: GuidanceType;
  frame: number;
  queries: { x: number; y: number }[];
  /** 'input': guidance-image pixels (default); 'grid': attention-grid cells. */
  space?: 'grid' | 'input';
}

/** What a successful answer carries besides the rows. */
export interface AttentionRowsShape {
  label?: string;
  heads: number;
  grid: { width: number; height: number };
  /** The query pixels in grid coordinates, with their token index. */
  queries: { x: number; y: number; index: number }[];
}

/** renderer → extension (renderer messaging). */
export interface RendererRowsRequest extends AttentionRowsQuery {
  type: 'attention-rows';
  requestId: number;
}

/** extension → renderer: the rows as base64 of heads·Q·cells little-endian float32. */
export type RendererRowsReply =
  | ({ type: 'attention-rows'; requestId: number; ok: true; base64: string } & AttentionRowsShape)
  | { type: 'attention-rows'; requestId: number; ok: false; stale?: boolean; error: string };

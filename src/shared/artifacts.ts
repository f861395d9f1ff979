/**
 * Renderers cannot read the disk: they ask the extension for an artifact's bytes by hash over renderer messaging.
 */

/** renderer → extension. */
export interface ArtifactRequest {
  type: 'artifact';
  requestId: number;
  hash: string;
  ext: string;
}

/** extension → renderer: the bytes as base64, or what went wrong. */
export interface ArtifactReply {
  type: 'artifact';
  requestId: number;
  base64?: string;
  error?: string;
}

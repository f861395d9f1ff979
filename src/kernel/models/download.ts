/**
 * Download helper for users with internet access: fetches the public MagicPortrait files from the model hub the
 * MagicPortrait README names (`mengtingwei/MagicPortrait`, laid out as its `./pre_trained` folder; reference-pipeline.md
 * §8.1) with resume, redirects and SHA-256 verification (io/download.ts). Nothing here runs unless the user asks
 * (`magicportrait models download`); the extension itself never downloads at run time.
 *
 * Hashes: no SHA-256 is written into the catalogue unless it is known for certain (none is, today). Instead the hub's
 * own published hash is used: for LFS files, the `resolve` URL's redirect carries `X-Linked-Etag` (the LFS oid, the
 * file's SHA-256) and `X-Linked-Size`. Small git files (configs, tokenizer) have no published SHA-256; they are checked
 * against their Content-Length and their computed SHA-256 is reported.
 *
 * FLAME and DECA are licence-gated (MPI non-commercial terms that each user must accept): the helper never fetches them
 * and prints the licence notice and the registration pages instead.
 */
import { existsSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { downloadFile, hashFile, type DownloadProgress, type DownloadResult } from '../io/download';


// ------------------------------------------------------------------------------------------------------------------
// Catalogue

export const HUB_REPO = 'mengtingwei/MagicPortrait';
export const HUB_BASE = `https://huggingface.co/${HUB_REPO}/resolve/main`;

/** One file to fetch. `candidates` are hub paths tried in order (404 → next), as the diffusers loaders prefer
 *  safetensors and fall back to .bin; the file keeps its hub path under the target folder. */
export interface CatalogueFile {
  candidates: string[];
  /** Exact size in bytes, only when known for certain (otherwise the hub's X-Linked-Size / Content-Length). */
  bytes?: number;
  /** Lower-case hex SHA-256, only when known for certain (otherwise the hub's X-Linked-Etag at download time). */
  sha256?: string;
}

export interface CatalogueEntry {
  /** `--only` name. */
  name: string;
  what: string;
  files: CatalogueFile[];
}

/** A file the helper refuses to fetch: the user must register and accept the licence. */
export interface GatedEntry {
  name: string;
  what: string;
  /** Where the reference expects the files. */
  files: string[];
  licence: string;
  register: string[];
}

const sd = (p: string) => `stable-diffusion-v1-5/${p}`;
const st = (base: string): string[] => [`${base}.safetensors`, `${base}.bin`];

/** The public files the importer needs (`magicportrait import`), in the hub's layout. */
export const PUBLIC_FILES: readonly CatalogueEntry[] = [
  { name: 'denoising-unet', what: 'MagicPortrait denoising UNet state dict (ckpts/denoising_unet.pth)', files: [{ candidates: ['ckpts/denoising_unet.pth'] }] },
  { name: 'reference-unet', what: 'MagicPortrait reference UNet state dict (ckpts/reference_unet.pth)', files: [{ candidates: ['ckpts/reference_unet.pth'] }] },
  {
    name: 'guidance-encoders',
    what: 'MagicPortrait geometric guidance encoders (depth, normal, render)',
    files: ['depth', 'normal', 'render'].map((t) => ({ candidates: [`ckpts/guidance_encoder_${t}.pth`] })),
  },
  { name: 'motion-module', what: 'AnimateDiff motion module (ckpts/motion_module-47360.pth)', files: [{ candidates: ['ckpts/motion_module-47360.pth'] }] },
  {
    name: 'sd15-unet',
    what: 'Stable Diffusion 1.5 UNet (config + weights)',
    files: [{ candidates: [sd('unet/config.json')] }, { candidates: st(sd('unet/diffusion_pytorch_model')) }],
  },
  {
    name: 'sd15-text-encoder',
    what: 'Stable Diffusion 1.5 CLIP text encoder and tokenizer (for the fixed prompt embedding)',
    files: [
      { candidates: [sd('text_encoder/config.json')] },
      { candidates: [sd('text_encoder/model.safetensors'), sd('text_encoder/pytorch_model.bin')] },
      { candidates: [sd('tokenizer/vocab.json')] },
      { candidates: [sd('tokenizer/merges.txt')] },
    ],
  },
  {
    name: 'vae',
    what: 'sd-vae-ft-mse VAE (config + weights)',
    files: [{ candidates: ['sd-vae-ft-mse/config.json'] }, { candidates: st('sd-vae-ft-mse/diffusion_pytorch_model') }],
  },
];

const MPI_TERMS =
  'released by the Max Planck Institute for Intelligent Systems under a non-commercial licence that each user has to ' +
  'read and accept personally (registration required). MagicPortrait Studio never downloads them for you.';

export const GATED_FILES: readonly GatedEntry[] = [
  {
    name: 'flame',
    what: 'FLAME 2020 head model and texture space',
    files: ['decalib/data/generic_model.pkl', 'decalib/data/FLAME_texture.npz'],
    licence: `FLAME is ${MPI_TERMS}`,
    register: ['https://flame.is.tue.mpg.de'],
  },
  {
    name: 'deca',
    what: 'DECA model and data files',
    files: ['decalib/data/deca_model.tar', 'decalib/data/landmark_embedding.npy', 'decalib/data/head_template.obj'],
    licence: `DECA is ${MPI_TERMS}`,
    register: ['https://deca.is.tue.mpg.de', 'https://github.com/yfeng95/DECA'],
  },
];

/** The licence notice printed whenever a gated entry is asked for (and by `--list`). */
export function licenceNotice(entries: readonly GatedEntry[] = GATED_FILES): string {
  const lines = ['Licence-gated files (not downloaded automatically):'];
  for (const g of entries) {
    lines.push(`  ${g.name}: ${g.what}`, `    ${g.licence}`, `    Register and download at: ${g.register.join(' , ')}`, `    Files (in the reference's layout): ${g.files.join(', ')}`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------------------------
// The catalogue

export interface DownloadModelsOptions {
  /** `--only` names; default every public entry. Naming a licence-gated entry throws with the notice. */
  only?: string[];
  /** Base URL the catalogue paths are relative to (default HUB_BASE). */
  baseUrl?: string;
  catalogue?: readonly CatalogueEntry[];
  gated?: readonly GatedEntry[];
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (line: string) => void;
  retries?: number;
}

export interface ModelsDownloadReport {
  files: (DownloadResult & { status: 'downloaded' | 'present' })[];
}

/** Entries to fetch for `only`; a gated or unknown name is a MagicPortraitError (the gated one carries the notice). */
export function selectEntries(only: string[] | undefined, catalogue: readonly CatalogueEntry[] = PUBLIC_FILES, gated: readonly GatedEntry[] = GATED_FILES): CatalogueEntry[] {
  if (!only?.length) return [...catalogue];
  const gatedAsked = gated.filter((g) => only.includes(g.name));
  if (gatedAsked.length) throw new MagicPortraitError(`${gatedAsked.map((g) => g.name).join(', ')} cannot be downloaded automatically.\n${licenceNotice(gatedAsked)}`, 'licence-required');
  const unknown = only.filter((n) => !catalogue.some((c) => c.name === n));
  if (unknown.length)
    throw new MagicPortraitError(`Unknown model file set '${unknown.join(', ')}'. Known: ${catalogue.map((c) => c.name).join(', ')} (licence-gated: ${gated.map((g) => g.name).join(', ')}).`, 'bad-argument');
  return catalogue.filter((c) => only.includes(c.name));
}

/**
 * Fetches the selected public files into `to` (hub layout). A file already in place is kept (and re-hashed only when
 * the catalogue states its SHA-256). Each file's candidates are tried in order; a 404 moves to the next.
 */
export async function downloadModels(to: string, o: DownloadModelsOptions = {}): Promise<ModelsDownloadReport> {
  const root = resolve(to);
  const base = (o.baseUrl ?? HUB_BASE).replace(/\/$/, '');
  const entries = selectEntries(o.only, o.catalogue ?? PUBLIC_FILES, o.gated ?? GATED_FILES);
  const report: ModelsDownloadReport = { files: [] };
  for (const entry of entries) {
    o.log?.(`${entry.name}: ${entry.what}`);
    for (const file of entry.files) {
      const present = file.candidates.map((c) => join(root, c)).find((p) => existsSync(p));
      if (present) {
        const size = statSync(present).size;
        let sha256 = '';
        if (file.sha256) {
          const h = createHash('sha256');
          await hashFile(present, h);
          sha256 = h.digest('hex');
          if (sha256 !== file.sha256) throw new MagicPortraitError(`${present} exists but its SHA-256 ${sha256} is not the catalogue's ${file.sha256}; delete it to download it again.`, 'hash-mismatch');
        }
        o.log?.(`  ${present}: already present (${size} bytes)`);
        report.files.push({ dest: present, bytes: size, sha256, verified: file.sha256 ? 'sha256' : 'size', resumedFrom: 0, transferred: 0, status: 'present' });
        continue;
      }
      let lastError: MagicPortraitError | null = null;
      for (const c of file.candidates) {
        try {
          const r = await downloadFile(`${base}/${c}`, join(root, c), { bytes: file.bytes, sha256: file.sha256, signal: o.signal, onProgress: o.onProgress, retries: o.retries });
          o.log?.(`  ${r.dest}: ${r.bytes} bytes, SHA-256 ${r.sha256} (${r.verified === 'sha256' ? 'verified against the published hash' : 'size checked; no published SHA-256'})`);
          report.files.push({ ...r, status: 'downloaded' });
          lastError = null;
          break;
        } catch (e) {
          if (e instanceof MagicPortraitError && e.code === 'not-found') {
            lastError = e;
            continue;
          }
          throw e;
        }
      }
      if (lastError)
        throw new MagicPortraitError(`None of ${file.candidates.join(', ')} was found at ${base} (${lastError.message}).`, 'not-found');
    }
  }
  return report;
}

/** The `magicportrait import` folders for a download into `to` (the hub layout). */
export function importPathsFor(to: string): { sd15Dir: string; vaeDir: string; motionModule: string; ckptDir: string } {
  const root = resolve(to);
  return { sd15Dir: join(root, 'stable-diffusion-v1-5'), vaeDir: join(root, 'sd-vae-ft-mse'), motionModule: join(root, 'ckpts', 'motion_module-47360.pth'), ckptDir: join(root, 'ckpts') };
}

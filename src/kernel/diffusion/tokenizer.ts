/**
 * The CLIP byte-level BPE tokenizer (reference-pipeline.md §7.3: `CLIPTokenizer` from SD 1.5's `tokenizer/`,
 * max_length 77, padding "max_length", truncation), reading `vocab.json` + `merges.txt`:
 *
 *   text → html-unescape (twice) → collapse whitespace → lower case → split with CLIP's pattern
 *        → per piece: UTF-8 bytes as GPT-2 byte symbols, the last one suffixed '</w>', BPE merges by rank
 *        → ids = [<|startoftext|>] + pieces[: maxLength − 2] + [<|endoftext|>], padded with the pad token.
 *
 * Differences from the Python tokenizer: `ftfy.fix_text` (mojibake repair) is not applied; for plain ASCII / well
 * formed Unicode prompts, such as the reference's fixed "A close up of a person.", it is a no-op.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';

export const BOS_TOKEN = '<|startoftext|>';
export const EOS_TOKEN = '<|endoftext|>';
/** CLIP's merges.txt is read up to this many merges (as the Python tokenizer does: 49152 − 256 − 2). */
const MAX_MERGES = 49152 - 256 - 2;

const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** GPT-2's reversible byte → printable-unicode map. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

function htmlUnescape(s: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return named[e.toLowerCase()] ?? m;
  });
}

export interface TokenizerFiles {
  vocab: Record<string, number>;
  /** merges.txt lines, "a b" each (the '#version' header removed). */
  merges: string[];
  /** Default '<|endoftext|>' (SD 1.5's tokenizer_config / special_tokens_map). */
  padToken?: string;
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  private readonly ranks = new Map<string, number>();
  private readonly byteSym = bytesToUnicode();
  private readonly cache = new Map<string, string[]>();

  constructor(
    private readonly files: TokenizerFiles,
    readonly source = 'tokenizer',
  ) {
    const id = (t: string) => {
      const v = files.vocab[t];
      if (!Number.isInteger(v)) throw new MagicPortraitError(`${source}: vocab.json has no '${t}' token.`, 'bad-file');
      return v!;
    };
    this.bosId = id(BOS_TOKEN);
    this.eosId = id(EOS_TOKEN);
    this.padId = id(files.padToken ?? EOS_TOKEN);
    // special tokens written in the text map to themselves (the Python tokenizer's bpe cache)
    this.cache.set(BOS_TOKEN, [BOS_TOKEN]);
    this.cache.set(EOS_TOKEN, [EOS_TOKEN]);
    files.merges.slice(0, MAX_MERGES).forEach((m, i) => {
      const parts = m.split(' ');
      if (parts.length !== 2) throw new MagicPortraitError(`${source}: merges.txt line ${i + 2} ('${m}') is not a pair.`, 'bad-file');
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
  }

  /** Reads `vocab.json`, `merges.txt` (and `special_tokens_map.json` when present) from a tokenizer folder. */
  static fromDir(dir: string): ClipTokenizer {
    const need = (n: string) => {
      const p = join(dir, n);
      if (!existsSync(p)) throw new MagicPortraitError(`Tokenizer folder ${dir} has no ${n}.`, 'missing-file');
      return readFileSync(p, 'utf8');
    };
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(need('vocab.json'));
    } catch (e) {
      if (e instanceof MagicPortraitError) throw e;
      throw new MagicPortraitError(`${join(dir, 'vocab.json')} is not valid JSON.`, 'bad-file');
    }
    const lines = need('merges.txt').replace(/\r/g, '').split('\n');
    const merges = (lines[0]?.startsWith('#version') ? lines.slice(1) : lines).filter((l) => l.length > 0);
    let padToken: string | undefined;
    const sp = join(dir, 'special_tokens_map.json');
    if (existsSync(sp)) {
      try {
        const m = JSON.parse(readFileSync(sp, 'utf8')) as { pad_token?: string | { content?: string } };
        padToken = typeof m.pad_token === 'string' ? m.pad_token : m.pad_token?.content;
      } catch {
        /* optional file */
      }
    }
    return new ClipTokenizer({ vocab, merges, padToken }, join(dir, 'vocab.json'));
  }

  /** BPE of one pre-tokenized piece (already in byte symbols), as '</w>'-terminated subwords. */
  bpe(piece: string): string[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const chars = [...piece];
    let word = [...chars.slice(0, -1), `${chars.at(-1)}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else next.push(word[i++]!);
      }
      word = next;
    }
    this.cache.set(piece, word);
    return word;
  }

  /** Token ids of the text without BOS/EOS. */
  encodeText(text: string): number[] {
    const clean = htmlUnescape(htmlUnescape(text)).replace(/\s+/g, ' ').trim().toLowerCase();
    const ids: number[] = [];
    const enc = new TextEncoder();
    for (const m of clean.matchAll(PATTERN)) {
      const sym = Array.from(enc.encode(m[0]), (b) => this.byteSym[b]!).join('');
      for (const t of this.bpe(sym)) {
        const id = this.files.vocab[t];
        if (id === undefined) throw new MagicPortraitError(`${this.source}: BPE produced '${t}', which is not in the vocabulary (vocab.json and merges.txt do not match).`, 'bad-file');
        ids.push(id);
      }
    }
    return ids;
  }

  /** `tokenizer(text, padding="max_length", max_length, truncation=True).input_ids`. */
  encode(text: string, maxLength = 77): number[] {
    const body = this.encodeText(text).slice(0, Math.max(0, maxLength - 2));
    const ids = [this.bosId, ...body, this.eosId];
    while (ids.length < maxLength) ids.push(this.padId);
    return ids;
  }
}

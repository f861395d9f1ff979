/**
 * The CLIP BPE tokenizer on the synthetic vocabulary of golden/import_synthetic.py (CLIP's vocab.json order: 256 byte
 * symbols, the same with '</w>', one token per merge, then the two specials), whose ids follow from its construction,
 * and on a vocabulary with the real file's size, where the specials are 49406 / 49407.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipTokenizer, bytesToUnicode } from '../../src/kernel/diffusion/tokenizer';
import { MagicPortraitError } from '../../src/kernel/errors';
import { unpackSynthetic } from './import-helpers';

let root: string;
let tok: ClipTokenizer;
const sym = bytesToUnicode();
/** id of a single-byte symbol with '</w>' in CLIP's vocab order: 256 + its position among the byte symbols. */
const order = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b);
  return bs;
})();
const endId = (ch: string) => 256 + order.indexOf(ch.charCodeAt(0));

before(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-tok-'));
  const p = unpackSynthetic(join(root, 's'));
  tok = ClipTokenizer.fromDir(join(p.sd15Dir, 'tokenizer'));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('byte symbols: printable ASCII maps to itself, space and control bytes are shifted past U+0100', () => {
  assert.equal(sym[0x61], 'a');
  assert.equal(sym[0x20], 'Ġ');
  assert.equal(sym[0x0a], 'Ċ');
  assert.equal(new Set(sym).size, 256);
});

test('the reference prompt on the synthetic vocabulary', () => {
  // merges: 0 'c l', 1 'cl o', 2 'clo s', 3 'clos e</w>', 4 'u p</w>', 5 'o f</w>', 6 'p e', 7 'pe r', 8 'per s', 9 'o n</w>'
  // → 'close</w>' = 512+3, 'up</w>' = 516, 'of</w>' = 517, 'person' = 'pers' (520) + 'on</w>' (521); specials 522, 523
  assert.equal(tok.bosId, 522);
  assert.equal(tok.eosId, 523);
  const ids = tok.encode('A close up of a person.');
  assert.equal(ids.length, 77);
  assert.deepEqual(ids.slice(0, 10), [522, endId('a'), 515, 516, 517, endId('a'), 520, 521, endId('.'), 523]);
  assert.ok(ids.slice(10).every((i) => i === 523), 'padded with <|endoftext|>');
  // case, whitespace and html entities are normalised; unmerged pieces stay split into byte symbols
  assert.deepEqual(tok.encodeText('  CLOSE \n\t up &amp;'), [515, 516, endId('&')]);
  assert.deepEqual(tok.encodeText('cup'), [order.indexOf(0x63), 516], "'c' alone (byte symbol id), then the 'u p</w>' merge");
  assert.deepEqual(tok.encodeText('pup'), [order.indexOf(0x70), 516]);
  // truncation keeps BOS … EOS within max_length
  const long = tok.encode('up '.repeat(100));
  assert.equal(long.length, 77);
  assert.equal(long[0], 522);
  assert.equal(long[76], 523);
  assert.ok(long.slice(1, 76).every((i) => i === 516));
});

test('a vocabulary with the real layout size gives BOS 49406, EOS 49407, padding to 77', () => {
  const vocab: Record<string, number> = {};
  const syms = order.map((b) => sym[b]!);
  const all = [...syms, ...syms.map((s) => `${s}</w>`)];
  for (let i = 0; i < 48894; i++) all.push(`<merge${i}>`); // stand-ins for the 48894 merge products
  all.push('<|startoftext|>', '<|endoftext|>');
  all.forEach((t, i) => (vocab[t] = i));
  const t = new ClipTokenizer({ vocab, merges: [] });
  assert.equal(t.bosId, 49406);
  assert.equal(t.eosId, 49407);
  const ids = t.encode('a');
  assert.deepEqual(ids.slice(0, 3), [49406, endId('a'), 49407]);
  assert.equal(ids.length, 77);
  assert.equal(ids[76], 49407);
});

test('broken tokenizer files are named', () => {
  const d = join(root, 'broken');
  mkdirSync(d, { recursive: true });
  assert.throws(() => ClipTokenizer.fromDir(d), (e: unknown) => e instanceof MagicPortraitError && /vocab\.json/.test(e.message));
  writeFileSync(join(d, 'vocab.json'), JSON.stringify({ a: 0 }));
  writeFileSync(join(d, 'merges.txt'), '#version: 0.2\n');
  assert.throws(() => ClipTokenizer.fromDir(d), (e: unknown) => e instanceof MagicPortraitError && /<\|startoftext\|>/.test(e.message));
});

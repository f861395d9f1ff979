/**
 * The `mp` table: every `mp.…` name the example notebooks and the README use is there, and the table holds names
 * only — each entry a stage or helper of pipeline/ (or a domain function), no logic of its own in mp.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mp } from '../src/kernel/mp';

const root = join(__dirname, '..');

test('every mp name the notebooks and the README use is in the table', () => {
  const texts = [
    ...readdirSync(join(root, 'notebooks')).filter((f) => f.endsWith('.mpnb')).map((f) => readFileSync(join(root, 'notebooks', f), 'utf8')),
    readFileSync(join(root, 'README.md'), 'utf8'),
  ];
  const names = new Set<string>();
  // `mp.ts` in prose is the file, not a name
  for (const t of texts) for (const m of t.matchAll(/\bmp((?:\.[A-Za-z_$][\w$]*)+)/g)) if (m[1] !== '.ts') names.add(m[1]!);
  assert.ok(names.size > 20, `${names.size} names found`);
  const missing = [...names].filter((n) => {
    let o: unknown = mp;
    for (const p of n.slice(1).split('.')) {
      if (o === null || o === undefined || !(p in Object(o))) return true;
      o = (o as Record<string, unknown>)[p];
    }
    return false;
  });
  assert.deepEqual(missing, []);
});

test('mp.ts is a table: no arrow functions, no `new`, no statements beyond the table', () => {
  const src = readFileSync(join(root, 'src/kernel/mp.ts'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  assert.doesNotMatch(src, /=>/, 'adapters belong in pipeline/');
  assert.doesNotMatch(src, /\bnew\s+[A-Z]/, 'constructors belong in pipeline/');
  // the two getters (the running cell's signal, the stage cache) each return one call
  const getters = [...src.matchAll(/get\s+\w+\(\)[^{]*\{([^}]*)\}/g)].map((m) => m[1]!.trim());
  assert.equal(getters.length, 2);
  for (const g of getters) assert.match(g, /^return [\w.]+\(\);$/);
});

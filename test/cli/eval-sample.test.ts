// `magicportrait eval` on the committed sample manifest (notebooks/eval/sample-pairs.json, the shared sample clips):
// the table, the HTML report, and a re-run that finds every pair done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../runtime/kernel-harness';

const manifest = join(repoRoot, 'notebooks', 'eval', 'sample-pairs.json');
const haveData = existsSync(join(repoRoot, '..', 'shared', 'data', 'liveportrait', 'd0.mp4'));

function evalCli(out: string) {
  const args = ['--import', 'tsx', join(repoRoot, 'src/kernel/cli/main.ts'), 'eval', '--manifest', manifest, '--out', out, '--cache', join(out, '..', 'cache')];
  return spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
}

test('eval on the sample manifest writes the table and the report; a re-run computes nothing', { skip: !haveData && 'needs ../shared/data' }, () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mp-eval-sample-')), 'eval');
  const r = evalCli(out);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout + r.stderr, /6 pair\(s\): 6 computed, 0 already done, 0 failed/);
  const table = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  const row = (id: string) => table.rows.find((x: { id: string }) => x.id === id);
  assert.equal(table.rows.length, 6);
  // a clip scored against itself: the identity of every full-reference metric
  for (const id of ['self-driving-itself', 'self-d0-itself']) {
    assert.equal(row(id).values.psnr, 'inf', id);
    assert.equal(row(id).values.ssim, 1, id);
    assert.ok(row(id).values.csim > 0.95, `${id} csim ${row(id).values.csim}`);
  }
  // another person's clip as the "generation": low fidelity, lower identity
  const wrong = row('self-d0-generated-d3').values;
  assert.ok(wrong.psnr < 20 && wrong.ssim < 0.7, JSON.stringify(wrong));
  assert.ok(wrong.csim < row('self-d0-itself').values.csim);
  // cross-reenactment has no ground truth: identity only
  for (const id of ['cross-boy-driving', 'cross-s1-d0', 'cross-s5-d3']) assert.deepEqual(Object.keys(row(id).values), ['csim'], id);
  // CSV: header, one line per pair, then the per-mode means
  const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), [...table.rows.map((x: { id: string }) => x.id), 'mean(self)', 'mean(cross)']);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (const id of table.rows.map((x: { id: string }) => x.id)) assert.ok(html.includes(id), id);

  const again = evalCli(out);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout + again.stderr, /6 pair\(s\): 0 computed, 6 already done, 0 failed/);
});

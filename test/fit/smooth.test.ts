import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { butter2, diffVariance, fillGaps, filtfilt, lfilterZi, oneEuro, smoothSeries } from '../../src/kernel/fit/smooth';

const golden = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'smooth.json'), 'utf8')) as {
  butter: { wn: number; b: number[]; a: number[]; zi: number[] }[];
  filtfilt: { wn: number; x: number[]; y: number[] }[];
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

test('Butterworth design and lfilter_zi equal scipy (golden)', () => {
  for (const g of golden.butter) {
    const { b, a } = butter2(g.wn);
    assert.ok(maxDiff(b, g.b) < 1e-12 && maxDiff(a, g.a) < 1e-12, `wn ${g.wn}`);
    assert.ok(maxDiff(lfilterZi(b, a), g.zi) < 1e-12, `zi wn ${g.wn}`);
  }
});

test('filtfilt equals scipy.signal.filtfilt (odd padding, incl. short series)', () => {
  for (const g of golden.filtfilt) {
    const { b, a } = butter2(g.wn);
    const y = filtfilt(b, a, g.x);
    assert.ok(maxDiff(y, g.y) < 1e-10, `n=${g.x.length}: ${maxDiff(y, g.y)}`);
  }
});

test('zero phase: a smoothed sine is not delayed; one-euro lags but follows', () => {
  const fps = 25, n = 200;
  const x = Float64Array.from({ length: n }, (_, t) => Math.sin((2 * Math.PI * 1 * t) / fps));
  const { b, a } = butter2(4 / (fps / 2));
  const y = filtfilt(b, a, x);
  // cross-correlation peak at lag 0
  const corr = (lag: number) => { let s = 0; for (let t = 20; t < n - 20; t++) s += x[t]! * y[t + lag]!; return s; };
  assert.ok(corr(0) > corr(1) && corr(0) > corr(-1));
  const e = oneEuro(x, fps);
  assert.ok(maxDiff(e.slice(50), x.slice(50)) < 0.5);
});

test('gap filling interpolates inside and holds at the ends; jitter measure', () => {
  const s = Float64Array.of(0, 0, 1, 10, 0, 0, 3, 30, 0, 0);
  const st = fillGaps(s, 2, [0, 1, 0, 1, 0]);
  assert.deepEqual(st, ['held', 'ok', 'interpolated', 'ok', 'held']);
  assert.deepEqual(Array.from(s), [1, 10, 1, 10, 2, 20, 3, 30, 3, 30]);
  const v = diffVariance(Float64Array.of(0, 1, 0, 1, 0, 1), 1);
  assert.ok(Math.abs(v[0]! - 1.2) < 1e-12);
  const sm = smoothSeries(Float64Array.of(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1), 1, 24, 3, { method: 'filtfilt' });
  assert.ok(diffVariance(sm, 1)[0]! < 0.1);
});

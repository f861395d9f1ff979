import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from '../../src/kernel/runtime/progress';
import { type ProgressState } from '../../src/shared/outputs';
import { MIME } from '../../src/shared/outputs';

test('ticks are throttled but every new phase is sent at once, and the last state is complete', () => {
  const sent: ProgressState[] = [];
  const p = new Progress('Sampling', 4, (b) => sent.push(b[MIME.progress] as ProgressState), 'calls', 60_000);
  p.setDetail('step 1/2');
  p.tick();
  p.tick(); // throttled: same phase, well inside the throttle window
  p.setDetail('step 2/2');
  p.setDetail('step 2/2'); // unchanged: not sent again
  p.tick();
  p.tick(); // reaches the total: always sent
  p.finish();
  assert.deepEqual(
    sent.map((s) => s.label),
    ['Sampling', 'Sampling: step 1/2', 'Sampling: step 2/2', 'Sampling: step 2/2', 'Sampling: step 2/2'],
  );
  assert.deepEqual(sent.map((s) => s.done), [0, 0, 2, 4, 4]);
  assert.equal(sent.at(-1)!.finished, true);
});

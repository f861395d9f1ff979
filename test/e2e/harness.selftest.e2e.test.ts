// Self-test of the E2E harness against a generated probe extension (test/e2e/probe-extension.ts): packaged as a
// .vsix with the pinned vsce, installed with `code-server --install-extension`, then every harness helper is used
// once against a real VS Code 1.100.3.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cellOutputText, cellStates, ensureTools, executeCommand, interruptExecution, openNotebook, outputFrame, packageVsix,
  runAllCells, runCell, screenshot, waitForCellsDone, withVSCode,
} from './harness';
import { PROBE, probeNotebook, writeProbeExtension } from './probe-extension';

// First use installs the tools (minutes): do it outside the test's timeout. A no-op once installed.
before(() => ensureTools());

test('harness self-test: probe notebook runs, renders, messages, interrupts, screenshots', { timeout: 120_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mp-probe-'));
  try {
    // Packaged once per probe change (cached by content hash), installed with code-server --install-extension.
    const vsix = packageVsix(writeProbeExtension(join(tmp, 'ext')));
    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    writeFileSync(
      join(ws, 'a.probenb'),
      probeNotebook([
        { kind: 'markdown', source: '# Probe notebook' },
        'print hello world', //   1: text/plain
        'render world', //        2: custom renderer + messaging
        'fail boom', //           3: error output
        'sleep 600000', //        4: long-running, interrupted below
      ]),
    );

    await withVSCode({ name: 'harness-selftest', workspace: ws, extensions: vsix }, async (vs) => {
      const { page } = vs;
      await openNotebook(page, 'a.probenb', { kernel: PROBE.controllerLabel });
      await runAllCells(page);

      assert.equal(await cellOutputText(page, 1), 'hello world');
      const out = outputFrame(page);
      await out.locator('.probe-rendered .probe-title', { hasText: 'PROBE RENDERER: world' }).waitFor();
      // Renderer -> extension host ('ping') -> renderer ('pong ...'): the messaging round trip.
      await out.locator('.probe-rendered .probe-msg', { hasText: 'pong from extension host' }).waitFor();
      assert.match(await cellOutputText(page, 3), /ProbeError: boom/);

      await cellOutputText(page, 4, { match: 'sleeping 600000' });
      await interruptExecution(page);
      assert.equal(await cellOutputText(page, 4, { match: 'interrupted' }), 'interrupted');

      const done = await waitForCellsDone(page, 4, { timeout: 30_000 });
      assert.deepEqual(done.success, [1, 2]);
      assert.deepEqual(done.error, [3, 4]); // the failing cell and the interrupted one
      const png = await screenshot(page, 'harness-selftest'); // every kind of output on screen
      assert.ok(png.endsWith('harness-selftest.png'));

      // Single-cell run after the interrupt, then a command from the palette.
      await runCell(page, 4);
      await cellOutputText(page, 4, { match: 'sleeping' });
      await interruptExecution(page);
      await executeCommand(page, 'Notebook: Clear All Outputs');
      await outputFrame(page).locator('.probe-rendered').waitFor({ state: 'detached' });
      assert.deepEqual(await cellStates(page), ['markdown', 'idle', 'idle', 'idle', 'idle']);
      await runCell(page, 2);
      assert.deepEqual((await waitForCellsDone(page, 1)).success, [2]);
      await cellOutputText(page, 2, { match: 'pong from extension host' });

      assert.match(vs.outputChannelLog(PROBE.outputChannel), /activated; vscode\.version=1\.100\.3/);
      assert.match(vs.outputChannelLog(PROBE.outputChannel), /interruptHandler/);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

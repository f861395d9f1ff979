// The Model manager panel in real VS Code (code-server) with the packaged extension: opened from the command palette,
// the folder fields typed in (dialogs do not work headless) with a synthetic full set of downloads, found/missing and
// the estimate shown, an Import cancelled (no manifest), then Import run to the end and the key coverage report read
// from the DOM and checked against the bundle's manifest on disk; a second Import keeps every step (same hashes); a
// reopened panel remembers the folders. Screenshots: test-results/e2e/model-manager{,-scan}.png.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTools, executeCommand, screenshot, waitForExtensionHost, withVSCode, type Page } from './harness';
import { packagedExtension } from './extension-package';
import { syntheticDownloads } from '../models/helpers';
import type { ModelBundleManifest } from '../../src/shared/model-manager';

let vsix = '';
before(() => {
  ensureTools();
  vsix = packagedExtension();
});

/** The panel's DOM: page > iframe.webview (the panel) > iframe#active-frame. */
const panel = (page: Page) => page.locator('iframe.webview.ready').contentFrame().locator('#active-frame').contentFrame();

test('model manager imports a synthetic full set end to end and shows 100% key coverage', { timeout: 600_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'mp-e2e-models-'));
  try {
    const ws = join(root, 'ws');
    mkdirSync(ws);
    const dl = syntheticDownloads(join(root, 'downloads'));
    // The synthetic checkpoints have small widths: the importers are told so through the documented setting.
    const archFile = join(root, 'synthetic-architecture.json');
    writeFileSync(archFile, JSON.stringify(dl.architecture));
    const bundle = join(root, 'bundles', 'magicportrait');
    const settings = { 'magicportrait.models.architectureFile': archFile };
    await withVSCode({ name: 'model-manager', workspace: ws, extensions: vsix, settings, viewport: { width: 1400, height: 1150 } }, async ({ page }) => {
      // the palette lists the commands known when it opens: wait until the extensions are registered
      await waitForExtensionHost(page);
      await executeCommand(page, 'MagicPortrait: Open Model Manager', { timeout: 60_000 });
      const ui = panel(page);
      // the first scan (nothing set yet) builds one field per folder the service knows
      await ui.locator('#mm-field-magicportrait').waitFor({ timeout: 60_000 });
      assert.equal(await ui.locator('#mm-import[disabled]').count(), 1, 'Import is disabled before anything is set');
      for (const [id, path] of Object.entries(dl.folders)) await ui.locator(`#mm-field-${id} input`).fill(path);
      await ui.locator('#mm-field-out input').fill(bundle);
      await ui.locator('#mm-precision-fp32').click();

      // found / missing per file and every step ready, with the estimate from the headers
      for (const step of ['diffusion', 'flame', 'deca', 'smirk']) await ui.locator(`#mm-steps li[data-step="${step}"][data-status="ready"]`).waitFor({ timeout: 60_000 });
      await ui.locator('#mm-estimate', { hasText: /Needs about [\d.]+ MiB of disk and [\d.]+ MiB of memory/ }).waitFor({ timeout: 60_000 });
      assert.equal(await ui.locator('#mm-files-magicportrait li.mm-found').count(), 6);
      assert.equal(await ui.locator('#mm-files-sd15 li.mm-missing').count(), 0);
      assert.match(await ui.locator('#mm-files-magicportrait li[data-file="motion_module*.pth"]').innerText(), /motion_module-47360\.pth \([\d.]+ KiB\)/);
      assert.match(await ui.locator('#mm-files-sd15 li[data-file="tokenizer/special_tokens_map.json"]').innerText(), /optional, not there/);
      await screenshot(page, 'model-manager-scan');

      // Cancel right after Import: the import stops, says so, and leaves no manifest
      await ui.locator('#mm-import:not([disabled])').click();
      await ui.locator('#mm-cancel').click();
      await ui.locator('#mm-error', { hasText: 'Cancelled: The import was cancelled.' }).waitFor({ timeout: 120_000 });
      assert.ok(!existsSync(join(bundle, 'manifest.json')), 'a cancelled import leaves no manifest');
      assert.equal(await ui.locator('#mm-coverage-summary').count(), 0);

      await ui.locator('#mm-import:not([disabled])').click();
      const summary = ui.locator('#mm-coverage-summary');
      await summary.waitFor({ timeout: 300_000 });
      const shown = await summary.evaluate((el: any) => ({ ...el.dataset, text: el.textContent as string }));
      assert.equal(shown.percent, '100.0', shown.text);
      assert.equal(shown.unexpected, '0');
      assert.equal(shown.accounted, shown.keys);
      assert.match(await ui.locator('#mm-progress-text').innerText(), /^100% · done/);
      // the numbers shown are the bundle's own: its manifest (written last) lists the same keys per step
      const m = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as ModelBundleManifest;
      const keys = Object.values(m.steps).flatMap((s) => s.coverage).reduce((a, r) => a + (r.total ?? 0), 0);
      assert.equal(Number(shown.keys), keys);
      assert.ok(keys > 2000);
      const rows = ui.locator('vscode-collapsible[data-step="diffusion"] tr.mm-coverage-row');
      assert.equal(await rows.count(), m.steps.diffusion!.coverage.length);
      assert.deepEqual(new Set(await ui.locator('td.mm-pct').allInnerTexts()), new Set(['100.0%']));
      assert.equal(await ui.locator('vscode-collapsible[data-status="imported"]').count(), 4);
      await summary.evaluate((el: any) => el.scrollIntoView({ block: 'start' }));
      await screenshot(page, 'model-manager');

      // re-import: nothing changed, every step kept
      await ui.locator('#mm-import:not([disabled])').click();
      await ui.locator('vscode-collapsible[data-step="smirk"][data-status="unchanged"]').waitFor({ timeout: 120_000 });
      assert.equal(await ui.locator('vscode-collapsible[data-status="unchanged"]').count(), 4);

      // the folders are remembered: a reopened panel shows them again, all found
      await executeCommand(page, 'View: Close All Editors');
      await ui.locator('#mm-field-sd15').waitFor({ state: 'detached', timeout: 30_000 });
      await executeCommand(page, 'MagicPortrait: Open Model Manager');
      await ui.locator('#mm-steps li[data-step="diffusion"][data-status="ready"]').waitFor({ timeout: 60_000 });
      for (const [id, path] of Object.entries(dl.folders)) assert.equal(await ui.locator(`#mm-field-${id}`).evaluate((el: any) => el.value), path, id);
      assert.equal(await ui.locator('#mm-field-out').evaluate((el: any) => el.value), bundle);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

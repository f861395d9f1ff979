// What leads a new user to the examples, in real VS Code (code-server) with the packaged .vsix installed and nothing
// else (no ../shared data): the Getting Started walkthrough (open the quickstart → choose a photo and a video → the
// Model Manager), MagicPortrait: Open Example Notebook… (the quick pick lists every notebook the package ships; the
// copied face-perception example runs on its shipped inputs) and MagicPortrait: New Notebook from File → New File….
// Screenshots: test-results/e2e/examples-*.png.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NOTEBOOK, REPO, cellOutputText, ensureTools, executeCommand, outputFrame, revealCell, runAllCells, screenshot, selectKernel, waitForCellsDone, waitForExtensionHost,
  withVSCode, type Page,
} from './harness';
import { packagedExtension } from './extension-package';
import { listExamples } from '../../src/extension/examples';
import { parametersCellIndex, parseNotebook } from '../../src/kernel/notebook/nbformat';

let vsix = '';
before(() => {
  ensureTools();
  vsix = packagedExtension();
});

const STEP = (id: string) => `button.getting-started-step[data-step-id="magicportrait.magicportrait-studio#gettingStarted#${id}"]`;

/** Waits for the editor tab `name` to be active and its notebook cells to render, then for the kernel label. */
async function notebookShown(page: Page, name: string): Promise<void> {
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: 60_000 });
  await page.locator(`${NOTEBOOK} .cell-list-container .monaco-list-row`).first().waitFor({ state: 'attached', timeout: 60_000 });
  await selectKernel(page, 'MagicPortrait');
}

/** Clicks a walkthrough step, then the action button (or link) with `label` in its description. */
async function stepAction(page: Page, step: string, label: string): Promise<void> {
  await page.locator('.tabs-container .tab', { hasText: 'Walkthrough: MagicPortrait Studio' }).click();
  await page.locator(STEP(step)).click();
  const desc = page.locator(`.step-description-container[x-step-description-for="magicportrait.magicportrait-studio#gettingStarted#${step}"]`);
  await desc.getByRole('button', { name: label }).or(desc.getByRole('link', { name: label })).first().click();
}

/** Answers VS Code's own (simple) file dialog, which the browser build always uses, with a path. */
async function answerFileDialog(page: Page, title: RegExp, path: string): Promise<void> {
  const widget = page.locator('.quick-input-widget:visible');
  await widget.locator('.quick-input-title', { hasText: title }).waitFor({ timeout: 30_000 });
  const input = widget.locator('input.input').first();
  const shown = widget.locator('.quick-input-title', { hasText: title });
  // The dialog validates the typed path asynchronously (a stat through the remote file system) and ignores an Enter
  // that arrives before; on a loaded machine that takes seconds, so type, wait, and press again until it closes.
  for (let attempt = 0; ; attempt++) {
    if ((await input.inputValue().catch(() => '')) !== path) await input.fill(path);
    await page.waitForTimeout(500 + 500 * attempt);
    await input.press('Enter');
    try {
      await shown.waitFor({ state: 'hidden', timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 8) throw e;
    }
  }
}

test('walkthrough, Open Example Notebook and New Notebook work from the installed .vsix, without the repository’s data', { timeout: 900_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'mp-e2e-examples-'));
  try {
    const ws = join(root, 'ws');
    mkdirSync(join(ws, 'mine'), { recursive: true });
    // "your" photo and video for the walkthrough's second step (any photo / clip: the package's own inputs, renamed)
    copyFileSync(join(REPO, 'notebooks', 'inputs', 'astronaut.jpg'), join(ws, 'mine', 'me.jpg'));
    copyFileSync(join(REPO, 'notebooks', 'inputs', 'demo-driving.mp4'), join(ws, 'mine', 'clip.mp4'));
    const settings = { 'magicportrait.cacheDir': join(root, 'cache'), 'files.simpleDialog.enable': true };
    await withVSCode({ name: 'examples', workspace: ws, extensions: vsix, viewport: { width: 1500, height: 1000 }, settings }, async (vs) => {
      const { page } = vs;
      await waitForExtensionHost(page);

      // --- The Getting Started walkthrough, found where VS Code lists walkthroughs
      await executeCommand(page, 'Welcome: Open Walkthrough...', { timeout: 60_000 });
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Get Started with MagicPortrait Studio' }).click();
      for (const id of ['install', 'quickstart', 'inputs', 'models']) await page.locator(STEP(id)).waitFor({ timeout: 30_000 });
      assert.deepEqual(
        (await page.locator('button.getting-started-step .step-title').allInnerTexts()).map((t: string) => t.trim()),
        ['Install MagicPortrait Studio', 'Open the quickstart', 'Point at your photo and video', 'Import your models'],
      );
      await page.locator(STEP('quickstart')).click();
      await screenshot(page, 'examples-walkthrough');

      // Step 2: Open the quickstart → a copy in the workspace, opened with the MagicPortrait kernel
      await stepAction(page, 'quickstart', 'Open the Quickstart');
      await notebookShown(page, 'quickstart.mpnb');
      assert.deepEqual(readFileSync(join(ws, 'quickstart.mpnb')), readFileSync(join(REPO, 'notebooks', 'quickstart.mpnb')));
      await screenshot(page, 'examples-walkthrough-quickstart');

      // Step 3: Point at your photo and video → the two file dialogs → the quickstart's parameters cell
      await stepAction(page, 'inputs', 'Choose Photo and Video…');
      await answerFileDialog(page, /portrait photo/, join(ws, 'mine', 'me.jpg'));
      await answerFileDialog(page, /driving video/, join(ws, 'mine', 'clip.mp4'));
      await page.locator('.notifications-toasts', { hasText: 'Set reference = "mine/me.jpg" and driving = "mine/clip.mp4"' }).waitFor({ timeout: 30_000 });
      await notebookShown(page, 'quickstart.mpnb');
      await revealCell(page, 1);
      await screenshot(page, 'examples-walkthrough-inputs');
      await page.keyboard.press('Control+S');
      let params = '';
      for (let i = 0; i < 100 && !params.includes('mine/me.jpg'); i++) {
        await page.waitForTimeout(100);
        const nb = (() => {
          try {
            return parseNotebook(readFileSync(join(ws, 'quickstart.mpnb'), 'utf8'));
          } catch {
            return null; // being written
          }
        })();
        params = nb ? (nb.cells[parametersCellIndex(nb)]?.source ?? '') : '';
      }
      assert.match(params, /^const reference = 'mine\/me\.jpg';\s+\/\/ a portrait/m);
      assert.match(params, /^const driving = 'mine\/clip\.mp4';\s+\/\/ a driving video/m);

      // Step 4: Import your models → the Model Manager panel
      await stepAction(page, 'models', 'Open the Model Manager');
      const panel = page.locator('iframe.webview.ready').last().contentFrame().locator('#active-frame').contentFrame();
      await panel.locator('#mm-field-magicportrait').waitFor({ timeout: 60_000 });
      await screenshot(page, 'examples-walkthrough-models');
      await page.locator('.tabs-container .tab', { hasText: 'Walkthrough: MagicPortrait Studio' }).click();
      // each step's action completed it
      for (const id of ['install', 'quickstart', 'inputs', 'models']) assert.equal(await page.locator(STEP(id)).getAttribute('aria-checked'), 'true', id);
      await screenshot(page, 'examples-walkthrough-done');
      await executeCommand(page, 'View: Close All Editors');

      // --- Open Example Notebook…: every notebook the package ships, described by its own first cell
      await executeCommand(page, 'MagicPortrait: Open Example Notebook…');
      const rows = page.locator('.quick-input-list .monaco-list-row');
      const examples = listExamples(join(REPO, 'notebooks'));
      await rows.first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(500);
      const labels: string[] = await rows.evaluateAll((rs: any[]) => rs.map((r) => String(r.querySelector('.label-name')?.textContent ?? '').trim()));
      assert.deepEqual(labels, examples.map((e) => e.title));
      await screenshot(page, 'examples-open-example-pick');
      await rows.filter({ hasText: 'Face perception on real images' }).click();
      await notebookShown(page, 'face-perception.mpnb');
      for (const f of ['astronaut.jpg', 'demo-driving.mp4', 'README.md']) assert.ok(existsSync(join(ws, 'inputs', f)), `inputs/${f} copied`);
      await runAllCells(page);
      const done = await waitForCellsDone(page, 4, { timeout: 300_000 });
      assert.deepEqual(done.error, []);
      assert.match(await cellOutputText(page, 3, { match: 'frames without a face' }), /frames without a face: 0/);
      await revealCell(page, 2);
      await outputFrame(page).locator('img').first().waitFor({ timeout: 30_000 });
      await screenshot(page, 'examples-face-perception');

      // --- New Notebook from File → New File… (the application menu), then from the palette
      await executeCommand(page, 'View: Close All Editors');
      await page.locator('.menubar .menubar-menu-button').first().click();
      await page.getByRole('menuitem', { name: 'File', exact: true }).hover();
      const newFile = page.getByRole('menuitem', { name: /^New File(\.\.\.|…)/ });
      await newFile.waitFor({ timeout: 10_000 });
      await page.waitForTimeout(300); // the submenu opens with a short delay
      await newFile.click();
      const entry = page.locator('.quick-input-list .monaco-list-row', { hasText: 'MagicPortrait Notebook' });
      await entry.waitFor({ timeout: 30_000 });
      await screenshot(page, 'examples-new-file');
      await entry.click();
      await page.locator('.tabs-container .tab.active', { hasText: /Untitled-\d+/ }).waitFor({ timeout: 60_000 });
      await selectKernel(page, 'MagicPortrait');
      await runAllCells(page);
      const fresh = await waitForCellsDone(page, 2, { timeout: 300_000 });
      assert.deepEqual(fresh.error, []);
      assert.match(await cellOutputText(page, 2, { match: 'MagicPortrait kernel' }), /MagicPortrait kernel \d+\.\d+\.\d+ on Node v/);
      // the portrait display (an image)
      await outputFrame(page).locator('img').first().waitFor({ timeout: 30_000 });
      await screenshot(page, 'examples-new-notebook');
      await executeCommand(page, 'MagicPortrait: New Notebook');
      await page.locator('.tabs-container .tab', { hasText: /Untitled-\d+/ }).nth(1).waitFor({ timeout: 60_000 });
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// The packaged extension in real VS Code (code-server 1.100.3) under headless Chromium: the quickstart notebook runs
// end to end with its custom renderers, the mesh viewer draws and its jaw slider changes the picture, a busy cell is
// interrupted (kill + restart) and the next cell runs. Screenshots land in test-results/e2e/.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO, cellOutputText, ensureTools, scrollNotebookBy, interruptExecution, openNotebook, outputFrame, revealCell, runAllCells, runCell, screenshot,
  waitForCellsDone, withVSCode,
} from './harness';
import { packagedExtension } from './extension-package';
import { newCodeCell, parseNotebook, serializeNotebook } from '../../src/kernel/notebook/nbformat';
import { DEMO_MODEL_LABEL } from '../../src/kernel/diffusion/demo-model';

let vsix = '';
before(() => {
  ensureTools();
  vsix = packagedExtension();
});

/** Code cells of the quickstart, by their position among all cells (markdown included), and their count. */
function quickstartLayout() {
  const nb = parseNotebook(readFileSync(join(REPO, 'notebooks', 'quickstart.mpnb'), 'utf8'));
  const index = (needle: string) => nb.cells.findIndex((c) => c.kind === 'code' && c.source.includes(needle));
  return { codeCells: nb.cells.filter((c) => c.kind === 'code').length, version: index('mp.version'), head: index('mp.flame.view'), guidance: index('mp.renderGuidance'), preview: index('mp.preview'), sample: index('mp.sample'), metrics: index('mp.metrics') };
}

test('quickstart runs end to end in real VS Code with the packaged extension', { timeout: 900_000 }, async () => {
  const ws = mkdtempSync(join(tmpdir(), 'mp-e2e-ws-'));
  const t0 = Date.now();
  try {
    copyFileSync(join(REPO, 'notebooks', 'quickstart.mpnb'), join(ws, 'quickstart.mpnb'));
    // These examples run on the inputs they ship with (test/e2e/examples.e2e.test.ts runs them so); here they run on
    // the real sample data: their parameters point at it.
    const shared = join(REPO, '..', 'shared', 'data');
    const onSharedData = (name: string, portrait: string) =>
      writeFileSync(
        join(ws, `${name}.mpnb`),
        readFileSync(join(REPO, 'notebooks', `${name}.mpnb`), 'utf8')
          .replaceAll("'inputs/astronaut.jpg'", `'${join(shared, 'magicportrait', portrait)}'`)
          .replaceAll("'inputs/demo-driving.mp4'", `'${join(shared, 'magicportrait', 'driving.mp4')}'`),
      );
    onSharedData('attention', 'boy_cropped.jpg');
    onSharedData('reenact', 'boy_cropped.jpg');
    onSharedData('face-perception', 'boy.jpeg');
    writeFileSync(
      join(ws, 'interrupt.mpnb'),
      serializeNotebook({ metadata: {}, cells: [newCodeCell('const kept = 41;'), newCodeCell('while (true) {}'), newCodeCell('console.log(`after restart: ${typeof kept}`)')] }),
    );
    const L = quickstartLayout();
    // Fresh stage caches for the editor's kernel and the CLI run, so both compute every stage (same outputs).
    const cacheDir = (name: string) => join(ws, '..', `${name}-${Date.now()}`);
    // The setting can be read after the kernel starts (code-server loads user settings asynchronously), so the same
    // folder also reaches the kernel through the environment it inherits; a warm ~/.cache would otherwise hide stages.
    const editorCache = cacheDir('mp-e2e-cache');
    const settings = { 'magicportrait.cacheDir': editorCache };
    const envBefore = process.env.MAGICPORTRAIT_CACHE;
    process.env.MAGICPORTRAIT_CACHE = editorCache;
    await withVSCode({ name: 'quickstart', workspace: ws, extensions: vsix, viewport: { width: 1500, height: 1000 }, settings }, async (vs) => {
      const { page } = vs;
      await openNotebook(page, 'quickstart.mpnb', { kernel: 'MagicPortrait' });
      await runAllCells(page);
      const done = await waitForCellsDone(page, L.codeCells, { timeout: 600_000 });
      assert.equal(done.error.length, 0, `failed cells: ${done.error.join(', ')}`);
      assert.match(await cellOutputText(page, L.version), /MagicPortrait kernel 0\.1\.0 on Node v/);
      const out = outputFrame(page);

      // Mesh viewer: a WebGL canvas with a drawn head; moving the jaw slider changes the pixels.
      await revealCell(page, L.head);
      const canvas = out.locator('canvas.mp-mesh-canvas');
      await canvas.waitFor({ timeout: 60_000 });
      const pixels = () => canvas.evaluate((c: any) => c.toDataURL('image/png') as string);
      const before = await pixels();
      const lit = await canvas.evaluate((c: any) => {
        const g = (globalThis as any).document.createElement('canvas');
        g.width = c.width;
        g.height = c.height;
        const x = g.getContext('2d');
        x.drawImage(c, 0, 0);
        const d = x.getImageData(0, 0, g.width, g.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 30) + Math.abs(d[i + 1] - 30) + Math.abs(d[i + 2] - 30) > 30) n++;
        return n / (d.length / 4);
      });
      // A head in front of the background: neither an empty canvas nor a camera inside the mesh.
      assert.ok(lit > 0.05 && lit < 0.9, `mesh canvas is ${(lit * 100).toFixed(1)}% non-background`);
      await screenshot(page, 'quickstart-mesh');
      await out.locator('input.mp-slider-jaw').evaluate((el: any) => {
        el.value = '0.45';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      assert.notEqual(await pixels(), before, 'the jaw slider re-posed the mesh');
      await screenshot(page, 'quickstart-mesh-jaw-open');

      // Frame scrubber with the guidance maps: images load from the artifact store through renderer messaging.
      await revealCell(page, L.guidance);
      const frames = out.locator('.mp-frames', { hasText: 'Guidance maps' });
      await frames.waitFor({ timeout: 60_000 });
      await page.waitForFunction(() => true);
      const loaded = async () =>
        frames.locator('img.mp-frame').evaluateAll((imgs: any[]) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length);
      for (let i = 0; i < 100 && (await loaded()) < 4; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await loaded(), 4, 'the rendered driving frame, depth, normal and render are shown');
      await frames.locator('input.mp-slider').evaluate((el: any) => {
        el.value = '5';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await frames.locator('.mp-counter', { hasText: 'frame 6 /' }).waitFor();
      const fbox = await frames.boundingBox();
      if (fbox) await scrollNotebookBy(page, fbox.y - 120);
      await screenshot(page, 'quickstart-guidance');

      /** Finds the video titled `title` (scrolling down until it is rendered), plays it, brings it into view. */
      const playVideo = async (cell: number, title: string) => {
        await revealCell(page, cell);
        const video = out.locator('.mp-video', { hasText: title }).locator('video');
        for (let i = 0; i < 30 && !(await video.count()); i++) await scrollNotebookBy(page, 400);
        await video.waitFor({ timeout: 60_000 });
        const state = await video.evaluate(async (v: any) => {
          for (let i = 0; i < 100 && v.readyState < 2; i++) await new Promise((r) => setTimeout(r, 100));
          await v.play().catch(() => {});
          await new Promise((r) => setTimeout(r, 500));
          return { readyState: v.readyState, duration: v.duration, time: v.currentTime, error: v.error?.code ?? null };
        });
        assert.equal(state.error, null, title);
        assert.ok(state.readyState >= 2 && state.duration > 0, `${title}: ${JSON.stringify(state)}`);
        assert.ok(state.time > 0, `${title} plays (currentTime ${state.time})`);
        const vbox = await video.boundingBox();
        if (vbox) await scrollNotebookBy(page, Math.max(0, vbox.y + vbox.height - 900));
      };

      // The instant preview (the portrait warped through the 3D head) plays before the sampling cell.
      assert.ok(L.preview > 0 && L.preview < L.sample, 'the preview comes before sampling');
      await playVideo(L.preview, 'Instant preview');
      await screenshot(page, 'quickstart-preview');

      // The sampled video plays: the trained demo model (training/demo-model/, imported by the packaged extension from
      // its own copy into the cache), labelled in the cell.
      assert.match(await cellOutputText(page, L.sample), /\d+ frames at \d+×\d+/);
      await playVideo(L.sample, 'Reference | result');
      await out.locator('.mp-video', { hasText: 'Reference | result' }).locator('.mp-label', { hasText: DEMO_MODEL_LABEL }).waitFor({ timeout: 30_000 });
      await screenshot(page, 'quickstart-demo-model-result');

      // Metrics of the output against its driving video: per-frame curves, the summary and the paper's table.
      await revealCell(page, L.metrics);
      const metricsPlot = out.locator('.mp-plots', { hasText: 'Quickstart output vs its driving video' });
      for (let i = 0; i < 30 && !(await metricsPlot.count()); i++) await scrollNotebookBy(page, 400);
      await metricsPlot.locator('.js-plotly-plot').first().waitFor({ timeout: 60_000 });
      const traces: string[] = await metricsPlot.locator('.js-plotly-plot').evaluateAll((plots: any[]) => plots.flatMap((p) => (p.data ?? []).map((t: any) => String(t.name ?? ''))));
      assert.ok(traces.some((n) => /PSNR/.test(n)) && traces.some((n) => /SSIM/.test(n)), `metric traces: ${traces.join(', ')}`);
      const mbox = await metricsPlot.boundingBox();
      if (mbox) await scrollNotebookBy(page, mbox.y - 120);
      await screenshot(page, 'quickstart-metrics');
      console.log(`quickstart in VS Code: ${((Date.now() - t0) / 1000).toFixed(1)} s including start-up`);
      await page.keyboard.press('Control+S');
      await page.waitForTimeout(1500);

      // Interrupt: a busy loop cannot stop cooperatively, so the kernel is killed and restarted; the next cell runs.
      await openNotebook(page, 'interrupt.mpnb', { kernel: 'MagicPortrait' });
      await runCell(page, 0);
      await waitForCellsDone(page, 1, { timeout: 120_000 });
      await runCell(page, 1);
      await new Promise((r) => setTimeout(r, 1500));
      const t1 = Date.now();
      await interruptExecution(page);
      assert.match(await cellOutputText(page, 1, { match: /did not stop/, timeout: 20_000 }), /kernel was restarted/);
      console.log(`interrupt of while(true) → cell ended: ${Date.now() - t1} ms`);
      await runCell(page, 2);
      assert.match(await cellOutputText(page, 2, { match: 'after restart', timeout: 60_000 }), /after restart: undefined/);
      await screenshot(page, 'interrupt');

      // Face perception on the real sample data: the portrait with its box and landmarks, the driving strip.
      await openNotebook(page, 'face-perception.mpnb', { kernel: 'MagicPortrait' });
      await runAllCells(page);
      const fp = await waitForCellsDone(page, 4, { timeout: 300_000 });
      assert.equal(fp.error.length, 0, `failed cells: ${fp.error.join(', ')}`);
      await revealCell(page, 2);
      await outputFrame(page).locator('img').first().waitFor({ timeout: 30_000 });
      await screenshot(page, 'face-perception-portrait');
      await revealCell(page, 3);
      const strip = outputFrame(page).locator('.mp-frames', { hasText: 'Face track' });
      await strip.waitFor({ timeout: 60_000 });
      await screenshot(page, 'face-perception-driving');
      assert.match(await cellOutputText(page, 3, { match: 'frames without a face' }), /frames without a face: 0/);

      // Attention explorer (the demo model's trained GGE, labelled): clicking a pixel fetches that query's attention row.
      await openNotebook(page, 'attention.mpnb', { kernel: 'MagicPortrait' });
      await runAllCells(page);
      const att = await waitForCellsDone(page, 5, { timeout: 300_000 });
      assert.equal(att.error.length, 0, `failed cells: ${att.error.join(', ')}`);
      await revealCell(page, 4);
      const ac = outputFrame(page).locator('canvas.mp-attn-canvas');
      await ac.waitFor({ timeout: 60_000 });
      await outputFrame(page).locator('.mp-attn-label', { hasText: DEMO_MODEL_LABEL }).waitFor();
      const snap = () => ac.evaluate((c: any) => ({ url: c.toDataURL() as string, query: c.getAttribute('data-query'), map: c.getAttribute('data-map') }));
      const box = (await ac.boundingBox())!;
      await ac.click({ position: { x: box.width * 0.5, y: box.height * 0.4 } });
      await page.waitForTimeout(1500);
      const first = await snap();
      await ac.click({ position: { x: box.width * 0.3, y: box.height * 0.7 } });
      await page.waitForTimeout(1500);
      const second = await snap();
      assert.ok(first.query && second.query && first.query !== second.query, `queries ${first.query} → ${second.query}`);
      assert.notEqual(first.url, second.url, 'the heatmap changed with the clicked pixel');
      await screenshot(page, 'attention-explorer-demo-model');

      // Reenactment on real data: the fit overlay, the tracked parameter plot, guidance aligned onto the portrait.
      await openNotebook(page, 'reenact.mpnb', { kernel: 'MagicPortrait' });
      await runAllCells(page);
      const re = await waitForCellsDone(page, 6, { timeout: 400_000 });
      assert.equal(re.error.length, 0, `failed cells: ${re.error.join(', ')}`);
      await revealCell(page, 2);
      await outputFrame(page).locator('.mp-frames', { hasText: 'FLAME fit' }).waitFor({ timeout: 60_000 });
      await screenshot(page, 'reenact-fit-overlay');
      await revealCell(page, 3);
      await outputFrame(page).locator('.js-plotly-plot').first().waitFor({ timeout: 60_000 });
      await screenshot(page, 'reenact-jitter-plot');
      // The plot output is tall and the cell list is virtualised: scroll down until the guidance output is rendered.
      const aligned = outputFrame(page).locator('.mp-frames', { hasText: 'Guidance maps' });
      for (let i = 0; i < 30 && !(await aligned.count()); i++) await scrollNotebookBy(page, 500);
      await aligned.waitFor({ timeout: 60_000 });
      const gbox = await aligned.boundingBox();
      if (gbox) await scrollNotebookBy(page, gbox.y - 150);
      assert.equal(await aligned.locator('img.mp-frame').count(), 4, 'driving | depth | normal | render');
      await screenshot(page, 'reenact-aligned-guidance');
    });
    if (envBefore === undefined) delete process.env.MAGICPORTRAIT_CACHE;
    else process.env.MAGICPORTRAIT_CACHE = envBefore;
    assert.ok(existsSync(join(editorCache, 'stages')), `the editor's kernel used its own stage cache ${editorCache}`);
    // The notebook saved by VS Code keeps its outputs small: artifacts live beside it.
    assert.ok(existsSync(join(ws, 'quickstart.mpnb.artifacts')));
    // The same notebook run headless by the CLI gives outputs of identical structure (kinds and MIME types per cell).
    const cliOut = join(ws, 'cli');
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'magicportrait.js'), 'run', join(REPO, 'notebooks', 'quickstart.mpnb'), '--out', cliOut], {
      encoding: 'utf8',
      env: { ...process.env, MAGICPORTRAIT_CACHE: cacheDir('mp-cli-cache') },
    });
    assert.equal(r.status, 0, r.stderr);
    const shape = (file: string) =>
      parseNotebook(readFileSync(file, 'utf8')).cells.map((c) => c.outputs.map((o) => (o.kind === 'display' || o.kind === 'result' ? `${o.kind}:${Object.keys(o.data).sort().join(',')}` : o.kind === 'stream' ? `stream:${o.name}` : o.kind)));
    const saved = shape(join(ws, 'quickstart.mpnb'));
    assert.ok(saved.some((c) => c.length > 0), 'VS Code saved the outputs');
    assert.deepEqual(saved, shape(join(cliOut, 'quickstart.mpnb')));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

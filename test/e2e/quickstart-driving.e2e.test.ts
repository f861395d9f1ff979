// The quickstart on the user's own files in real VS Code (the packaged extension): a portrait and a driving video from
// ../shared/data. The notebook runs the method's real path (fit, track, align, render, preview, sample, score as a
// cross-reenactment), and the guidance scrubber shows the tracked motion beside the driving frames. Screenshots land
// in test-results/e2e/.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, ensureTools, openNotebook, outputFrame, revealCell, runAllCells, screenshot, scrollNotebookBy, waitForCellsDone, withVSCode } from './harness';
import { packagedExtension } from './extension-package';
import { parseNotebook, serializeNotebook } from '../../src/kernel/notebook/nbformat';

let vsix = '';
before(() => {
  ensureTools();
  vsix = packagedExtension();
});

test('the quickstart with a portrait and a driving video follows the video in real VS Code', { timeout: 900_000 }, async () => {
  const ws = mkdtempSync(join(tmpdir(), 'mp-e2e-drv-'));
  const shared = join(REPO, '..', 'shared', 'data');
  const portrait = join(shared, 'magicportrait', 'boy.jpeg');
  const driving = join(shared, 'magicportrait', 'driving.mp4');
  try {
    // the quickstart with its parameters set as a user would: their photo, their video, a short run
    const nb = parseNotebook(readFileSync(join(REPO, 'notebooks', 'quickstart.mpnb'), 'utf8'));
    const params = nb.cells.find((c) => (c.metadata.tags as string[] | undefined)?.includes('parameters'))!;
    params.source = params.source
      .replace("const reference = '';", `const reference = ${JSON.stringify(portrait)};`)
      .replace("const driving = '';", `const driving = ${JSON.stringify(driving)};`)
      .replace('const frameCount = 24;', 'const frameCount = 12;')
      .replace('const steps = 20;', 'const steps = 2;');
    assert.match(params.source, /boy\.jpeg[\s\S]*driving\.mp4[\s\S]*frameCount = 12[\s\S]*steps = 2/);
    writeFileSync(join(ws, 'my-quickstart.mpnb'), serializeNotebook(nb));
    const codeCells = nb.cells.filter((c) => c.kind === 'code').length;
    const at = (needle: string) => nb.cells.findIndex((c) => c.kind === 'code' && c.source.includes(needle));
    const cache = join(ws, '..', `mp-e2e-drv-cache-${Date.now()}`);
    const envBefore = process.env.MAGICPORTRAIT_CACHE;
    process.env.MAGICPORTRAIT_CACHE = cache;
    try {
      await withVSCode({ name: 'quickstart-driving', workspace: ws, extensions: vsix, viewport: { width: 1500, height: 1000 }, settings: { 'magicportrait.cacheDir': cache } }, async (vs) => {
        const { page } = vs;
        await openNotebook(page, 'my-quickstart.mpnb', { kernel: 'MagicPortrait' });
        await runAllCells(page);
        const done = await waitForCellsDone(page, codeCells, { timeout: 700_000 });
        assert.equal(done.error.length, 0, `failed cells: ${done.error.join(', ')}`);
        const out = outputFrame(page);

        // the tracked parameters of the video
        await revealCell(page, at('mp.fit.track'));
        const plot = out.locator('.mp-plots', { hasText: 'Tracked parameters' });
        for (let i = 0; i < 20 && !(await plot.count()); i++) await scrollNotebookBy(page, 400);
        await plot.locator('.js-plotly-plot').first().waitFor({ timeout: 60_000 });
        await screenshot(page, 'quickstart-driving-track');

        // the guidance scrubber: the driving video's frames beside the maps of the aligned track
        await revealCell(page, at('mp.renderGuidance'));
        const frames = out.locator('.mp-frames', { hasText: 'Guidance maps' });
        for (let i = 0; i < 20 && !(await frames.count()); i++) await scrollNotebookBy(page, 400);
        await frames.waitFor({ timeout: 60_000 });
        assert.match(await frames.locator('.mp-label').innerText(), /aligned: reference code/, 'the maps come from the tracked video, not the demo motion');
        assert.match(await frames.locator('.mp-title').innerText(), /Guidance maps: 12 frames/);
        assert.deepEqual(await frames.locator('.mp-track span').allInnerTexts(), ['driving', 'depth', 'normal', 'render']);
        const images = async (): Promise<string[]> => frames.locator('img.mp-frame').evaluateAll((imgs: any[]) => imgs.map((i) => (i.complete && i.naturalWidth > 0 ? (i.src as string) : '')));
        const loaded = async () => (await images()).filter(Boolean).length;
        for (let i = 0; i < 100 && (await loaded()) < 4; i++) await new Promise((r) => setTimeout(r, 100));
        assert.equal(await loaded(), 4);
        const widths = await frames.locator('img.mp-frame').evaluateAll((imgs: any[]) => imgs.map((i) => i.naturalWidth as number));
        assert.deepEqual(widths, [256, 512, 512, 512], 'the real driving frames (256 px) beside the 512² maps');
        const first = await images();
        const fbox = await frames.boundingBox();
        if (fbox) await scrollNotebookBy(page, fbox.y - 120);
        await screenshot(page, 'quickstart-driving-guidance-frame1');
        await frames.locator('input.mp-slider').evaluate((el: any) => {
          el.value = '9';
          el.dispatchEvent(new Event('input', { bubbles: true }));
        });
        await frames.locator('.mp-counter', { hasText: 'frame 10 /' }).waitFor();
        for (let i = 0; i < 100 && (await images()).some((src: string, k: number) => !src || src === first[k]); i++) await new Promise((r) => setTimeout(r, 100));
        const later = await images();
        // every track moves on: the driving frame and the maps of the motion tracked from it
        later.forEach((src: string, k: number) => assert.notEqual(src, first[k], `track ${k} shows another frame`));
        await screenshot(page, 'quickstart-driving-guidance-frame10');

        // scored as a cross-reenactment: identity only
        await revealCell(page, at('mp.metrics'));
        const metrics = out.locator('.mp-plots', { hasText: 'identity (cross-reenactment)' });
        for (let i = 0; i < 30 && !(await metrics.count()); i++) await scrollNotebookBy(page, 400);
        await metrics.first().locator('.js-plotly-plot').first().waitFor({ timeout: 60_000 });
        await screenshot(page, 'quickstart-driving-metrics');
      });
    } finally {
      if (envBefore === undefined) delete process.env.MAGICPORTRAIT_CACHE;
      else process.env.MAGICPORTRAIT_CACHE = envBefore;
      rmSync(cache, { recursive: true, force: true });
    }
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

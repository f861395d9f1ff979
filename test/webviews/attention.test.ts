/**
 * The attention explorer renderer in a real (headless Chromium) page: a GGE result with hand-constructed local
 * attention (test/gge/helpers.ts) is displayed, the page gets a fake renderer context whose messages are answered
 * by this process (artifact bytes from the store; attention rows from serveAttentionRows, as the kernel would), and
 * a script clicks pixels on `.mp-attn-canvas`: the shown map must switch to the query's row and peak at the clicked
 * cell, move with the click, survive a head change, report a stale kernel clearly while the stored maps still work,
 * and export a PNG. Skipped when no Chromium is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { writeGGEBundle } from '../../src/kernel/gge/bundle';
import { runGGE, releaseGGE } from '../../src/kernel/gge/run';
import { forgetAttentionRows, makeAttentionDisplayable, serveAttentionRows } from '../../src/kernel/pipeline/gge-attention';
import { type AttentionOutput } from '../../src/shared/attention';
import { ArtifactStore } from '../../src/kernel/runtime/artifacts';
import { toMimeBundle } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import { MagicPortraitError } from '../../src/kernel/errors';
import { toRendererReply } from '../../src/extension/attention-rows';
import { type RendererRowsRequest } from '../../src/shared/attention';
import { codedImage, localAttentionWeights } from '../gge/helpers';

const repoRoot = join(__dirname, '..', '..');
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync('which', [c]).status === 0);

const PAGE = (data: unknown) => `<!doctype html><html><body><div id="out"></div><pre id="result">pending</pre>
<script type="module">
const data = ${JSON.stringify(data)};
const listeners = [];
const post = (m) => setTimeout(() => listeners.forEach((l) => l(m)), 0);
const ctx = {
  postMessage: async (m) => {
    if (m.type === 'artifact') {
      const r = await fetch('/artifact/' + m.hash + '.' + m.ext);
      const b = new Uint8Array(await r.arrayBuffer());
      let s = ''; for (const x of b) s += String.fromCharCode(x);
      post({ type: 'artifact', requestId: m.requestId, base64: btoa(s) });
    } else if (m.type === 'attention-rows') {
      const r = await fetch('/rows', { method: 'POST', body: JSON.stringify(m) });
      post(await r.json());
    }
  },
  onDidReceiveMessage: (l) => { listeners.push(l); return { dispose() {} }; },
};
const log = [];
const until = async (what, f, ms = 8000) => { const t0 = Date.now(); while (!f()) { if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what); await new Promise((r) => setTimeout(r, 20)); } };
try {
  const { activate } = await import('/attention.js');
  const el = document.getElementById('out');
  activate(ctx).renderOutputItem({ id: 'o1', mime: '${MIME.attention}', json: () => data }, el);
  const root = el.shadowRoot;
  const canvas = root.querySelector('.mp-attn-canvas');
  const attr = (n) => canvas.getAttribute(n);
  const state = () => ({ map: attr('data-map'), head: attr('data-head'), peak: attr('data-peak'), query: attr('data-query'), frame: attr('data-frame'), status: root.querySelector('.mp-attn-status').textContent, rows: attr('data-rows'), marker: !root.querySelector('.mp-attn-query').hidden });
  await until('first map', () => attr('data-peak'));
  log.push({ step: 'initial', label: root.querySelector('.mp-attn-label')?.textContent, ...state() });
  const click = (x, y) => {
    const r = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new MouseEvent('click', { clientX: r.left + (x + 0.5) * r.width / data.input.width, clientY: r.top + (y + 0.5) * r.height / data.input.height, bubbles: true }));
  };
  for (const [x, y] of [[20, 12], [100, 70]]) {
    click(x, y);
    await until('row ' + x, () => attr('data-query') === x + ',' + y && attr('data-map') === 'row' && /peak at/.test(state().status));
    log.push({ step: 'click', x, y, ...state() });
  }
  const head = root.querySelector('.mp-attn-head'); head.value = '3'; head.dispatchEvent(new Event('change'));
  await until('head 3', () => attr('data-head') === '3' && /peak at/.test(state().status));
  log.push({ step: 'head3', ...state() });
  const slider = root.querySelector('.mp-attn-frame'); slider.value = '1'; slider.dispatchEvent(new Event('input'));
  await until('frame 2', () => attr('data-frame') === '1' && /peak at/.test(state().status));
  log.push({ step: 'frame1', ...state() });
  await fetch('/forget');
  click(50, 50);
  await until('stale', () => attr('data-rows') === 'unavailable');
  log.push({ step: 'stale', ...state() });
  const map = root.querySelector('.mp-attn-map'); map.value = 'outNorm'; map.dispatchEvent(new Event('change'));
  await until('outNorm', () => attr('data-map') === 'outNorm' && attr('data-peak'));
  log.push({ step: 'outNorm', ...state() });
  root.querySelector('.mp-attn-export').click();
  const a = root.querySelector('.mp-attn-download');
  await until('export', () => a.href.startsWith('blob:'));
  log.push({ step: 'export', download: a.download, href: a.href.slice(0, 5) });
} catch (e) { log.push({ error: String(e && e.stack || e) }); }
document.getElementById('result').textContent = JSON.stringify(log);
</script></body></html>`;

test('attention explorer: clicking a pixel shows where it attends, stale kernels are explained, PNG export', { skip: !chromium && 'no Chromium installed' }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mp-attn-view-'));
  const bundle = writeGGEBundle(
    { depth: { stateDict: localAttentionWeights(), name: 'local:depth', source: { kind: 'generated', generator: 'test', seed: 0 } } },
    join(tmp, 'gge'),
    { createdBy: 'test', label: 'untrained demo weights', log: () => {} },
  );
  const img = codedImage(96, 128);
  const maps = { depth: [img, img] };
  const res = await runGGE(maps, bundle, { threads: 1 });
  // runGGE returns data; the GGE stage (mp.gge) makes its attention displayable, as here
  makeAttentionDisplayable(res.attention, maps, res.attentionRows);
  const store = new ArtifactStore(join(tmp, 'artifacts'));
  const data = (await toMimeBundle(res.attention, { artifacts: store }))[MIME.attention] as AttentionOutput;
  const js = (
    await esbuild.build({ entryPoints: [join(repoRoot, 'webviews/attention.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' })
  ).outputFiles[0]!.text;

  const server = createServer(async (req, rsp) => {
    const url = req.url ?? '/';
    if (url === '/') return rsp.writeHead(200, { 'content-type': 'text/html' }).end(PAGE(data));
    if (url === '/attention.js') return rsp.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    if (url.startsWith('/artifact/')) {
      const [hash, ext] = url.slice('/artifact/'.length).split('.') as [string, string];
      return rsp.writeHead(200).end(readFileSync(store.path({ hash, ext })));
    }
    if (url === '/forget') {
      forgetAttentionRows(data.rows.id);
      return rsp.writeHead(200).end('ok');
    }
    if (url === '/rows') {
      let body = '';
      for await (const c of req) body += c;
      const m = JSON.parse(body) as RendererRowsRequest;
      let reply;
      try {
        const r = await serveAttentionRows(m.rowsId, m.guidance, m.frame, m.queries, m.space);
        reply = toRendererReply(m.requestId, { type: 'attention-rows', requestId: 'x', ok: true, heads: r.heads, grid: r.grid, queries: r.queries, rows: r.rows });
      } catch (e) {
        const stale = e instanceof MagicPortraitError && e.code === 'stale-output';
        reply = toRendererReply(m.requestId, { type: 'attention-rows', requestId: 'x', ok: false, stale, error: { name: 'Error', message: (e as Error).message, stack: '' } });
      }
      return rsp.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    }
    rsp.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const dom = await new Promise<string>((resolve, reject) => {
      const p = spawn(chromium!, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${join(tmp, 'chrome')}`, '--virtual-time-budget=30000', '--dump-dom', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
      p.on('error', reject);
      p.on('exit', () => (clearTimeout(timer), resolve(out)));
    });
    const m = /<pre id="result">([^<]*)<\/pre>/.exec(dom);
    assert.ok(m, `no result in the page: ${dom.slice(0, 500)}`);
    const log = JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')) as Record<string, string | boolean | null>[];
    const step = (s: string) => log.find((l) => l.step === s) ?? assert.fail(`step ${s} missing: ${JSON.stringify(log)}`);
    if (process.env.MP_DEBUG) console.log(JSON.stringify(log, null, 1));
    assert.ok(!log.some((l) => l.error), JSON.stringify(log));
    assert.equal(step('initial').label, 'untrained demo weights');
    assert.equal(step('initial').map, 'received');
    const clicks = log.filter((l) => l.step === 'click');
    assert.deepEqual(clicks.map((c) => [c.map, c.peak, c.marker]), [['row', '2,1', true], ['row', '12,8', true]], 'the row peaks at the clicked cell and moves with the click');
    assert.deepEqual([step('head3').head, step('head3').peak], ['3', '12,8']);
    assert.deepEqual([step('frame1').frame, step('frame1').peak], ['1', '12,8']);
    assert.equal(step('stale').rows, 'unavailable');
    assert.match(String(step('stale').status), /earlier kernel session.*re-run the cell.*stored maps .* still work/);
    assert.equal(step('outNorm').map, 'outNorm', 'stored maps still work without the kernel');
    assert.match(String(step('export').download), /^attention-depth-frame2-outNorm\.png$/);
    assert.equal(step('export').href, 'blob:');
  } finally {
    server.close();
    await releaseGGE(bundle);
  }
});

// End-to-end harness: real VS Code 1.100.3 (code-server 4.100.3) driven by playwright-core in Debian's headless
// Chromium, offline, everything on 127.0.0.1. Recipe and selectors: shared/docs/vscode-e2e-recipe.md.
//
//   before(() => ensureTools());            // first use installs the tools (minutes): keep it out of test timeouts
//   test('quickstart', { timeout: 180_000 }, () =>
//     withVSCode({ name: 'quickstart', workspace, extensions: 'magicportrait-studio.vsix' }, async ({ page }) => {
//       await openNotebook(page, 'quickstart.mpnb', { kernel: 'MagicPortrait' });
//       await runAllCells(page);
//       const { error } = await waitForCellsDone(page, 5, { timeout: 120_000 });
//       assert.deepEqual(error, []);
//       assert.match(await cellOutputText(page, 1), /hello/);
//       await outputFrame(page).locator('.mp-frames').waitFor();
//       await screenshot(page, 'quickstart');
//     }));
//
// withVSCode() stops everything in `finally`, and when the body throws it also saves
// test-results/e2e/<name>-failure.png, keeps the run folder and appends diagnostics (last error output, extension
// host log, server log) to the error. startVSCode() + `try { } finally { await vs.stop() }` is the manual form.
//
// Cell indices are 0-based over ALL cells, markdown included (the notebook list's data-index). Helpers that wait
// throw errors naming every cell's state and the last error output. Extensions: .vsix files or unpacked folders
// (symlinked into the extensions dir by default: the repo root works as a folder once dist/ is built).
//
// The tools (code-server, playwright-core, vsce) live in a cache prefix outside node_modules, installed by
// scripts/e2e-setup.sh, which ensureTools()/startVSCode() run (a ~10 ms no-op once installed) and scripts/test.mjs
// runs before E2E files. MP_E2E_TOOLS overrides the prefix (default .e2e/tools). MP_E2E_KEEP=1 keeps every run
// folder ($TMPDIR/mp-e2e-*); MP_E2E_DEBUG=1 logs each step with timings. Processes are found by their run folder
// and killed on stop(), on process exit/SIGINT/SIGTERM, and (if the test process was SIGKILLed) at the next start.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
  openSync, closeSync, renameSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
// Types come from the tools prefix (typed once scripts/e2e-setup.sh ran; `any` before that, so typecheck still passes).
// @ts-ignore
import type * as PW from '../../.e2e/tools/node_modules/playwright-core';

export type Page = PW.Page;
export type BrowserContext = PW.BrowserContext;
export type FrameLocator = PW.FrameLocator;
export type Locator = PW.Locator;

export const REPO = resolve(__dirname, '../..');
export const TOOLS = process.env.MP_E2E_TOOLS ? resolve(process.env.MP_E2E_TOOLS) : join(REPO, '.e2e', 'tools');
export const RESULTS = join(REPO, 'test-results', 'e2e');
const CHROMIUM = process.env.MP_E2E_CHROMIUM ?? '/usr/bin/chromium';
const DEBUG = !!process.env.MP_E2E_DEBUG;
const T0 = Date.now();

function log(msg: string): void {
  process.stderr.write(`[e2e +${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
}
function debug(msg: string): void {
  if (DEBUG) log(msg);
}

// ---------------------------------------------------------------------------------------------------------------------
// Tools

export interface Tools {
  prefix: string;
  codeServer: string;
  vsce: string;
  playwright: typeof PW;
}
let tools: Tools | undefined;

/** Runs scripts/e2e-setup.sh (installs on first use, a no-op afterwards) and loads playwright-core from the prefix. */
export function ensureTools(): Tools {
  if (tools) return tools;
  const t = Date.now();
  const r = spawnSync('bash', [join(REPO, 'scripts', 'e2e-setup.sh')], {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, MP_E2E_TOOLS: TOOLS },
  });
  if (r.status !== 0) throw new Error(`scripts/e2e-setup.sh failed (exit ${r.status ?? r.signal}); see the log above`);
  debug(`tools ready in ${Date.now() - t} ms (${TOOLS})`);
  const req = createRequire(join(TOOLS, 'node_modules', 'noop.js'));
  tools = {
    prefix: TOOLS,
    codeServer: join(TOOLS, 'node_modules', '.bin', 'code-server'),
    vsce: join(TOOLS, 'node_modules', '.bin', 'vsce'),
    playwright: req('playwright-core'),
  };
  return tools;
}

/**
 * Packages an unpacked extension folder into a .vsix with the pinned @vscode/vsce (2-7 s here). Without `outFile` the
 * result is cached by content hash under .e2e/cache/vsix/, so an unchanged folder is packaged only once.
 */
export function packageVsix(extensionDir: string, outFile?: string): string {
  const dir = resolve(extensionDir);
  let out = outFile && resolve(outFile);
  if (!out) {
    const h = createHash('sha256');
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
        if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else h.update(`${p.slice(dir.length)}\0`).update(readFileSync(p)).update('\0');
      }
    };
    walk(dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    out = join(REPO, '.e2e', 'cache', 'vsix', `${pkg.name}-${pkg.version}-${h.digest('hex').slice(0, 16)}.vsix`);
    if (existsSync(out)) return out;
  }
  const { vsce } = ensureTools();
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.vsix`;
  const r = spawnSync(vsce, ['package', '--allow-missing-repository', '--skip-license', '--no-dependencies', '-o', tmp], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`vsce package failed in ${dir}:\n${r.stdout}\n${r.stderr}`);
  renameSync(tmp, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Process bookkeeping: every process we start is found again through its run folder in /proc/<pid>/cmdline, plus all
// descendants, so nothing survives a failing test or an exiting test process.

const liveRuns = new Set<string>();

function procTable(): Map<number, { ppid: number; cmd: string }> {
  const m = new Map<number, { ppid: number; cmd: string }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      m.set(Number(d), { ppid, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return m;
}

/** PIDs whose command line mentions `marker`, plus all their descendants. */
function processesOf(marker: string, extraRoots: number[] = []): number[] {
  const table = procTable();
  const roots = new Set<number>(extraRoots.filter((p) => table.has(p)));
  for (const [pid, { cmd }] of table) if (cmd.includes(marker) && pid !== process.pid) roots.add(pid);
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(pid);
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const p = stack.pop()!;
    if (out.has(p) || p === process.pid) continue;
    out.add(p);
    stack.push(...(children.get(p) ?? []));
  }
  return [...out];
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

function killRunSync(runDir: string, roots: number[] = []): void {
  killAll(processesOf(runDir, roots), 'SIGKILL');
}

let exitHooked = false;
function hookProcessExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const r of liveRuns) killRunSync(r);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const r of liveRuns) killRunSync(r);
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[sig]);
    });
  }
}

/** Kills processes left by earlier test processes that died without cleaning up (their run folders still exist). */
function reapStaleRuns(): void {
  const base = tmpdir();
  for (const d of readdirSync(base)) {
    if (!d.startsWith('mp-e2e-')) continue;
    const dir = join(base, d);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue;
    }
    let alive = false;
    try {
      process.kill(owner, 0);
      alive = true;
    } catch {
      /* dead */
    }
    if (alive) continue;
    const left = processesOf(dir);
    if (left.length) {
      log(`killing ${left.length} processes left by a dead test process in ${dir}`);
      killAll(left, 'SIGKILL');
    }
    // Failed runs are kept for their logs; drop them after a day.
    try {
      if (Date.now() - statSync(dir).mtimeMs > 24 * 3600e3) rmSync(dir, { recursive: true, force: true });
    } catch {
      /* ignore */
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Starting VS Code

export interface StartOptions {
  /** Folder to open as the workspace (used in place, not copied). */
  workspace: string;
  /** .vsix files (installed with `code-server --install-extension`) and/or unpacked extension folders. */
  extensions?: string | string[];
  /** User settings merged over the harness defaults. */
  settings?: Record<string, unknown>;
  /** How unpacked folders get into the extensions dir: symlink (default, instant) or copy. */
  folderMode?: 'link' | 'copy';
  viewport?: { width: number; height: number };
  /** Time for the workbench to come up, ms (default 60 s). */
  timeout?: number;
}

export interface VSCode {
  page: Page;
  context: BrowserContext;
  port: number;
  url: string;
  workspace: string;
  runDir: string;
  userDataDir: string;
  extensionsDir: string;
  /** Set by the harness when one of its waits failed; stop() then keeps the run folder. */
  failed: boolean;
  /** Text of the extension host logs (remoteexthost.log) and, with `channel`, of that output channel's log. */
  extensionHostLog(): string;
  outputChannelLog(channel: string): string;
  /** Server log, extension host log tail and the last error output: appended to harness failure messages. */
  diagnostics(): Promise<string>;
  /** Closes the browser and kills the whole process tree; removes the run folder unless the run failed / keep. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

const sessions = new WeakMap<Page, VSCode>();

const DEFAULT_SETTINGS: Record<string, unknown> = {
  'telemetry.telemetryLevel': 'off',
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'workbench.enableExperiments': false,
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'git.enabled': false,
  'files.hotExit': 'off',
};

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // WebGL (the three.js mesh viewer) on the software rasteriser, since there is no GPU.
  '--enable-unsafe-swiftshader',
];

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

function findFiles(dir: string, test: (name: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findFiles(p, test, out);
    else if (test(e.name)) out.push(p);
  }
  return out;
}

function serverEnv(runDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // code-server (even --version) writes ~/.config/code-server and ~/.local/share/code-server otherwise.
    XDG_CONFIG_HOME: join(runDir, 'xdg', 'config'),
    XDG_DATA_HOME: join(runDir, 'xdg', 'data'),
    XDG_CACHE_HOME: join(runDir, 'xdg', 'cache'),
    TMPDIR: join(runDir, 'tmp'),
    EXTENSIONS_GALLERY: '{"serviceUrl": ""}',
  };
}

async function placeExtensions(list: string[], runDir: string, extensionsDir: string, mode: 'link' | 'copy'): Promise<void> {
  const vsix: string[] = [];
  for (const e of list.map((x) => resolve(x))) {
    if (!existsSync(e)) throw new Error(`extension not found: ${e}`);
    if (statSync(e).isDirectory()) {
      const pkg = JSON.parse(readFileSync(join(e, 'package.json'), 'utf8'));
      const target = join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`.toLowerCase());
      if (mode === 'copy') cpSync(e, target, { recursive: true });
      else symlinkSync(e, target, 'dir');
      debug(`extension folder ${e} -> ${target} (${mode})`);
    } else if (extname(e) === '.vsix') vsix.push(e);
    else throw new Error(`extension must be a .vsix file or an unpacked folder: ${e}`);
  }
  if (!vsix.length) return;
  const t = Date.now();
  const args = [
    '--user-data-dir', join(runDir, 'user'), '--extensions-dir', extensionsDir, '--force',
    ...vsix.flatMap((v) => ['--install-extension', v]),
  ];
  // Async (not spawnSync) so Chromium can start meanwhile.
  const { code, out } = await new Promise<{ code: number | null; out: string }>((res, rej) => {
    const p = spawn(ensureTools().codeServer, args, { env: serverEnv(runDir), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', rej);
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, out });
    });
  });
  if (code !== 0 || /Failed Installing|\bError\b/.test(out)) {
    throw new Error(`code-server --install-extension ${vsix.join(' ')} failed (exit ${code}):\n${out}`);
  }
  debug(`installed ${vsix.map((v) => basename(v)).join(', ')} in ${Date.now() - t} ms`);
}

async function waitHealthz(port: number, proc: ChildProcess, logFile: string, timeout: number): Promise<void> {
  const until = Date.now() + timeout;
  let exited: string | null = null;
  proc.once('exit', (code, sig) => (exited = `exited with ${code ?? sig}`));
  while (Date.now() < until) {
    if (exited) break;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`code-server on 127.0.0.1:${port} ${exited ?? 'did not answer /healthz'}:\n${tail(logFile)}`);
}

/**
 * Starts code-server with fresh user-data and extensions dirs in a new run folder (under $TMPDIR, short paths keep
 * its unix sockets under the 108-byte limit), installs `extensions`, opens Chromium on the workspace and waits for the
 * workbench and the explorer.
 */
export async function startVSCode(opts: StartOptions): Promise<VSCode> {
  const { playwright, codeServer } = ensureTools();
  hookProcessExit();
  reapStaleRuns();
  const workspace = resolve(opts.workspace);
  if (!existsSync(workspace)) throw new Error(`workspace not found: ${workspace}`);
  const runDir = mkdtempSync(join(tmpdir(), 'mp-e2e-'));
  liveRuns.add(runDir);
  writeFileSync(join(runDir, 'owner.pid'), String(process.pid));
  const userDataDir = join(runDir, 'user');
  const extensionsDir = join(runDir, 'exts');
  for (const d of [join(userDataDir, 'User'), extensionsDir, join(runDir, 'tmp')]) mkdirSync(d, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...DEFAULT_SETTINGS, ...opts.settings }, null, 2),
  );
  const logFile = join(runDir, 'server.log');
  const timeout = opts.timeout ?? 60_000;
  let proc: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  let launching: Promise<unknown> | undefined;
  let stopped = false;

  const session: VSCode = {
    page: undefined as unknown as Page,
    context: undefined as unknown as BrowserContext,
    port: 0,
    url: '',
    workspace,
    runDir,
    userDataDir,
    extensionsDir,
    failed: false,
    extensionHostLog() {
      return findFiles(join(userDataDir, 'logs'), (n) => n === 'remoteexthost.log')
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n');
    },
    outputChannelLog(channel: string) {
      return findFiles(join(userDataDir, 'logs'), (n) => n.endsWith(`-${channel}.log`))
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n');
    },
    async diagnostics() {
      const parts: string[] = [];
      if (session.page) {
        const err = await lastErrorOutput(session.page).catch(() => '');
        if (err) parts.push(`last error output in the notebook:\n${indent(err)}`);
      }
      const ext = session.extensionHostLog().trimEnd().split('\n');
      const interesting = ext.filter((l) => /\[(error|warning)\]/.test(l)).slice(-15);
      if (interesting.length) parts.push(`extension host errors/warnings:\n${indent(interesting.join('\n'))}`);
      parts.push(`extension host log tail:\n${indent(ext.slice(-8).join('\n'))}`);
      parts.push(`code-server log tail:\n${indent(tail(logFile, 10))}`);
      parts.push(`run folder: ${runDir}`);
      return parts.join('\n');
    },
    async stop(o = {}) {
      if (stopped) return;
      stopped = true;
      const t = Date.now();
      if (launching) await within(launching.catch(() => {}), 15_000); // a launch still in flight: let it land
      if (context) await within(context.close().catch(() => {}), 5000);
      if (proc?.pid && proc.exitCode === null) {
        try {
          process.kill(-proc.pid, 'SIGTERM'); // its process group: server, extension host, pty host, file watcher
        } catch {
          /* gone */
        }
        const p = proc;
        await within(new Promise((r) => p.once('exit', r)), 3000);
      }
      // Whatever is left (children that ignored SIGTERM, a browser that did not close): SIGKILL.
      for (let i = 0; i < 20; i++) {
        const left = processesOf(runDir, proc?.pid ? [proc.pid] : []);
        if (!left.length) break;
        killAll(left, 'SIGKILL');
        await sleep(100);
      }
      liveRuns.delete(runDir);
      const keep = o.keep || session.failed || !!process.env.MP_E2E_KEEP;
      if (keep) log(`run folder kept: ${runDir}`);
      else rmSync(runDir, { recursive: true, force: true });
      debug(`stopped in ${Date.now() - t} ms`);
    },
  };

  try {
    // Chromium starts while the extensions are installed and code-server comes up.
    const browser = (launching = playwright.chromium
      .launchPersistentContext(join(runDir, 'chrome-profile'), {
        executablePath: CHROMIUM,
        headless: true,
        viewport: opts.viewport ?? { width: 1400, height: 900 },
        args: CHROMIUM_ARGS,
        // Chromium writes ~/.config/chromium and ~/.cache/dconf whatever --user-data-dir says.
        env: {
          ...process.env,
          XDG_CONFIG_HOME: join(runDir, 'xdg', 'chrome-config'),
          XDG_CACHE_HOME: join(runDir, 'xdg', 'chrome-cache'),
        },
        timeout,
      })
      .then((c: BrowserContext) => (context = c)));
    browser.catch(() => {}); // awaited below; on an earlier failure stop() kills it through the run folder

    const ext = opts.extensions === undefined ? [] : Array.isArray(opts.extensions) ? opts.extensions : [opts.extensions];
    await placeExtensions(ext, runDir, extensionsDir, opts.folderMode ?? 'link');

    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(join(runDir, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
      const fd = openSync(logFile, 'a');
      proc = spawn(
        codeServer,
        [
          '--config', join(runDir, 'config.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
          '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
          '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened', workspace,
        ],
        { env: serverEnv(runDir), detached: true, stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      try {
        await waitHealthz(port, proc, logFile, 30_000);
        session.port = port;
        break;
      } catch (e) {
        if (attempt < 3 && /EADDRINUSE/.test(tail(logFile))) continue; // lost the port race: try another
        throw e;
      }
    }
    debug(`code-server healthy on :${session.port} in ${Date.now() - t0} ms`);
    await browser;
    const ctx = context!;
    session.context = ctx;
    // Functions passed to page.evaluate() are serialised from tsx/esbuild output, which wraps named inner functions
    // in __name(fn, "name") (keepNames); give every frame a no-op __name so such functions run in the browser.
    await ctx.addInitScript({ content: 'globalThis.__name = globalThis.__name || ((f) => f);' });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    session.page = page;
    sessions.set(page, session);
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e: Error) => debug(`page error: ${e.message}`));
    session.url = `http://127.0.0.1:${session.port}/?folder=${encodeURI(workspace)}`;
    await page.goto(session.url, { timeout });
    await page.locator('.monaco-workbench').waitFor({ timeout });
    debug(`workbench in ${Date.now() - t0} ms`);
    if (readdirSync(workspace).length) {
      await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout });
      debug(`explorer in ${Date.now() - t0} ms`);
    }
    return session;
  } catch (e) {
    session.failed = true;
    const msg = `startVSCode failed: ${(e as Error).message}\n${await session.diagnostics()}`;
    await session.stop();
    throw new Error(msg, { cause: e });
  }
}

/** startVSCode + body + stop; on failure takes `test-results/e2e/<name>-failure.png` and adds diagnostics. */
export async function withVSCode<T>(
  opts: StartOptions & { name?: string },
  body: (vs: VSCode) => Promise<T>,
): Promise<T> {
  const vs = await startVSCode(opts);
  try {
    return await body(vs);
  } catch (e) {
    vs.failed = true;
    await screenshot(vs.page, `${opts.name ?? 'e2e'}-failure`).catch(() => {});
    const err = e as Error;
    if (!err.message.includes('run folder:')) err.message += `\n${await vs.diagnostics()}`;
    throw err;
  } finally {
    await vs.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Driving the notebook

/** The visible notebook editor (with several notebooks open, only the active one is :visible). */
export const NOTEBOOK = '.notebook-editor:visible';
const TOOLBAR = `${NOTEBOOK} .notebook-toolbar-container`;
const ROW = `${NOTEBOOK} .cell-list-container .monaco-list-row`;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
/** Waits for `p` at most `ms` (the timer is cleared, so it never keeps the test process alive). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
function indent(s: string): string {
  return s.replace(/^/gm, '    ');
}
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function fail(page: Page, message: string): Promise<never> {
  const vs = sessions.get(page);
  if (vs) vs.failed = true;
  throw new Error(vs ? `${message}\n${await vs.diagnostics()}` : message);
}

/** Nested output iframes of the visible notebook: page > iframe.webview > iframe#active-frame. */
export function outputFrame(page: Page): FrameLocator {
  return page.locator(`${NOTEBOOK} iframe.webview`).contentFrame().locator('#active-frame').contentFrame();
}

/** Text of the last error output (`.output.error`, e.g. a traceback) in the visible notebook, '' if none. */
export async function lastErrorOutput(page: Page): Promise<string> {
  const errs = outputFrame(page).locator('.output.error');
  const n = await errs.count().catch(() => 0);
  if (!n) return '';
  return ((await errs.nth(n - 1).innerText({ timeout: 2000 }).catch(() => '')) ?? '').trim();
}

/**
 * Opens a notebook by its workspace-relative path (a top-level file from the explorer, others with Quick Open) and
 * waits for its cells (they render only once the extension has activated) and, if given, for the kernel label.
 */
export async function openNotebook(
  page: Page,
  fileName: string,
  opts: { kernel?: string; timeout?: number } = {},
): Promise<void> {
  const timeout = opts.timeout ?? 60_000;
  const t = Date.now();
  const base = basename(fileName);
  // Opened before the workbench knows the extensions' `contributes.notebooks`, the file comes up in a TEXT editor and
  // stays there. The remote extensions are registered well before the extension host reports its eager activation.
  await waitForExtensionHost(page, timeout);
  debug(`extension host ready in ${Date.now() - t} ms`);
  // A file at the top of the workspace: double-click its explorer row (no file search needed; pinned, not preview).
  // Anything else, e.g. 'notebooks/quickstart.mpnb': Quick Open (Ctrl+P), which searches the workspace with rg.
  const explorerRow = page
    .locator('.explorer-folders-view .monaco-list-row[aria-level="1"]')
    .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${esc(base)}$`) }) });
  if (base === fileName && (await explorerRow.count()) === 1) {
    await explorerRow.dblclick();
  } else {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(fileName);
    const row = page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${esc(base)}$`) }) })
      .first();
    try {
      await row.waitFor({ timeout: 15_000 });
    } catch {
      const seen = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts().catch(() => []);
      await page.keyboard.press('Escape');
      return fail(page, `openNotebook: Quick Open found no file named ${base} for "${fileName}"; it listed: ${JSON.stringify(seen)}`);
    }
    await row.click();
  }
  try {
    await page.locator(`.tabs-container .tab.active`, { hasText: base }).waitFor({ timeout });
  } catch {
    return fail(page, `openNotebook: no editor tab for ${fileName} within ${timeout} ms`);
  }
  debug(`notebook ${fileName} tab in ${Date.now() - t} ms`);
  // Cells render only once the extension has registered its serializer, i.e. after activation. Attached, not
  // visible: a markdown row has zero height (its preview lives in the output webview).
  const rows = page.locator(ROW).first();
  const textEditor = page.locator('.editor-instance:visible > .monaco-editor, .editor-instance:visible .text-editor-container');
  const until = t + timeout;
  let textSince = 0;
  while (!(await rows.count())) {
    if ((await page.locator(NOTEBOOK).count()) === 0 && (await textEditor.count())) {
      textSince ||= Date.now();
      if (Date.now() - textSince > 3000) {
        return fail(page, `openNotebook: ${fileName} opened in a text editor, not a notebook: no installed extension contributes a notebook for it (installed: ${installedExtensions(page).join(', ') || 'none'})`);
      }
    } else textSince = 0;
    if (Date.now() > until) {
      return fail(page, `openNotebook: ${fileName} showed no notebook cells within ${timeout} ms (did the extension activate and register its serializer?)`);
    }
    await sleep(100);
  }
  debug(`notebook ${fileName} cells in ${Date.now() - t} ms`);
  if (opts.kernel) await selectKernel(page, opts.kernel, Math.max(5000, timeout - (Date.now() - t)));
}

/** Waits until the extension host logged "Eager extensions activated" (read from the run folder's log). */
export async function waitForExtensionHost(page: Page, timeout = 60_000): Promise<void> {
  const vs = sessions.get(page);
  if (!vs) return;
  const until = Date.now() + timeout;
  while (!/Eager extensions activated/.test(vs.extensionHostLog())) {
    if (Date.now() > until) return fail(page, `the extension host did not finish starting within ${timeout} ms`);
    await sleep(100);
  }
}

function installedExtensions(page: Page): string[] {
  const vs = sessions.get(page);
  try {
    return vs ? readdirSync(vs.extensionsDir).filter((n) => !n.startsWith('.') && n !== 'extensions.json') : [];
  } catch {
    return [];
  }
}

/** Waits until the notebook toolbar shows `label` as its kernel; picks it from the kernel picker if none is selected. */
export async function selectKernel(page: Page, label: string, timeout = 30_000): Promise<void> {
  const kernel = page.locator(`${TOOLBAR} .kernel-label`);
  const until = Date.now() + timeout;
  let picked = false;
  let text = '';
  while (Date.now() < until) {
    text = ((await kernel.textContent({ timeout: 1000 }).catch(() => '')) ?? '').trim();
    if (text === label) return;
    if (!picked && /select kernel/i.test(text) && Date.now() > until - timeout + 3000) {
      picked = true;
      await kernel.click();
      const opt = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
      await opt.waitFor({ timeout: 10_000 }).catch(() => {});
      if (await opt.isVisible()) await opt.click();
      else await page.keyboard.press('Escape');
    }
    await sleep(100);
  }
  return fail(page, `selectKernel: the notebook kernel is "${text}", expected "${label}"`);
}

// In the page: a MutationObserver on the visible notebook's cell list counts every cell that turns pending or
// executing. Counting transitions (rather than polling the icons) sees a start even when the cell finishes in a few
// ms, so "the run started" never races with "the run is already over". On a loaded machine VS Code may render a fast
// run's cells straight to their final state, so a second sign is checked too: an execution order ([N]) above the
// highest shown when the counter was armed (the kernel numbers every execution as it starts).
async function armStartCounter(page: Page): Promise<number> {
  // Browser-side code: typed loosely, the project's tsconfig has no DOM lib.
  await page.locator(`${NOTEBOOK} .cell-list-container`).evaluate((list: any) => {
    list.__mpStarts = 0;
    if (list.__mpObs) return;
    const re = /codicon-notebook-state-(pending|executing)/;
    const sel = '[class*="codicon-notebook-state-pending"],[class*="codicon-notebook-state-executing"]';
    const obs = new (globalThis as any).MutationObserver((records: any[]) => {
      for (const r of records) {
        const nodes: any[] = r.type === 'attributes' ? [r.target] : [...r.addedNodes];
        for (const n of nodes) {
          if (n.nodeType !== 1) continue; // elements only
          if (re.test(String(n.className)) || n.querySelector(sel)) list.__mpStarts++;
        }
      }
    });
    obs.observe(list, { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
    list.__mpObs = obs;
  });
  return maxExecutionOrder(page);
}

/** The highest execution order ([N] beside a cell) the visible notebook shows; 0 if none. */
async function maxExecutionOrder(page: Page): Promise<number> {
  return page.locator(NOTEBOOK).evaluate((nb: any) =>
    Math.max(0, ...[...nb.querySelectorAll('.execution-count-label')].map((e: any) => Number(/\[(\d+)\]/.exec(e.textContent ?? '')?.[1] ?? 0))),
  );
}

async function waitStarted(page: Page, what: string, armedOrder: number, timeout = 15_000): Promise<void> {
  const list = page.locator(`${NOTEBOOK} .cell-list-container`);
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    const n: number = await list.evaluate((l: any) => l.__mpStarts ?? 0);
    if (n > 0 || (await maxExecutionOrder(page)) > armedOrder) return;
    const picker = page.locator('.quick-input-widget:visible .quick-input-title');
    if (await picker.isVisible().catch(() => false)) {
      const title = await picker.innerText().catch(() => '');
      await page.keyboard.press('Escape');
      return fail(page, `${what}: VS Code opened a picker ("${title}") instead of running: is a kernel selected?`);
    }
    await sleep(50);
  }
  return fail(page, `${what}: no cell started executing within ${timeout} ms`);
}

/** Clicks the notebook toolbar's Run All (falls back to the command) and waits until a cell starts. */
export async function runAllCells(page: Page): Promise<void> {
  const armed = await armStartCounter(page);
  const btn = page.locator(TOOLBAR).getByRole('button', { name: 'Run All', exact: true });
  if (await btn.isVisible()) await btn.click();
  else await executeCommand(page, 'Notebook: Run All');
  await waitStarted(page, 'runAllCells', armed);
}

/** Runs cell `index` (0-based over all cells, markdown included) with its run button; waits until it starts. */
export async function runCell(page: Page, index: number): Promise<void> {
  const row = await revealCell(page, index);
  const armed = await armStartCounter(page);
  await row.hover();
  const btn = row.locator('.run-button-container').getByRole('button', { name: /^Execute Cell/ });
  try {
    await btn.click({ timeout: 10_000 });
  } catch {
    return fail(page, `runCell(${index}): no "Execute Cell" button on that cell (a markdown cell? already running?)`);
  }
  await waitStarted(page, `runCell(${index})`, armed);
}

/**
 * Interrupts the running execution: the notebook toolbar's button ("Interrupt" when the controller has an
 * interruptHandler, "Stop Execution" otherwise), else the same commands from the palette. Waits until no cell runs.
 */
export async function interruptExecution(page: Page, opts: { timeout?: number } = {}): Promise<void> {
  const btn = page.locator(TOOLBAR).getByRole('button', { name: /^(Interrupt|Stop Execution)$/ });
  if (await btn.first().isVisible()) await btn.first().click();
  else {
    try {
      await executeCommand(page, 'Notebook: Interrupt', { timeout: 3000 });
    } catch {
      await executeCommand(page, 'Notebook: Stop Execution');
    }
  }
  const timeout = opts.timeout ?? 30_000;
  const until = Date.now() + timeout;
  let states: CellState[] = [];
  while (Date.now() < until) {
    if (!(await toolbarRunning(page))) {
      states = await cellStates(page);
      if (!summarize(states).running.length) return;
    }
    await sleep(100);
  }
  return fail(page, `interruptExecution: cells still running ${timeout} ms after the interrupt; cell states: ${states.map((s, i) => `${i}:${s}`).join(' ')}`);
}

/** Runs a command by its palette title (e.g. "Notebook: Clear All Outputs") through F1. */
export async function executeCommand(page: Page, title: string, opts: { timeout?: number } = {}): Promise<void> {
  const timeout = opts.timeout ?? 15_000;
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout });
  await input.fill(`>${title}`);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  const row = rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${esc(title)}$`) }) }).first();
  try {
    await row.waitFor({ timeout });
  } catch {
    const seen = await rows.locator('.label-name').allInnerTexts().catch(() => []);
    await page.keyboard.press('Escape');
    throw new Error(`executeCommand: no command titled "${title}"; the palette offered ${JSON.stringify(seen)}`);
  }
  await row.click();
}

/**
 * Saves a PNG of the page to test-results/e2e/<name>.png and logs its absolute path. The mouse is first parked on the
 * title bar so no hover tooltip covers the notebook (`keepMouse` to keep a hover state in the picture).
 */
export async function screenshot(page: Page, name: string, opts: { keepMouse?: boolean } = {}): Promise<string> {
  const file = join(RESULTS, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  mkdirSync(RESULTS, { recursive: true });
  if (!opts.keepMouse) {
    await page.mouse.move(0, 0);
    await page.locator('.monaco-hover:visible, .workbench-hover:visible').first().waitFor({ state: 'hidden', timeout: 2000 }).catch(() => {});
  }
  await page.screenshot({ path: file });
  log(`screenshot: ${file}`);
  return file;
}

export type CellState = 'success' | 'error' | 'executing' | 'pending' | 'idle' | 'markdown';

// The cell list is virtualised (only rows near the viewport exist in the DOM) and scrolls on wheel events. These run
// inside the page, one round trip per call: they dispatch synthetic wheel events on the list's scrollable element (a
// real mouse wheel over an output would go into the webview iframe instead) and wait two animation frames per step.
// Browser-side code is typed loosely (the project's tsconfig has no DOM lib) and must not use eval (workbench CSP).
type RowInfo = { index: number; last: boolean; markdown: boolean; state: string };

/** In the page: scrolls the list (wheel events) until row `index` is fully visible, or its top is, if it is taller. */
async function scrollToRow(list: any, arg: { index: number }): Promise<boolean> {
  const g = globalThis as any;
  const rowsOf = (l: any): RowInfo[] =>
    [...l.querySelectorAll('.monaco-list-row')].map((r: any) => {
      const icon = r.querySelector('[class*="codicon-notebook-state-"]');
      const m = icon ? /codicon-notebook-state-(\w+)/.exec(icon.className) : null;
      return {
        index: Number(r.getAttribute('data-index')),
        last: r.getAttribute('data-last-element') === 'true',
        markdown: r.classList.contains('markdown-cell-row'),
        state: m ? m[1] : 'idle',
      };
    });
  const scroller = list.querySelector('.monaco-scrollable-element') ?? list;
  const frames = () => new Promise((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(r)));
  // Monaco reads Chrome's wheelDeltaY (scroll px = wheelDeltaY / 120 * 50), which is 0 on synthetic events: set it.
  const wheel = (dy: number) => {
    const ev = new g.WheelEvent('wheel', { deltaY: dy, deltaMode: 0, bubbles: true, cancelable: true });
    Object.defineProperty(ev, 'wheelDeltaY', { get: () => (-dy * 120) / 50 });
    Object.defineProperty(ev, 'wheelDeltaX', { get: () => 0 });
    scroller.dispatchEvent(ev);
  };
  let stalled = 0;
  let lastKey = '';
  for (let i = 0; i < 400 && stalled < 5; i++) {
    const rows = rowsOf(list);
    if (!rows.length) return false;
    const idx = rows.map((r) => r.index);
    const lo = Math.min(...idx);
    const hi = Math.max(...idx);
    const el = list.querySelector(`.monaco-list-row[data-index="${arg.index}"]`);
    const cb = list.getBoundingClientRect();
    let dy: number;
    if (el) {
      const rb = el.getBoundingClientRect();
      if (rb.top >= cb.top - 1 && (rb.bottom <= cb.bottom + 1 || rb.top <= cb.top + 30)) return true;
      dy = rb.top - cb.top - 20;
    } else {
      if (arg.index > hi && rows.some((r) => r.last)) return false; // past the last cell
      const els = [...list.querySelectorAll('.monaco-list-row')];
      const avg = Math.max(20, els.reduce((s: number, e: any) => s + e.offsetHeight, 0) / els.length);
      dy = arg.index < lo ? -(lo - arg.index) * avg : (arg.index - hi) * avg;
    }
    wheel(dy);
    await frames();
    // the rows' positions, not just which rows: scrolling through one tall output keeps the same rows in view
    const key = [...list.querySelectorAll('.monaco-list-row')].map((r: any) => `${r.getAttribute('data-index')}@${Math.round(r.getBoundingClientRect().top)}`).join(',');
    stalled = key === lastKey ? stalled + 1 : 0;
    lastKey = key;
  }
  return !!list.querySelector(`.monaco-list-row[data-index="${arg.index}"]`);
}

/** In the page: every row's state, scrolling from the top to the last row if not all rows are rendered. */
async function sweepRows(list: any): Promise<RowInfo[]> {
  const g = globalThis as any;
  const rowsOf = (l: any): RowInfo[] =>
    [...l.querySelectorAll('.monaco-list-row')].map((r: any) => {
      const icon = r.querySelector('[class*="codicon-notebook-state-"]');
      const m = icon ? /codicon-notebook-state-(\w+)/.exec(icon.className) : null;
      return {
        index: Number(r.getAttribute('data-index')),
        last: r.getAttribute('data-last-element') === 'true',
        markdown: r.classList.contains('markdown-cell-row'),
        state: m ? m[1] : 'idle',
      };
    });
  const seen = new Map<number, RowInfo>();
  const add = () => {
    const rows = rowsOf(list);
    for (const r of rows) seen.set(r.index, r);
    return rows;
  };
  let rows = add();
  if (seen.has(0) && rows.some((r) => r.last)) return [...seen.values()];
  const scroller = list.querySelector('.monaco-scrollable-element') ?? list;
  const frames = () => new Promise((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(r)));
  // Monaco reads Chrome's wheelDeltaY (scroll px = wheelDeltaY / 120 * 50), which is 0 on synthetic events: set it.
  const wheel = (dy: number) => {
    const ev = new g.WheelEvent('wheel', { deltaY: dy, deltaMode: 0, bubbles: true, cancelable: true });
    Object.defineProperty(ev, 'wheelDeltaY', { get: () => (-dy * 120) / 50 });
    Object.defineProperty(ev, 'wheelDeltaX', { get: () => 0 });
    scroller.dispatchEvent(ev);
  };
  const h = Math.max(100, list.getBoundingClientRect().height * 0.7);
  for (let i = 0; i < 200 && !rows.some((r) => r.index === 0); i++) {
    wheel(-h * 4);
    await frames();
    rows = add();
  }
  let lastKey = '';
  for (let i = 0, stalled = 0; i < 2000 && stalled < 5 && !rows.some((r) => r.last); i++) {
    wheel(h);
    await frames();
    rows = add();
    // A row taller than several sweep steps (a long output) keeps the same rows in view while the list still scrolls:
    // only a list whose rows stop moving has stalled.
    const key = [...list.querySelectorAll('.monaco-list-row')].map((r: any) => `${r.getAttribute('data-index')}@${Math.round(r.getBoundingClientRect().top)}`).join(',');
    stalled = key === lastKey ? stalled + 1 : 0;
    lastKey = key;
  }
  return [...seen.values()];
}

function toStates(rows: RowInfo[]): CellState[] {
  const n = rows.length ? Math.max(...rows.map((r) => r.index)) + 1 : 0;
  const out: CellState[] = Array.from({ length: n }, () => 'idle');
  for (const r of rows) out[r.index] = (r.markdown ? 'markdown' : r.state) as CellState;
  return out;
}

/**
 * State of every cell of the visible notebook, indexed like the notebook (markdown cells included): 'success',
 * 'error', 'executing', 'pending', 'idle' (never run or cleared) or 'markdown'. Sweeps a long notebook top to bottom.
 */
export async function cellStates(page: Page): Promise<CellState[]> {
  const list = page.locator(`${NOTEBOOK} .cell-list-container`);
  return toStates(await list.evaluate(sweepRows));
}

/** True while the notebook toolbar offers Interrupt / Stop Execution, i.e. some cell is pending or executing. */
async function toolbarRunning(page: Page): Promise<boolean> {
  return page
    .locator(TOOLBAR)
    .getByRole('button', { name: /^(Interrupt|Stop Execution)$/ })
    .first()
    .isVisible()
    .catch(() => false);
}

function summarize(states: CellState[]) {
  const idx = (s: CellState[]) => states.flatMap((x, i) => (s.includes(x) ? [i] : []));
  return { success: idx(['success']), error: idx(['error']), running: idx(['executing', 'pending']) };
}

/**
 * Waits until at least `n` code cells are finished (success OR error icon) and none is pending/executing. Returns the
 * indices of the succeeded and failed cells; on timeout the error names every cell's state and the last error output.
 */
export async function waitForCellsDone(
  page: Page,
  n: number,
  opts: { timeout?: number } = {},
): Promise<{ success: number[]; error: number[]; states: CellState[] }> {
  const timeout = opts.timeout ?? 120_000;
  const until = Date.now() + timeout;
  let states: CellState[] = [];
  while (true) {
    // While the toolbar says something runs, there is nothing to count yet: skip the (scrolling) sweep.
    if (states.length && (await toolbarRunning(page))) {
      if (Date.now() > until) break;
      await sleep(100);
      continue;
    }
    states = await cellStates(page);
    const s = summarize(states);
    if (s.success.length + s.error.length >= n && !s.running.length) {
      if (s.error.length) log(`waitForCellsDone: cells ${s.error.join(', ')} ended in the error state`);
      return { success: s.success, error: s.error, states };
    }
    if (Date.now() > until) break;
    await sleep(100);
  }
  return fail(page, `waitForCellsDone: expected ${n} finished cells within ${timeout} ms; cell states: ${states.map((s, i) => `${i}:${s}`).join(' ')}`);
}

/** Scrolls the virtualised cell list until row `index` (0-based, markdown included) is in view; returns the row. */
export async function revealCell(page: Page, index: number): Promise<Locator> {
  const list = page.locator(`${NOTEBOOK} .cell-list-container`);
  const ok = await list.evaluate(scrollToRow, { index });
  const row = page.locator(`${ROW}[data-index="${index}"]`);
  if (!ok && !(await row.count())) {
    return fail(page, `revealCell: the notebook has no cell ${index} (it has ${(await cellStates(page)).length})`);
  }
  return row;
}

/** Output containers of the webview whose top lines up with row `index` in the workbench (same page coordinates). */
async function cellOutputs(page: Page, index: number): Promise<{ text: string; error: boolean }[] | null> {
  const row = await revealCell(page, index);
  const rbox = await row.boundingBox();
  const fbox = await page.locator(`${NOTEBOOK} iframe.webview`).contentFrame().locator('#active-frame').boundingBox().catch(() => null);
  if (!rbox || !fbox) return null;
  const containers: { top: number; outputs: { text: string; error: boolean }[] }[] | null = await outputFrame(page)
    .locator('#container')
    .evaluate((c: any) =>
      [...c.querySelectorAll(':scope > .cell_container')].map((cc: any) => ({
        top: cc.getBoundingClientRect().top as number,
        outputs: [...cc.querySelectorAll('.output')].map((o: any) => ({
          text: o.innerText as string,
          error: o.classList.contains('error') as boolean,
        })),
      })),
    )
    .catch(() => null);
  if (!containers) return null;
  const hit = containers.find((c) => Math.abs(fbox.y + c.top - rbox.y) < 3);
  return hit ? hit.outputs : null;
}

/**
 * Text of all outputs of cell `index` (0-based, markdown cells included), as rendered in the output webview. Waits
 * until the cell has output (and, with `match`, until the text matches).
 */
export async function cellOutputText(
  page: Page,
  index: number,
  opts: { match?: string | RegExp; timeout?: number } = {},
): Promise<string> {
  const timeout = opts.timeout ?? 30_000;
  const until = Date.now() + timeout;
  let text: string | null = null;
  while (true) {
    const outs = await cellOutputs(page, index);
    text = outs && outs.length ? outs.map((o) => o.text.trim()).join('\n') : null;
    const m = opts.match;
    if (text !== null && (!m || (typeof m === 'string' ? text.includes(m) : m.test(text)))) return text;
    if (Date.now() > until) break;
    await sleep(100);
  }
  return fail(
    page,
    `cellOutputText(${index}): ${text === null ? 'no output' : `output ${JSON.stringify(text)}`}` +
      `${opts.match ? ` did not match ${String(opts.match)}` : ''} within ${timeout} ms`,
  );
}

/** Scrolls the notebook's cell list by `dy` pixels (positive = down), e.g. to bring a tall output into view. */
export async function scrollNotebookBy(page: Page, dy: number): Promise<void> {
  await page.locator(`${NOTEBOOK} .cell-list-container`).evaluate(async (list: any, d: number) => {
    const g = globalThis as any;
    const scroller = list.querySelector('.monaco-scrollable-element') ?? list;
    for (let left = d; Math.abs(left) > 0; ) {
      const step = Math.sign(left) * Math.min(Math.abs(left), 200);
      // Monaco reads Chrome's wheelDeltaY, which synthetic events lack: set it.
      const ev = new g.WheelEvent('wheel', { deltaY: step, deltaMode: 0, bubbles: true, cancelable: true });
      Object.defineProperty(ev, 'wheelDeltaY', { get: () => (-step * 120) / 50 });
      Object.defineProperty(ev, 'wheelDeltaX', { get: () => 0 });
      scroller.dispatchEvent(ev);
      left -= step;
      await new Promise((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(r)));
    }
  }, dy);
}

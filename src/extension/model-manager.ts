/**
 * "MagicPortrait: Open Model Manager": the webview panel (webviews/model-manager.ts) and its host side. The host never
 * reads a checkpoint itself: scans and imports run in a child process — the bundled CLI, `models scan|import --json`
 * (src/kernel/models/cli.ts) — whose stdout is one JSON event per line; Cancel writes "cancel" to its stdin (the
 * import stops at the next tensor and removes the half-built step), and a child that does not stop is killed (the
 * bundle's manifest is written last, so a killed import never looks complete either).
 *
 * Workspace trust: a scan only looks at file names and sizes, which is safe anywhere; the estimate (checkpoint
 * headers) and the import (every tensor) parse user files, so they need a trusted workspace.
 * The folders are remembered in global state (downloads are per machine, not per project).
 */
import * as vscode from 'vscode';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { HostMessage, ManagerEvent, ModelConfig, PanelMessage, PanelSettings } from '../shared/model-manager';

const STATE_KEY = 'magicportrait.modelManager.settings';
const CANCEL_GRACE_MS = 10_000;

export class ModelManagerPanel implements vscode.Disposable {
  private static current: ModelManagerPanel | undefined;
  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private scanChild: ChildProcess | undefined;
  private importChild: ChildProcess | undefined;

  static show(context: vscode.ExtensionContext, log: vscode.OutputChannel): void {
    if (ModelManagerPanel.current) ModelManagerPanel.current.panel.reveal();
    else ModelManagerPanel.current = new ModelManagerPanel(context, log);
  }

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.OutputChannel,
  ) {
    const dist = vscode.Uri.joinPath(context.extensionUri, 'dist');
    this.panel = vscode.window.createWebviewPanel('magicportrait.modelManager', 'MagicPortrait Model Manager', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [dist],
      retainContextWhenHidden: true,
    });
    this.panel.webview.html = this.html(vscode.Uri.joinPath(dist, 'webviews', 'model-manager.js'));
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((m: PanelMessage) => void this.onMessage(m).catch((e: Error) => this.post({ type: 'error', message: e.message, cancelled: false }))),
      this.panel.onDidDispose(() => this.dispose()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.post({ type: 'init', settings: this.settings(), trusted: true });
        this.scan(this.settings());
      }),
    );
  }

  dispose(): void {
    ModelManagerPanel.current = undefined;
    this.scanChild?.kill();
    this.cancelImport();
    for (const d of this.disposables) d.dispose();
  }

  private html(script: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const src = this.panel.webview.cspSource;
    // The elements style themselves through constructed stylesheets and style properties: no 'unsafe-inline' needed.
    const csp = `default-src 'none'; script-src 'nonce-${nonce}' ${src}; style-src ${src}; img-src ${src} data:; font-src ${src}`;
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MagicPortrait Model Manager</title></head>
<body><div id="app"></div>
<script type="module" nonce="${nonce}" src="${this.panel.webview.asWebviewUri(script)}"></script>
</body></html>`;
  }

  private post(m: HostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private settings(): PanelSettings {
    const s = this.context.globalState.get<Partial<PanelSettings>>(STATE_KEY) ?? {};
    return { folders: { ...(s.folders ?? {}) }, out: s.out ?? '', precision: s.precision === 'fp16' ? 'fp16' : 'fp32' };
  }

  private config(s: PanelSettings): ModelConfig {
    const arch = vscode.workspace.getConfiguration('magicportrait').get<string>('models.architectureFile', '');
    return { folders: s.folders, out: s.out || undefined, precision: s.precision, ...(arch ? { architecture: arch } : {}) };
  }

  private async onMessage(m: PanelMessage): Promise<void> {
    switch (m.type) {
      case 'ready': {
        const s = this.settings();
        this.post({ type: 'init', settings: s, trusted: vscode.workspace.isTrusted });
        this.scan(s);
        return;
      }
      case 'scan':
        await this.context.globalState.update(STATE_KEY, m.settings);
        this.scan(m.settings);
        return;
      case 'browse': {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Select folder' });
        if (picked?.[0]) this.post({ type: 'browsed', target: m.target, path: picked[0].fsPath });
        return;
      }
      case 'import':
        // start before awaiting anything, so a Cancel right behind this message finds the running import
        this.startImport(m.settings);
        await this.context.globalState.update(STATE_KEY, m.settings);
        return;
      case 'cancel':
        this.cancelImport();
        return;
      case 'trust':
        await vscode.commands.executeCommand('workbench.trust.manage');
        return;
    }
  }

  /** Runs `magicportrait models …` from the bundled CLI; `onEvent` gets each JSON line. */
  private run(args: string[], onEvent: (e: ManagerEvent) => void, onExit: (code: number | null, stderr: string) => void): ChildProcess {
    const child = fork(this.context.asAbsolutePath('dist/cli.js'), ['models', ...args], {
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      execArgv: [],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      this.log.append(d.toString());
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        onEvent(JSON.parse(line) as ManagerEvent);
      } catch {
        this.log.appendLine(`[model manager] ${line}`);
      }
    });
    child.on('exit', (code) => onExit(code, stderr));
    return child;
  }

  private scan(s: PanelSettings): void {
    this.scanChild?.kill();
    const trusted = vscode.workspace.isTrusted;
    const child = this.run(
      ['scan', '--config-json', JSON.stringify(this.config(s)), '--json', ...(trusted ? [] : ['--no-estimate'])],
      (e) => {
        if (e.type === 'scan') this.post({ type: 'scan', scan: e.scan, scanning: false });
        else if (e.type === 'error') this.post({ type: 'error', message: e.message, cancelled: false });
      },
      (code, stderr) => {
        if (code === 2 && this.scanChild === child) this.post({ type: 'error', message: stderr.trim().replace(/^magicportrait: /, ''), cancelled: false });
      },
    );
    this.scanChild = child;
  }

  private startImport(s: PanelSettings): void {
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'error', message: 'Importing parses the checkpoint files: trust this workspace first.', cancelled: false });
      return;
    }
    if (this.importChild) return;
    let ended = false;
    const child = this.run(
      ['import', '--config-json', JSON.stringify(this.config(s)), '--json'],
      (e) => {
        if (e.type === 'progress') this.post({ type: 'progress', progress: { fraction: e.fraction, step: e.step, message: e.message } });
        else if (e.type === 'result') {
          ended = true;
          this.post({ type: 'result', result: e.result });
        } else if (e.type === 'error') {
          ended = true;
          this.post({ type: 'error', message: e.message, cancelled: e.code === 'cancelled' });
        }
      },
      (code, stderr) => {
        if (this.importChild === child) this.importChild = undefined;
        if (!ended) this.post({ type: 'error', message: code === null ? 'The import process was stopped.' : `The import process ended (exit ${code}): ${stderr.trim().slice(-2000)}`, cancelled: code === null });
      },
    );
    this.importChild = child;
  }

  private cancelImport(): void {
    const child = this.importChild;
    if (!child) return;
    child.stdin?.write('cancel\n');
    const t = setTimeout(() => child.kill(), CANCEL_GRACE_MS);
    child.once('exit', () => clearTimeout(t));
  }
}

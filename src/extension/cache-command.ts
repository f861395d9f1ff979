/** *MagicPortrait: Show or Clear the Stage Cache*: the cache's size against its limit, and a button to clear it. */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { describeCache, environmentSettings, formatBytes, StageCache } from '../kernel/host';
import { kernelEnvironment } from './kernel-settings';

/** The stage cache the kernels of this window use (the `magicportrait.cacheDir` and `cacheMaxSizeGB` settings). */
export function configuredCache(): StageCache {
  const s = environmentSettings({ ...process.env, ...kernelEnvironment(vscode.workspace.getConfiguration('magicportrait')) });
  return new StageCache(join(s.cacheRoot, 'stages'), { maxBytes: s.cacheMaxBytes });
}

export async function manageCache(log: vscode.OutputChannel): Promise<void> {
  const cache = configuredCache();
  const info = cache.info();
  const text = describeCache(info);
  log.appendLine(text);
  const pick = await vscode.window.showInformationMessage(
    `Stage cache: ${info.entries} entries, ${formatBytes(info.bytes)}${info.maxBytes ? ` of ${formatBytes(info.maxBytes)}` : ''} (${info.dir})`,
    { modal: false, detail: text },
    'Clear Cache',
  );
  if (pick !== 'Clear Cache') return;
  const r = cache.clear();
  const done = `Removed ${r.entries} stage cache entries (${formatBytes(r.bytes)}) from ${cache.dir}.`;
  log.appendLine(done);
  void vscode.window.showInformationMessage(done);
}

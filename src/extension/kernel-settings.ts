/**
 * The extension's settings as the environment of a kernel process (the kernel resolves them in src/kernel/settings.ts):
 * one translation, used to start kernels and to find the stage cache they share.
 */
import type * as vscode from 'vscode';
import { ENV } from '../kernel/host';

/** `magicportrait.*` settings → the kernel's MAGICPORTRAIT_* environment variables. */
export function kernelEnvironment(cfg: vscode.WorkspaceConfiguration): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const ffmpeg = cfg.get<string>('ffmpegPath');
  if (ffmpeg) env[ENV.ffmpeg] = ffmpeg;
  const python = cfg.get<string>('pythonPath');
  if (python) env[ENV.python] = python; // the trainer's interpreter (mp.train)
  env[ENV.provider] = cfg.get<string>('executionProvider', 'cpu');
  env[ENV.threads] = String(cfg.get<number>('threads', 0));
  const cacheDir = cfg.get<string>('cacheDir');
  if (cacheDir) env[ENV.cache] = cacheDir;
  env[ENV.cacheMaxBytes] = String(Math.max(0, cfg.get<number>('cacheMaxSizeGB', 10)) * 1024 ** 3);
  return env;
}

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelClient, type CellOutcome } from '../../src/kernel/runtime/client';
import type { MimeBundle } from '../../src/shared/outputs';

export const repoRoot = join(__dirname, '..', '..');

/** A kernel process running the TypeScript sources through tsx, as tests need no build step. */
export function testKernel(opts: { interruptGraceMs?: number; env?: NodeJS.ProcessEnv } = {}): KernelClient {
  return new KernelClient({
    entry: join(repoRoot, 'src/kernel/main.ts'),
    execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href],
    cwd: repoRoot,
    ...opts,
  });
}

export interface Collected {
  outcome: CellOutcome;
  stdout: string;
  stderr: string;
  displays: { bundle: MimeBundle; displayId?: string }[];
  updates: { bundle: MimeBundle; displayId: string }[];
}

export async function run(kernel: KernelClient, code: string, cellLabel = 'Cell 1', notebookPath?: string): Promise<Collected> {
  const c: Omit<Collected, 'outcome'> = { stdout: '', stderr: '', displays: [], updates: [] };
  const outcome = await kernel.execute(
    { code, cellLabel, ...(notebookPath ? { notebookPath } : {}) },
    {
      onStream: (name, text) => (c[name] += text),
      onDisplay: (bundle, displayId) => c.displays.push({ bundle, ...(displayId ? { displayId } : {}) }),
      onUpdate: (bundle, displayId) => c.updates.push({ bundle, displayId }),
    },
  );
  return { ...c, outcome };
}

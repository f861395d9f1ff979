/**
 * `npm run package` (scripts/package.mjs) builds one .vsix per platform. Each is unpacked (its zip directory and the
 * native entries) and checked: the manifest's TargetPlatform; exactly that platform's onnxruntime-node binaries, byte
 * for byte the files npm installed; their executable format and CPU read from their headers (ELF e_machine, PE machine,
 * Mach-O cputype) — independent of the folder names they sit in; no other platform's ONNX Runtime; the linux-x64
 * ffmpeg only in the linux-x64 package; and the same JavaScript (dist/) in all four.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openFileSource } from '../../src/kernel/io/source';
import { ZipReader } from '../../src/kernel/io/zip';

const ROOT = resolve(__dirname, '..', '..');
const ORT_BIN = join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
const EXPECT: Record<string, { dir: string; files: string[]; format: 'elf' | 'pe' | 'macho'; cpu: string }> = {
  'linux-x64': { dir: 'linux/x64', files: ['libonnxruntime.so.1', 'onnxruntime_binding.node'], format: 'elf', cpu: 'x86-64' },
  'linux-arm64': { dir: 'linux/arm64', files: ['libonnxruntime.so.1', 'onnxruntime_binding.node'], format: 'elf', cpu: 'aarch64' },
  'win32-x64': { dir: 'win32/x64', files: ['DirectML.dll', 'dxcompiler.dll', 'dxil.dll', 'onnxruntime.dll', 'onnxruntime_binding.node'], format: 'pe', cpu: 'x86-64' },
  'darwin-arm64': { dir: 'darwin/arm64', files: ['libonnxruntime.1.30.0.dylib', 'libonnxruntime.1.dylib', 'onnxruntime_binding.node'], format: 'macho', cpu: 'arm64' },
};

/** Executable format and CPU from the first bytes of a native library. */
function nativeKind(b: Uint8Array): { format: string; cpu: string } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0, false) === 0x7f454c46) {
    const machine = dv.getUint16(18, true);
    return { format: 'elf', cpu: machine === 62 ? 'x86-64' : machine === 183 ? 'aarch64' : `elf machine ${machine}` };
  }
  if (dv.getUint16(0, true) === 0x5a4d) {
    const pe = dv.getUint32(0x3c, true);
    assert.equal(dv.getUint32(pe, true), 0x00004550, 'PE signature');
    const machine = dv.getUint16(pe + 4, true);
    return { format: 'pe', cpu: machine === 0x8664 ? 'x86-64' : machine === 0xaa64 ? 'arm64' : `pe machine ${machine.toString(16)}` };
  }
  if (dv.getUint32(0, true) === 0xfeedfacf) {
    const cputype = dv.getUint32(4, true);
    return { format: 'macho', cpu: cputype === 0x0100000c ? 'arm64' : cputype === 0x01000007 ? 'x86-64' : `mach-o cputype ${cputype}` };
  }
  return { format: 'unknown', cpu: 'unknown' };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let out: string;

before(() => {
  out = mkdtempSync(join(tmpdir(), 'mp-vsix-'));
  const r = spawnSync(process.execPath, ['scripts/package.mjs', '--out', out], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run package failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => rmSync(out, { recursive: true, force: true }));

test('one package per platform, each with only its own ONNX Runtime binaries (verified bytes, format and CPU)', async (t) => {
  const distHashes = new Map<string, string>();
  for (const [target, want] of Object.entries(EXPECT)) {
    const src = await openFileSource(join(out, `magicportrait-studio-${target}.vsix`));
    try {
      const zip = await ZipReader.open(src);
      const names = [...zip.entries.keys()];
      const manifest = new TextDecoder().decode(await zip.read(zip.get('extension.vsixmanifest')!));
      assert.match(manifest, new RegExp(`TargetPlatform="${target}"`), `${target}: manifest`);
      const ort = names.filter((n) => n.startsWith('extension/node_modules/onnxruntime-node/bin/'));
      assert.deepEqual(ort.map((n) => n.split('/').slice(-3).join('/')).sort(), want.files.map((f) => `${want.dir}/${f}`).sort(), `${target}: ONNX Runtime files`);
      for (const f of want.files) {
        const bytes = await zip.read(zip.get(`extension/node_modules/onnxruntime-node/bin/napi-v6/${want.dir}/${f}`)!);
        assert.equal(sha(bytes), sha(readFileSync(join(ORT_BIN, want.dir, f))), `${target}: ${f} is the installed file`);
        assert.deepEqual(nativeKind(bytes), { format: want.format, cpu: want.cpu }, `${target}: ${f}`);
      }
      const ffmpeg = names.includes('extension/node_modules/@ffmpeg-installer/linux-x64/ffmpeg');
      assert.equal(ffmpeg, target === 'linux-x64', `${target}: linux-x64 ffmpeg ${ffmpeg ? 'present' : 'absent'}`);
      if (ffmpeg) assert.deepEqual(nativeKind((await zip.read(zip.get('extension/node_modules/@ffmpeg-installer/linux-x64/ffmpeg')!)).subarray(0, 64)), { format: 'elf', cpu: 'x86-64' });
      // the same bundled JavaScript everywhere
      for (const js of ['extension/dist/extension.js', 'extension/dist/kernel.js', 'extension/dist/cli.js']) {
        const h = sha(await zip.read(zip.get(js)!));
        if (!distHashes.has(js)) distHashes.set(js, h);
        assert.equal(h, distHashes.get(js), `${target}: ${js}`);
      }
      t.diagnostic(`${target}: ${names.length} files, ${(src.size / 2 ** 20).toFixed(1)} MiB`);
    } finally {
      await src.close();
    }
  }
  // the machine's own platform is also written as magicportrait-studio.vsix (what the README's command installs)
  const host = `${process.platform}-${process.arch}`;
  if (EXPECT[host]) assert.equal(sha(readFileSync(join(out, 'magicportrait-studio.vsix'))), sha(readFileSync(join(out, `magicportrait-studio-${host}.vsix`))));
});

/** Sparse real-layout checkpoints at full size (headers of golden/fullsize_headers.py, data as file holes). */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Real-layout safetensors files with the fixture's headers and no data (a hole of the right size). */
export function writeSparseCheckpoints(dir: string): void {
  const fx = JSON.parse(gunzipSync(readFileSync(join(__dirname, 'fixtures', 'fullsize_headers.json.gz'))).toString('utf8')) as {
    configs: Record<string, unknown>;
    files: Record<string, Record<string, [string, number[]]>>;
  };
  for (const [p, cfg] of Object.entries(fx.configs)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), JSON.stringify(cfg));
  }
  for (const [p, keys] of Object.entries(fx.files)) {
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [k, [dtype, shape]] of Object.entries(keys)) {
      const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'F16' ? 2 : 4);
      header[k] = { dtype, shape, data_offsets: [off, off + bytes] };
      off += bytes;
    }
    let h = Buffer.from(JSON.stringify(header));
    h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    const fd = openSync(join(dir, p), 'w');
    writeSync(fd, len);
    writeSync(fd, h);
    ftruncateSync(fd, 8 + h.length + off);
    closeSync(fd);
  }
}


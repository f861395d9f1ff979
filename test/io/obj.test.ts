import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MagicPortraitError } from '../../src/kernel/errors';
import { parseObj, readObj } from '../../src/kernel/io/obj';

// A quad split by a UV seam: 4 vertices but 5 UV vertices, as in FLAME's head_template.obj.
const OBJ = `# test
mtllib head.mtl
o head
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0.5 1.0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vt 0.25 0.75
vn 0 0 1
s off
f 1/1/1 2/2/1 3/3/1
f 1/5 3/3 4/4
f -4//1 -2//1 -1//1
f 1 2 3 4
`;

describe('obj', () => {
  it('reads v, vt, f with separate vertex and UV indices and triangulates polygons', () => {
    const m = parseObj(OBJ);
    assert.deepEqual(Array.from(m.vertices), [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0.5]);
    assert.deepEqual(Array.from(m.uvs), [0, 0, 1, 0, 1, 1, 0, 1, 0.25, 0.75]);
    assert.deepEqual(Array.from(m.faces), [0, 1, 2, 0, 2, 3, 0, 2, 3, 0, 1, 2, 0, 2, 3]);
    assert.deepEqual(Array.from(m.uvFaces!), [0, 1, 2, 4, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
    assert.deepEqual(Array.from(m.normalFaces!), [0, 0, 0, -1, -1, -1, 0, 0, 0, -1, -1, -1, -1, -1, -1]);
  });

  it('no UVs → uvFaces null; CRLF accepted', () => {
    const m = parseObj('v 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nf 1 2 3\r\n');
    assert.equal(m.uvFaces, null);
    assert.deepEqual(Array.from(m.faces), [0, 1, 2]);
  });

  it('errors name the file and line', async () => {
    assert.throws(() => parseObj('v 0 0 0\nf 1 2 3\n', 'head.obj'), /head\.obj line 2: vertex index 2 out of range/);
    assert.throws(() => parseObj('v 0 x 0\n', 'head.obj'), /head\.obj line 1: not a number/);
    assert.throws(() => parseObj('v 0 0 0\nf 1 1\n', 'head.obj'), MagicPortraitError);
    const dir = mkdtempSync(join(tmpdir(), 'obj-'));
    writeFileSync(join(dir, 'head_template.obj'), OBJ);
    assert.equal((await readObj(join(dir, 'head_template.obj'))).faces.length, 15);
    await assert.rejects(readObj(join(dir, 'nope.obj')), /nope\.obj: file not found/);
    rmSync(dir, { recursive: true, force: true });
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNotebook, serializeNotebook, type NotebookData } from '../../src/kernel/notebook/nbformat';
import { MIME } from '../../src/shared/outputs';

const sample: NotebookData = {
  metadata: { kernelspec: { name: 'magicportrait', display_name: 'MagicPortrait', language: 'typescript' }, custom: { a: 1 } },
  cells: [
    { kind: 'markdown', source: '# Title\n\nText', language: 'markdown', id: 'm1', outputs: [], executionCount: null, metadata: {} },
    {
      kind: 'code',
      source: 'const x = 1;\nconsole.log(x)\nx',
      language: 'typescript',
      id: 'c1',
      executionCount: 3,
      metadata: { tags: ['parameters'] },
      outputs: [
        { kind: 'stream', name: 'stdout', text: 'a\nb\n' },
        { kind: 'stream', name: 'stderr', text: 'warn' },
        { kind: 'display', data: { [MIME.frames]: { title: 'T', fps: 24, tracks: [] }, 'text/plain': 'T — none' }, metadata: {} },
        { kind: 'result', data: { 'text/plain': '1' }, executionCount: 3, metadata: {} },
        { kind: 'error', error: { name: 'RangeError', message: 'bad', stack: 'RangeError: bad\n    at Cell 1, line 2' } },
      ],
    },
    { kind: 'code', source: 'display(1)', language: 'javascript', id: 'c2', outputs: [], executionCount: null, metadata: {} },
  ],
};

test('a notebook with every output kind survives serialise → parse unchanged', () => {
  const text = serializeNotebook(sample);
  const back = parseNotebook(text);
  assert.deepEqual(back.cells, sample.cells);
  assert.deepEqual(back.metadata.custom, { a: 1 });
  // And the round trip is stable byte for byte (no churn in diffs).
  assert.equal(serializeNotebook(back), text);
});

test('the file is nbformat 4.5 JSON that Jupyter tooling reads: kernelspec, list-of-lines sources, JSON MIME as objects', () => {
  const raw = JSON.parse(serializeNotebook(sample));
  assert.equal(raw.nbformat, 4);
  assert.equal(raw.nbformat_minor, 5);
  assert.equal(raw.metadata.kernelspec.name, 'magicportrait');
  assert.deepEqual(raw.cells[1].source, ['const x = 1;\n', 'console.log(x)\n', 'x']);
  assert.equal(raw.cells[1].outputs[0].output_type, 'stream');
  assert.equal(typeof raw.cells[1].outputs[2].data[MIME.frames], 'object');
  assert.equal(raw.cells[1].outputs[3].output_type, 'execute_result');
  assert.equal(raw.cells[1].outputs[4].ename, 'RangeError');
  assert.equal(raw.cells[2].metadata.language, 'javascript');
  for (const c of raw.cells) assert.equal(typeof c.id, 'string');
});

test('an empty file opens as an empty notebook; bad JSON and other formats give clear errors', () => {
  assert.deepEqual(parseNotebook('').cells, []);
  assert.throws(() => parseNotebook('{not json', 'x.mpnb'), /x\.mpnb is not valid notebook JSON/);
  assert.throws(() => parseNotebook('{"nbformat": 3, "worksheets": []}', 'old.mpnb'), /not an nbformat 4 notebook/);
});

test('damaged notebooks name the file, cell and field instead of failing with a TypeError or dropping a cell', () => {
  assert.throws(() => parseNotebook('null', 'n.mpnb'), /n\.mpnb is not an nbformat 4 notebook: its JSON is null, not an object/);
  assert.throws(() => parseNotebook('[1]', 'a.mpnb'), /its JSON is a list/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [null]}', 'c.mpnb'), /c\.mpnb: cell 1 is null, not a cell object/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 7}]}', 's.mpnb'), /s\.mpnb: cell 1: "source" must be text .* but it is a number/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "markdown", "id": "m", "source": {"a": 1}}]}', 's.mpnb'), /cell 1 \(id m\): "source" .* an object/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["a", 2]}]}', 's.mpnb'), /a list \(item 1 is a number\)/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": {}}]}', 'o.mpnb'), /"outputs" must be a list/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": [null]}]}', 'o.mpnb'), /cell 1, output 1 is null/);
  assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [], "metadata": 3}', 'm.mpnb'), /"metadata" must be an object/);
  // a missing source is an empty cell, as Jupyter reads it
  assert.equal(parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code"}]}').cells[0]!.source, '');
});

test('a UTF-8 byte order mark before the JSON is accepted', () => {
  const text = serializeNotebook(sample);
  assert.deepEqual(parseNotebook('\uFEFF' + text).cells, sample.cells);
});

/**
 * Provider selection: every provider onnxruntime-node's binary for this platform reports (its listSupportedBackends)
 * is classified, a provider this build lacks or an unknown setting is refused with a message naming what is available,
 * and 'auto' never picks a provider that is not ready.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/kernel/onnx/graph';
import { createSession, sessionPlacement } from '../../src/kernel/onnx/session';
import { AUTO_ORDER, PROVIDER_NAMES, formatProviderStatuses, providerStatuses, resolveProvider } from '../../src/kernel/onnx/providers';
import { MagicPortraitError } from '../../src/kernel/errors';

const model = () => {
  const g = new GraphBuilder('id');
  g.op('Identity', [g.input('x', 'float32', [2])], {}, 'y');
  g.output('y', 'float32', [2]);
  return g.toBytes();
};

test('statuses follow what the installed binary reports', () => {
  const backends = new Set(ort.listSupportedBackends().map((b) => b.name));
  const list = providerStatuses();
  assert.deepEqual(list.map((s) => s.name), [...PROVIDER_NAMES]);
  for (const s of list) {
    assert.equal(s.built, s.name === 'cpu' || backends.has(s.name), s.name);
    if (!s.built) assert.equal(s.ready, false);
  }
  assert.match(formatProviderStatuses(list, true), /^\| provider \| state \|/);
});

test('unknown or unavailable providers are refused with what is available; auto picks only ready ones', async () => {
  await assert.rejects(createSession(model(), { provider: 'tpu' as never }), (e: MagicPortraitError) => e.code === 'bad-setting' && /choose one of cpu, cuda, dml, coreml, webgpu, auto/.test(e.message));
  const missing = providerStatuses().find((s) => !s.built)!;
  await assert.rejects(
    createSession(model(), { provider: missing.name }),
    (e: MagicPortraitError) => e.code === 'provider-unavailable' && e.message.includes(`'${missing.name}' is not available`) && /Available here: cpu/.test(e.message),
  );
  const auto = resolveProvider('auto');
  const ready = providerStatuses().filter((s) => s.ready).map((s) => s.name);
  assert.ok(auto === 'cpu' || (ready.includes(auto) && AUTO_ORDER.includes(auto)));
  const s = await createSession(model(), { provider: 'auto' });
  assert.equal(sessionPlacement(s)!.requested, 'auto');
  assert.equal(sessionPlacement(s)!.provider, auto);
  await s.release();
});

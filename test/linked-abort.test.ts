import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { linkedAbort } from '../src/linked-abort.ts';

test('a linked controller aborts with its outer signal’s reason, by one listener, until unlinked', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  const outer = new AbortController();
  const a = linkedAbort(outer.signal, 100);
  const b = linkedAbort(outer.signal, 100);
  // Many listeners on the linked signal, one on the outer one per link, and no warning for 100.
  for (let i = 0; i < 100; i++) a.signal.addEventListener('abort', () => {});
  assert.equal(getEventListeners(outer.signal, 'abort').length, 2);
  // Warnings are emitted on a later tick.
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.deepEqual(warnings, []);
  b.unlink();
  assert.equal(getEventListeners(outer.signal, 'abort').length, 1);
  const reason = new Error('stopping');
  outer.abort(reason);
  assert.equal(a.signal.aborted, true);
  assert.equal(a.signal.reason, reason);
  assert.equal(b.signal.aborted, false, 'unlinked: no longer relayed');
  // Already aborted: linked aborted at once. No outer signal: only its own controller aborts it.
  assert.equal(linkedAbort(outer.signal, 1).signal.reason, reason);
  const alone = linkedAbort(undefined, 1);
  assert.equal(alone.signal.aborted, false);
  alone.controller.abort();
  assert.equal(alone.signal.aborted, true);
});

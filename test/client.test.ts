import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { AccountBudget } from '../src/emag/budget.ts';
import { backoffMs, EmagClient } from '../src/emag/client.ts';
import { EmagError } from '../src/emag/errors.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';

let sandbox: Sandbox;
/** One budget per account, as in the daemon: the sandbox counts the account's requests together. */
const budgets = new Map<string, AccountBudget>();

before(async () => {
  sandbox = await startSandbox({
    accounts: [
      { name: 'main', username: 'main-user', password: 'main-pass', offers: 250 },
      { name: 'blocked', username: 'blocked-user', password: 'blocked-pass', offers: 1, allowedIp: false },
    ],
  });
});
after(() => sandbox.close());

function client(opts: { user?: string; pass?: string; account?: string; timeoutMs?: number; maxRetries?: number } = {}) {
  return new EmagClient({
    account: opts.account ?? 'main',
    baseUrl: sandbox.url,
    username: opts.user ?? 'main-user',
    password: opts.pass ?? 'main-pass',
    budget: budgets.get(opts.account ?? 'main') ?? budgets.set(opts.account ?? 'main', new AccountBudget(12, 3)).get(opts.account ?? 'main')!,
    timeoutMs: opts.timeoutMs ?? 5000,
    maxRetries: opts.maxRetries ?? 3,
    backoffBaseMs: 10,
    backoffCapMs: 50,
  });
}

/** Requests the sandbox received since `from` (an index into its log). */
function since(from: number) {
  return sandbox.log.slice(from);
}

async function rejects(p: Promise<unknown>): Promise<EmagError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EmagError, `expected EmagError, got ${err}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

test('reads pages and counts (numbers sent as strings come back as numbers)', async () => {
  const c = client();
  const count = await c.count('product_offer');
  assert.deepEqual(count, { items: 250, pages: 3 });
  const page = await c.read<Array<{ id: unknown }>>('product_offer', { currentPage: 3, itemsPerPage: 100 });
  assert.equal(page.length, 50);
});

test('wrong credentials: an auth error, not retried, without the password in the message', async () => {
  const from = sandbox.log.length;
  const err = await rejects(client({ pass: 'wrong-password' }).read('vat'));
  assert.equal(err.kind, 'auth');
  assert.equal(err.retryable, false);
  assert.equal(err.account, 'main');
  assert.equal(err.resource, 'vat');
  assert.doesNotMatch(err.message, /wrong-password|main-pass/);
  assert.equal(since(from).length, 1);
});

test('a non-whitelisted IP is reported as such and not retried', async () => {
  const from = sandbox.log.length;
  const err = await rejects(client({ user: 'blocked-user', pass: 'blocked-pass', account: 'blocked' }).read('vat'));
  assert.equal(err.kind, 'ip_not_whitelisted');
  assert.match(err.message, /Invalid vendor ip/);
  assert.equal(since(from).length, 1);
});

test('5xx and 429 are retried with backoff until they pass', async () => {
  sandbox.fault({ kind: 'server_error', count: 1, resource: 'vat' });
  sandbox.fault({ kind: 'bad_gateway', count: 1, resource: 'vat' });
  sandbox.fault({ kind: 'rate_limit', count: 1, resource: 'vat' });
  const from = sandbox.log.length;
  const vat = await client().read<unknown[]>('vat');
  assert.ok(Array.isArray(vat) && vat.length > 0);
  assert.deepEqual(since(from).map((e) => e.status), [500, 502, 429, 200]);
  const gaps = since(from).map((e, i, all) => (i === 0 ? 0 : e.t - all[i - 1].t));
  assert.ok(gaps[3] >= 900, `after a 429 the client waits for the window to drain (waited ${gaps[3]} ms)`);
});

test('malformed JSON, HTML pages and answers without an envelope are retried reads, then typed errors', async () => {
  sandbox.fault({ kind: 'malformed_json', count: 1, resource: 'vat' });
  const from = sandbox.log.length;
  assert.ok(Array.isArray(await client().read('vat')));
  assert.equal(since(from).length, 2);

  sandbox.fault({ kind: 'html', count: 2, resource: 'vat' });
  const html = await rejects(client({ maxRetries: 1 }).read('vat'));
  assert.equal(html.kind, 'invalid_response');
  assert.match(html.message, /HTML page/);

  sandbox.fault({ kind: 'no_envelope', count: 1, resource: 'vat' });
  const bare = await rejects(client({ maxRetries: 0 }).read('vat'));
  assert.equal(bare.kind, 'invalid_response');
  assert.match(bare.message, /isError:false envelope/);
});

test('isError:true is a rejection with eMAG’s message, never retried', async () => {
  sandbox.fault({ kind: 'is_error', count: 1, resource: 'vat' });
  const from = sandbox.log.length;
  const err = await rejects(client().read('vat'));
  assert.equal(err.kind, 'rejected');
  assert.equal(err.retryable, false);
  assert.ok(err.messages.length > 0);
  assert.equal(since(from).length, 1);
});

test('a hanging server times out, and the read is retried', async () => {
  sandbox.fault({ kind: 'hang', count: 1, resource: 'vat' });
  const from = sandbox.log.length;
  assert.ok(Array.isArray(await client({ timeoutMs: 300 }).read('vat')));
  assert.equal(since(from).length, 2);
  sandbox.fault({ kind: 'hang', count: 2, resource: 'vat' });
  const err = await rejects(client({ timeoutMs: 200, maxRetries: 1 }).read('vat'));
  assert.equal(err.kind, 'timeout');
});

test('a non-idempotent write is not sent twice after a 5xx, but is after a 429', async () => {
  sandbox.fault({ kind: 'server_error', count: 1, resource: 'vat' });
  let from = sandbox.log.length;
  const err = await rejects(client().call('vat', 'read', {}, { idempotent: false }));
  assert.equal(err.kind, 'server');
  assert.equal(since(from).length, 1);
  sandbox.fault({ kind: 'rate_limit', count: 1, resource: 'vat' });
  from = sandbox.log.length;
  await client().call('vat', 'read', {}, { idempotent: false });
  assert.deepEqual(since(from).map((e) => e.status), [429, 200]);
});

test('a network error is typed and retryable', async () => {
  const dead = new EmagClient({ account: 'x', baseUrl: 'http://127.0.0.1:1/api-3', username: 'u', password: 'p', budget: new AccountBudget(12, 3), maxRetries: 0 });
  const err = await rejects(dead.read('vat'));
  assert.equal(err.kind, 'network');
  assert.equal(err.retryable, true);
});

test('backoff grows exponentially, is capped, and is jittered', () => {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const exp = Math.min(8000, 500 * 2 ** (attempt - 1));
    const samples = Array.from({ length: 50 }, () => backoffMs(attempt, 500, 8000));
    assert.ok(samples.every((s) => s >= exp / 2 && s <= exp), `attempt ${attempt} within [${exp / 2}, ${exp}]`);
    assert.ok(new Set(samples).size > 1, 'jittered');
  }
});

test('a firewall’s HTML 403 is an auth error, a 4xx page a refusal, and a stalled body a timeout', async () => {
  const server = createServer((req, res) => {
    if (req.url?.includes('forbidden')) {
      res.writeHead(403, { 'content-type': 'text/html' }).end('<html><body>Access denied</body></html>');
    } else if (req.url?.includes('gone')) {
      res.writeHead(410, { 'content-type': 'text/html' }).end('<html>Gone</html>');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"isError":false,"results":[');
      // …and the rest never comes.
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const c = new EmagClient({ account: 'x', baseUrl: base, username: 'u', password: 'p', budget: new AccountBudget(12, 3), maxRetries: 0, timeoutMs: 300 });
  try {
    const forbidden = await rejects(c.read('forbidden'));
    assert.equal(forbidden.kind, 'auth');
    assert.equal(forbidden.retryable, false);
    const gone = await rejects(c.read('gone'));
    assert.equal(gone.kind, 'rejected');
    const stalled = await rejects(c.read('stall'));
    assert.equal(stalled.kind, 'timeout');
    assert.equal(stalled.retryable, true);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/**
 * eMAG callbacks end to end: the sandbox calls the daemon's callback routes, the daemon queues and
 * drains them under the account's budget — new orders stored and acknowledged exactly once, token
 * and source checks, coalescing, the bounded queue, no stale overwrite, "already in progress", and
 * priority over a running offers scan.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { type Config, ConfigError, loadConfig } from '../src/config.ts';
import { type Daemon, startDaemon } from '../src/daemon.ts';
import { createLogger } from '../src/log.ts';
import { type Sandbox, startSandbox, windowViolations } from '../src/sandbox/server.ts';
import { enqueueCallbacks } from '../src/db/callbacks.ts';
import { acknowledgeStream } from '../src/streams/acknowledge.ts';
import { upsertOrders } from '../src/db/orders.ts';
import { parseOrder } from '../src/emag/order-record.ts';
import { executeRun } from '../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { sandboxEnv, syncDeps, TEST_ACCOUNTS } from './helpers/setup.ts';

const TOKEN = 'cb-0123456789abcdef-ABCDEFGH';
let sandbox: Sandbox;
let db: TestDatabase;
let daemon: Daemon;
let config: Config;

let daemons = 0;

/**
 * Env of a daemon under test: callbacks on, only the callbacks stream scheduled (the rest is run by
 * hand). Several daemons of this one process share the database, so each gets an instance id of its own.
 */
function env(extra: Record<string, string> = {}): Record<string, string> {
  daemons += 1;
  return sandboxEnv(sandbox, db, {
    EMAG_SYNC_INSTANCE_ID: `callbacks-test-${process.pid}-${daemons}`,
    EMAG_CALLBACK_TOKEN: TOKEN,
    EMAG_MAIN_SYNC_TYPES: 'callbacks',
    EMAG_FBE_SYNC_TYPES: 'callbacks',
    EMAG_LOG_LEVEL: 'silent',
    ...extra,
  });
}

before(async () => {
  [sandbox, db] = await Promise.all([
    startSandbox({
      accounts: [
        { ...TEST_ACCOUNTS[0], offers: 1500, orders: 30, orderHistoryDays: 2, rmas: 12 },
        { ...TEST_ACCOUNTS[1], offers: 5, orders: 5, orderType: 2 },
      ],
    }),
    testDatabase(),
  ]);
  config = loadConfig(env());
  daemon = await startDaemon(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
});
after(async () => {
  await daemon?.stop();
  await sandbox?.close();
  await db?.close();
});

const callbackUrl = (account = 'main', token = TOKEN) => `${daemon.server.url}/callbacks/${account}?token=${token}`;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const acksOf = (id: number) => sandbox.account('main').acknowledgements.filter((x) => x === id).length;
const queueDepth = async () => Number((await db.sql`select count(*) as n from emag_callback_queue`)[0].n);
const mirrored = async (id: number) => (await db.sql<{ status: number; acknowledged_at: Date | null; modified: Date }[]>`select status, acknowledged_at, modified from emag_orders where account = 'main' and id = ${id}`)[0];

test('a new-order callback: the order is stored and acknowledged within 5 s, exactly once, under the budget', async () => {
  sandbox.setCallbacks('main', { url: callbackUrl(), repeatMs: 100 });
  const started = Date.now();
  const [id] = sandbox.account('main').addOrders(1, { modified: new Date(Date.now() - 120_000) });
  const row = await until('the order acknowledged in the mirror', async () => {
    const r = await mirrored(id);
    return r?.acknowledged_at && r.status === 2 ? r : null;
  });
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.equal(row.status, 2, 'the re-read after acknowledging is stored');
  // eMAG stops calling once the order is acknowledged; repeats that came before are read, never acknowledged again.
  await until('eMAG to stop repeating', () => sandbox.pendingCallbacks() === 0);
  await until('the queue to drain', async () => (await queueDepth()) === 0);
  assert.equal(acksOf(id), 1);
  const [ack] = await db.sql`select state from emag_order_acks where account = 'main' and order_id = ${id}`;
  assert.equal(ack.state, 'done');
  assert.ok(sandbox.callbacks.filter((c) => c.url.includes(`order_id=${id}`)).every((c) => c.status === 200));
  assert.deepEqual(windowViolations(sandbox.log), []);
  sandbox.setCallbacks('main', null);
});

test('wrong or missing token, unknown account or event: the same 404, nothing queued or read', async () => {
  const [id] = sandbox.account('main').addOrders(1);
  const from = sandbox.log.length;
  const base = daemon.server.url;
  const urls = [
    `${base}/callbacks/main/order?token=wrong-token-0123456789abcdef&order_id=${id}`,
    `${base}/callbacks/main/order?order_id=${id}`,
    `${base}/callbacks/main/order?token=${TOKEN.slice(0, -1)}&order_id=${id}`,
    `${base}/callbacks/ghost/order?token=${TOKEN}&order_id=${id}`,
    `${base}/callbacks/main/explode?token=${TOKEN}&order_id=${id}`,
    `${base}/callbacks/main/order/extra?token=${TOKEN}&order_id=${id}`,
  ];
  const answers = await Promise.all(urls.map(async (u) => {
    const r = await fetch(u);
    return { status: r.status, body: await r.text() };
  }));
  for (const a of answers) assert.deepEqual(a, answers[0]);
  assert.equal(answers[0].status, 404);
  assert.equal(await queueDepth(), 0);
  assert.equal(sandbox.log.slice(from).filter((e) => e.account === 'main').length, 0, 'nothing was read from eMAG');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /emag_callbacks_total\{account="main",event="order",result="not_found"\} 3/);
  assert.match(metrics, /emag_callbacks_total\{account="unknown",event="order",result="not_found"\} 2/);
  assert.doesNotMatch(metrics, /ghost|explode|wrong-token/);
});

test('callbacks on the status server pass its Host check (they come through a proxy), the other routes do not', async () => {
  const status = (path: string) =>
    new Promise<number>((resolve, reject) => {
      get(`${daemon.server.url}${path}`, { headers: { host: 'sync.example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
  assert.equal(await status(`/callbacks/main/order?token=${TOKEN}`), 200);
  assert.equal(await status('/health'), 421);
});

test('a probe without an id answers 200 empty; a malformed id 400; both queue nothing', async () => {
  const probe = await fetch(`${callbackUrl()}`.replace('?token', '/order?token'));
  assert.equal(probe.status, 200);
  assert.equal(await probe.text(), '');
  const bad = await fetch(`${daemon.server.url}/callbacks/main/order?token=${TOKEN}&order_id=12abc`);
  assert.equal(bad.status, 400);
  assert.equal(await queueDepth(), 0);
});

test('repeated callbacks for one order coalesce and never acknowledge it twice', async () => {
  const [id] = sandbox.account('main').addOrders(1, { modified: new Date(Date.now() - 120_000) });
  const url = `${daemon.server.url}/callbacks/main/order?token=${TOKEN}&order_id=${id}`;
  const statuses = await Promise.all(Array.from({ length: 25 }, () => fetch(url).then((r) => r.status)));
  assert.ok(statuses.every((s) => s === 200));
  await until('the order acknowledged', async () => (await mirrored(id))?.acknowledged_at);
  for (let i = 0; i < 5; i++) assert.equal((await fetch(url)).status, 200);
  await until('the queue to drain', async () => (await queueDepth()) === 0);
  assert.equal(acksOf(id), 1);
  const reads = sandbox.log.filter((e) => e.account === 'main' && e.resource === 'order' && e.action === 'read').length;
  assert.ok(reads < 30 * 2, `coalesced reads (${reads} order reads in all)`);
});

test('cancellation, return and AWB callbacks re-read their record', async () => {
  sandbox.setCallbacks('main', { url: callbackUrl(), repeatMs: 60_000 });
  const main = sandbox.account('main');
  const [id] = main.addOrders(1, { modified: new Date(Date.now() - 120_000) });
  await until('the order acknowledged', async () => (await mirrored(id))?.acknowledged_at);
  main.cancelOrder(id, 2);
  await until('the cancellation in the mirror', async () => (await mirrored(id))?.status === 0);

  const [rma] = main.addRmas(1);
  await until('the new return in the mirror', async () => (await db.sql`select 1 from emag_rmas where account = 'main' and emag_id = ${rma}`).length === 1);
  main.advanceRma(rma, 3);
  await until('the return acknowledged in the mirror', async () => (await db.sql`select request_status from emag_rmas where emag_id = ${rma}`)[0]?.request_status === 3);

  // An AWB issued on eMAG's side (the seller's interface, another tool): its callback brings the AWB and the order.
  const shipped = main.orders.find((o) => o.status === 3)!;
  const c = shipped.customer as Record<string, string>;
  // Issued inside the sandbox, as the seller's interface would: not a request of this client.
  const reply = main.awbBook.save({
    method: 'POST',
    id: null,
    query: new URLSearchParams(),
    body: {
      order_id: shipped.id,
      sender: { name: 'Depozit', contact: 'Ion', phone1: '0722000111', address_id: '140231' },
      receiver: { name: c.shipping_contact, contact: c.shipping_contact, phone1: c.shipping_phone, locality_id: Number(c.shipping_locality_id), street: c.shipping_street },
      envelope_number: 1,
      parcel_number: 0,
      cod: 0,
      is_oversize: 0,
    },
  });
  const saved = reply.body as { isError: boolean; results: { awb: Array<{ emag_id: number }> } };
  assert.equal(saved.isError, false);
  const awbId = saved.results.awb[0].emag_id;
  await until('the AWB in the mirror', async () => (await db.sql`select status_code from emag_awbs where emag_id = ${awbId}`)[0]?.status_code === 'NEW');
  await until('the order finalized in the mirror', async () => (await mirrored(shipped.id as number))?.status === 4);

  // Return ids under any of the names integrations have seen.
  for (const name of ['rma_id', 'return_id', 'id']) {
    sandbox.setCallbacks('main', { url: callbackUrl(), returnParam: name });
    const [other] = main.addRmas(1);
    await until(`a return named by ${name}`, async () => (await db.sql`select 1 from emag_rmas where emag_id = ${other}`).length === 1);
  }
  sandbox.setCallbacks('main', null);
});

test('a poll holding an older `modified` does not overwrite the newer status a callback stored; it counts as stale', async () => {
  const main = sandbox.account('main');
  const [id] = main.addOrders(1, { modified: new Date(Date.now() - 300_000) });
  // What a slow poll read before the callback: the order still new.
  const old = structuredClone(main.order(id));
  const r = await fetch(`${daemon.server.url}/callbacks/main/order?token=${TOKEN}&order_id=${id}`);
  assert.equal(r.status, 200);
  await until('the callback read acknowledged', async () => (await mirrored(id))?.status === 2);
  const { deps } = await syncDeps(sandbox, db, {}, daemon.runtime.deps.budgets);
  const poll = await executeRun(deps, deps.config.accounts[0], 'orders', async (ctx) => {
    const { counts } = await ctx.run.store([old], parseOrder, (tx, rows) => upsertOrders(tx, 'main', rows));
    ctx.run.count(1, counts);
    return {};
  }, { mode: 'incremental', trigger: 'cli' });
  assert.equal(poll.counters.items_stale, 1);
  assert.equal((await mirrored(id)).status, 2, 'the older read was not applied');
  const [run] = await db.sql`select items_stale from emag_sync_runs where id = ${poll.runId}`;
  assert.equal(run.items_stale, 1);
});

test('eMAG answering "Order is already in progress" ends the acknowledgement as done, re-read, never retried', async () => {
  const main = sandbox.account('main');
  const [id] = main.addOrders(1, { modified: new Date(Date.now() - 300_000) });
  const { deps } = await syncDeps(sandbox, db, {}, daemon.runtime.deps.budgets);
  const account = deps.config.accounts[0];
  // The mirror learns the order while it is new…
  await executeRun(deps, account, 'orders', async (ctx) => {
    await ctx.run.store([structuredClone(main.order(id))], parseOrder, (tx, rows) => upsertOrders(tx, 'main', rows));
    return {};
  }, { mode: 'incremental', trigger: 'cli' });
  // …then it is acknowledged elsewhere (an earlier call whose answer was lost).
  main.setOrderStatus(id, 2);
  const r = await executeRun(deps, account, 'acknowledge', acknowledgeStream(), { mode: 'incremental', trigger: 'cli' });
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(acksOf(id), 1);
  const [ack] = await db.sql`select state from emag_order_acks where order_id = ${id}`;
  assert.equal(ack.state, 'done');
  assert.equal((await mirrored(id)).status, 2, 're-read after the answer');
  await executeRun(deps, account, 'acknowledge', acknowledgeStream(), { mode: 'incremental', trigger: 'cli' });
  assert.equal(acksOf(id), 1, 'not retried');
});

test('a return callback during a full offers scan is read before the scan’s next pages', async () => {
  const main = config.accounts.find((a) => a.name === 'main')!;
  const scan = daemon.scheduler.trigger(main, 'offers', 'full', 'manual');
  const pages = () => sandbox.log.filter((e) => e.account === 'main' && e.resource === 'product_offer' && e.action === 'read');
  await until('the scan under way', () => pages().length >= 6);
  const [rma] = sandbox.account('main').addRmas(1);
  const t = Date.now();
  const r = await fetch(`${daemon.server.url}/callbacks/main/return?token=${TOKEN}&emag_id=${rma}`);
  assert.equal(r.status, 200);
  await until('the return in the mirror', async () => (await db.sql`select 1 from emag_rmas where emag_id = ${rma}`).length === 1);
  // The budget group the scan shares with returns: after the callback, the return's read goes first.
  const after = sandbox.log.filter((e) => e.account === 'main' && e.group === 'other' && e.t >= t);
  const position = after.findIndex((e) => e.resource === 'rma');
  assert.ok(position >= 0 && position <= 1, `the return read was request #${position + 1} of the shared budget after the callback`);
  const result = await scan;
  assert.equal(result.status, 'succeeded', result.error ?? '');
  assert.deepEqual(windowViolations(sandbox.log), []);
});

test('a burst of 1,000 callbacks is absorbed: answered fast, coalesced, bounded, overflow counted', async () => {
  const small = loadConfig(env({ EMAG_CALLBACK_QUEUE_MAX: '50', EMAG_CALLBACK_PORT: '0' }));
  const own = await startDaemon(small, createLogger('silent')).catch((e) => e as Error);
  // A second daemon cannot own the accounts; its callback listener still queues (any instance may answer eMAG).
  assert.ok(!(own instanceof Error), String(own));
  try {
    const ids = Array.from({ length: 200 }, (_, i) => 900_000_000 + i);
    const base = own.callbackServer!.url;
    const started = Date.now();
    const durations: number[] = [];
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const t = performance.now();
        const res = await fetch(`${base}/callbacks/fbe/cancellation?token=${TOKEN}&order_id=${ids[i % ids.length]}`);
        await res.arrayBuffer();
        durations.push(performance.now() - t);
        return res.status;
      }),
    );
    const elapsed = Date.now() - started;
    assert.ok(statuses.every((s) => s === 200), 'every callback answered 200');
    const rows = await db.sql`select count(*)::int as n, sum(hits)::int as hits from emag_callback_queue where account = 'fbe'`;
    assert.ok(rows[0].n <= 50 + 10, `bounded (${rows[0].n} rows)`);
    const metrics = await (await fetch(`${own.server.url}/metrics`)).text();
    const count = (result: string) => Number(new RegExp(`emag_callbacks_total\\{account="fbe",event="cancellation",result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    assert.equal(count('queued') + count('coalesced') + count('overflow') + count('late') + count('error'), 1000);
    console.log(`# burst results: queued ${count('queued')}, coalesced ${count('coalesced')}, overflow ${count('overflow')}, late ${count('late')}, error ${count('error')}`);
    assert.ok(count('overflow') > 0, 'the overflow is counted');
    assert.ok(count('coalesced') > 0, 'repeats coalesced');
    // The status server of a daemon with its own callback port serves no callback routes, and the
    // callback listener nothing else.
    assert.equal((await fetch(`${own.server.url}/callbacks/fbe/order?token=${TOKEN}&order_id=1`)).status, 404);
    assert.equal((await fetch(`${base}/health`)).status, 404);
    const within = (le: string) => Number(new RegExp(`emag_callback_answer_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    console.log(`# server side: ${within('0.01')} of ${within('+Inf')} answered within 10 ms, ${within('0.05')} within 50 ms, ${within('0.1')} within 100 ms`);
    durations.sort((a, b) => a - b);
    console.log(`# 1,000 callbacks in ${elapsed} ms; p50 ${durations[500].toFixed(1)} ms, p99 ${durations[990].toFixed(1)} ms (concurrent client on the same 2 cores)`);
  } finally {
    await own.stop();
    await db.sql`delete from emag_callback_queue where account = 'fbe'`;
  }
});

test('a batch of callbacks: repeats coalesce into the first, new rows stop at the bound, existing ones still absorb', async () => {
  const w = (targetId: number) => ({ account: 'bound', event: 'order' as const, targetId });
  assert.deepEqual(await enqueueCallbacks(db.sql, [w(1), w(1), w(2), w(3), w(1)], 2), ['queued', 'coalesced', 'queued', 'overflow', 'coalesced']);
  assert.deepEqual(await enqueueCallbacks(db.sql, [w(3), w(2), w(4)], 2), ['overflow', 'coalesced', 'overflow']);
  const rows = await db.sql<{ target_id: string; hits: number; seq: number }[]>`select target_id, hits, seq from emag_callback_queue where account = 'bound' order by target_id`;
  assert.deepEqual(rows.map((r) => [Number(r.target_id), r.hits, r.seq]), [[1, 3, 1], [2, 2, 2]]);
  await db.sql`delete from emag_callback_queue where account = 'bound'`;
});

test('the source allowlist refuses other addresses, believing X-Forwarded-For only from trusted proxies', async () => {
  const onlyProxy = loadConfig(env({ EMAG_CALLBACK_PORT: '0', EMAG_CALLBACK_ALLOWED_IPS: '192.0.2.0/24', EMAG_TRUSTED_PROXIES: '127.0.0.1' }));
  const d = await startDaemon(onlyProxy, createLogger('silent'));
  try {
    const url = `${d.callbackServer!.url}/callbacks/fbe/order?token=${TOKEN}`;
    assert.equal((await fetch(url)).status, 404, 'the proxy itself is not an allowed source');
    assert.equal((await fetch(url, { headers: { 'x-forwarded-for': '192.0.2.7' } })).status, 200, 'the client the trusted proxy names');
    assert.equal((await fetch(url, { headers: { 'x-forwarded-for': '192.0.2.7, 198.51.100.1' } })).status, 404, 'the last hop before the proxy decides');
  } finally {
    await d.stop();
  }
  const untrusted = loadConfig(env({ EMAG_CALLBACK_PORT: '0', EMAG_CALLBACK_ALLOWED_IPS: '192.0.2.0/24' }));
  const e = await startDaemon(untrusted, createLogger('silent'));
  try {
    const url = `${e.callbackServer!.url}/callbacks/fbe/order?token=${TOKEN}`;
    assert.equal((await fetch(url, { headers: { 'x-forwarded-for': '192.0.2.7' } })).status, 404, 'X-Forwarded-For from an untrusted peer is ignored');
  } finally {
    await e.stop();
  }
});

test('callback configuration is validated, naming the variable', () => {
  const problems = (extra: Record<string, string>) => {
    try {
      loadConfig(env(extra));
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.exitCode, 78);
      return err.problems;
    }
  };
  assert.match(problems({ EMAG_CALLBACK_TOKEN: 'short' }).join('\n'), /EMAG_CALLBACK_TOKEN: must be at least 24 characters/);
  assert.match(problems({ EMAG_CALLBACK_TOKEN: 'has spaces and is long enough really' }).join('\n'), /EMAG_CALLBACK_TOKEN/);
  assert.match(problems({ EMAG_CALLBACK_ALLOWED_IPS: '10.0.0.0/33,banana' }).join('\n'), /EMAG_CALLBACK_ALLOWED_IPS: "10.0.0.0\/33".*\n.*EMAG_CALLBACK_ALLOWED_IPS: "banana"/);
  assert.match(problems({ EMAG_TRUSTED_PROXIES: '::1/200' }).join('\n'), /EMAG_TRUSTED_PROXIES/);
  assert.match(problems({ EMAG_CALLBACK_PORT: 'x' }).join('\n'), /EMAG_CALLBACK_PORT/);
  assert.match(problems({ EMAG_CALLBACK_TOKEN: '', EMAG_CALLBACK_PORT: '8002' }).join('\n'), /EMAG_CALLBACK_PORT: set, but EMAG_CALLBACK_TOKEN is not/);
  assert.match(problems({ EMAG_CALLBACK_QUEUE_MAX: '0' }).join('\n'), /EMAG_CALLBACK_QUEUE_MAX/);
  assert.match(problems({ EMAG_FBE_SYNC_TYPES: 'offers,orders' }).join('\n'), /EMAG_FBE_SYNC_TYPES: add "callbacks"/);
  assert.ok(!problems({}).join('').includes(TOKEN), 'the token is never echoed');
});

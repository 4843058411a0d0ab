import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import { commandCounts, listConflicts } from '../src/db/commands.ts';
import { unacknowledgedCounts } from '../src/db/orders.ts';
import { Metrics } from '../src/metrics.ts';
import { startStatusServer } from '../src/server/server.ts';
import { type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { commandsStream } from '../src/streams/commands.ts';
import { offersStream } from '../src/streams/offers.ts';
import { ordersStream } from '../src/streams/orders.ts';
import { rmaStream } from '../src/streams/rma.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase, } from './helpers/db.ts';
import { sandboxEnv, harness, syncDeps } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let deps: SyncDeps;

harness(
  [
    { offers: 160, orders: 80, orderHistoryDays: 5, rmas: 30 },
    { offers: 20, orders: 5, orderHistoryDays: 5, orderType: 2 },
  ],
  {},
  async (h) => {
    ({ sandbox, db, deps } = h);
    // The mirror the commands are validated against.
    const main = deps.config.accounts[0];
    for (const [stream, fn] of [['offers', offersStream()], ['orders', ordersStream()], ['rma', rmaStream()]] as const) {
      const r = await executeRun(deps, main, stream, fn, { mode: stream === 'offers' ? 'full' : 'incremental', trigger: 'cli' });
      assert.notEqual(r.status, 'failed', r.error ?? '');
    }
  },
);

/** Drains main's outbox once with the given conflict strategy. */
async function drain(strategy = 'emag_priority', claimant?: string) {
  const { deps: d } = await syncDeps(sandbox, db, { EMAG_MAIN_CONFLICT_STRATEGY: strategy }, deps.budgets);
  return executeRun(d, d.config.accounts[0], 'commands', commandsStream({ claimant }), { mode: 'incremental', trigger: 'cli' });
}

async function insert(kind: string, payload: unknown, opts: { account?: string; key?: string } = {}): Promise<number> {
  const rows = await db.sql<{ id: string }[]>`
    insert into emag_commands (account, kind, payload, idempotency_key)
    values (${opts.account ?? 'main'}, ${kind}, ${db.sql.json(payload as never)}, ${opts.key ?? null}) returning id`;
  return rows.length > 0 ? Number(rows[0].id) : 0;
}

async function command(id: number) {
  const [row] = await db.sql`select status, error, result, attempts from emag_commands where id = ${id}`;
  return row;
}

/** Write requests the sandbox received since `from`. */
function writes(from: number, action?: string) {
  return sandbox.log.slice(from).filter((e) => e.account === 'main' && e.action !== 'read' && e.action !== 'count' && (!action || `${e.resource}/${e.action}` === action));
}

const offers = () => sandbox.account('main').offers as Array<{ id: number; stock: Array<{ value: number }>; sale_price: string }>;
const offerAt = (i: number) => offers()[i];
const stockOf = (id: number) => (sandbox.account('main').offer(id) as { stock: Array<{ value: number }> }).stock[0].value;
const orders = () => sandbox.account('main').orders as Array<{ id: number; status: number; reason_cancellation?: { id: number }; attachments: Array<{ url: string }> }>;

test('stock_update: one PATCH offer_stock, eMAG and the mirror show the new stock', async () => {
  const offer = offerAt(3);
  const id = await insert('stock_update', { id: offer.id, stock: 77 });
  const from = sandbox.log.length;
  const r = await drain();
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal((await command(id)).status, 'done');
  const w = writes(from);
  assert.equal(w.length, 1);
  assert.equal(w[0].method, 'PATCH');
  assert.equal(w[0].path.endsWith(`/offer_stock/${offer.id}`), true);
  assert.deepEqual(w[0].body, { stock: 77 });
  assert.equal(stockOf(offer.id), 77);
  const [m] = await db.sql`select stock from emag_offers where account = 'main' and id = ${offer.id}`;
  assert.equal(m.stock, 77);
});

test('offer_update is batched at most 50 per offer/save, and prices arrive on eMAG and in the mirror', async () => {
  const targets = offers().slice(10, 130);
  for (const o of targets) await insert('offer_update', { id: o.id, sale_price: Number(o.sale_price) + 1 });
  const from = sandbox.log.length;
  const r = await drain();
  assert.equal(r.status, 'succeeded', r.error ?? '');
  const saves = writes(from, 'offer/save');
  assert.deepEqual(saves.map((s) => (s.body as unknown[]).length), [50, 50, 20]);
  for (const o of targets) {
    const now = sandbox.account('main').offer(o.id) as { sale_price: string };
    assert.equal(Number(now.sale_price), Math.round((Number(o.sale_price) + 1) * 10000) / 10000);
  }
  const [{ n }] = await db.sql`select count(*)::int as n from emag_commands where kind = 'offer_update' and status = 'done'`;
  assert.equal(n, 120);
});

test('a batch eMAG refuses for one bad offer is split to isolate it', async () => {
  const targets = offers().slice(130, 140);
  const gone = targets[6].id;
  const ids = [];
  for (const o of targets) ids.push(await insert('offer_update', { id: o.id, status: 1 }));
  // The offer vanishes on eMAG after the ERP wrote its command (the mirror still has it).
  sandbox.account('main').removeOffer(gone);
  const from = sandbox.log.length;
  await drain('local_priority');
  const saves = writes(from, 'offer/save').map((s) => (s.body as Array<{ id: number }>).map((e) => e.id));
  assert.equal(saves[0].length, 10, 'first the whole batch');
  assert.ok(saves.length > 1 && saves.slice(1).every((b) => b.length < 10), 'then halves');
  assert.ok(saves.some((b) => b.length === 1 && b[0] === gone), 'until the bad one stands alone');
  const failed = await db.sql`select payload->>'id' as id, error from emag_commands where id = any(${db.sql.array(ids)}::bigint[]) and status = 'failed'`;
  assert.deepEqual(failed.map((f) => Number(f.id)), [gone]);
  assert.match(failed[0].error, /does not exist/);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_commands where id = any(${db.sql.array(ids)}::bigint[]) and status = 'done'`;
  assert.equal(n, 9);
});

test('eMAG’s refusal of a campaign-locked stock change fails the command with eMAG’s message', async () => {
  const offer = offerAt(150);
  sandbox.account('main').lockStock(offer.id);
  const id = await insert('stock_update', { id: offer.id, stock: 5 });
  await drain('local_priority');
  const c = await command(id);
  assert.equal(c.status, 'failed');
  assert.match(c.error, /active campaign.*stock has NOT been changed/);
  assert.notEqual(stockOf(offer.id), 5);
});

test('invalid commands fail with a specific reason and never reach eMAG', async () => {
  const offer = offerAt(20);
  const order = orders().find((o) => o.status === 2)!;
  const cases: Array<[string, unknown, RegExp, string?]> = [
    ['teleport', { id: 1 }, /unknown kind "teleport"/],
    ['stock_update', { id: offer.id, stock: -1 }, /stock must be a whole number 0\.\.65535/],
    ['stock_update', { id: offer.id, stock: 70000 }, /stock must be a whole number 0\.\.65535/],
    ['stock_update', { id: offer.id, stock: 1.5 }, /stock must be a whole number/],
    ['stock_update', { id: offer.id, stock: 3, colour: 'red' }, /unknown payload key\(s\) for stock_update: colour/],
    ['stock_update', { id: 9_999_999, stock: 3 }, /offer 9999999 is not in the mirror/],
    ['stock_update', [1, 2], /payload must be a JSON object/],
    ['offer_update', { id: offer.id }, /changes nothing/],
    ['offer_update', { id: offer.id, sale_price: -3 }, /sale_price must be a positive number/],
    ['offer_update', { id: offer.id, sale_price: 10, min_sale_price: 20, max_sale_price: 30 }, /sale_price 10 is below min_sale_price 20/],
    ['order_cancel', { order_id: order.id, reason: 99 }, /reason must be a whole number 1\.\.43|not a cancellation reason/],
    ['order_cancel', { order_id: order.id, reason: 7 }, /reason 7 is not a cancellation reason/],
    ['order_status', { order_id: order.id, status: 1 }, /status must be a whole number 2\.\.4/],
    ['order_status', { order_id: 1, status: 3 }, /order 1 is not in the mirror/],
    ['invoice_attach', { order_id: order.id, url: 'http://example.com/f.pdf', name: 'F1' }, /https URL of a PDF/],
    ['invoice_attach', { order_id: order.id, url: 'https://example.com/f.doc', name: 'F1' }, /https URL of a PDF/],
    ['rma_status', { emag_id: 1, request_status: 3 }, /return 1 is not in the mirror/],
    ['stock_update', { id: offer.id, stock: 3 }, /unknown account/, 'nowhere'],
  ];
  const ids = [];
  for (const [kind, payload, , account] of cases) ids.push(await insert(kind, payload, { account }));
  const from = sandbox.log.length;
  await drain();
  for (const [i, [kind, , pattern]] of cases.entries()) {
    const c = await command(ids[i]);
    assert.equal(c.status, 'failed', `${kind} #${i}`);
    assert.match(c.error, pattern, `${kind} #${i}: ${c.error}`);
  }
  assert.equal(writes(from).length, 0, 'nothing was sent');
});

test('a repeated idempotency key is ignored', async () => {
  const offer = offerAt(21);
  const first = await insert('stock_update', { id: offer.id, stock: 9 }, { key: 'erp-42' });
  const second = await insert('stock_update', { id: offer.id, stock: 10 }, { key: 'erp-42' });
  assert.ok(first > 0);
  assert.equal(second, 0, 'the second insert did nothing');
  const [{ n }] = await db.sql`select count(*)::int as n from emag_commands where idempotency_key = 'erp-42'`;
  assert.equal(n, 1);
  await drain();
  assert.equal(stockOf(offer.id), 9);
});

test('order_cancel acknowledges a new order first, then cancels it with the reason', async () => {
  const [orderId] = sandbox.account('main').addOrders(1);
  await executeRun(deps, deps.config.accounts[0], 'orders', ordersStream(), { mode: 'incremental', trigger: 'cli' });
  const id = await insert('order_cancel', { order_id: orderId, reason: 24 });
  const from = sandbox.log.length;
  await drain();
  assert.equal((await command(id)).status, 'done', (await command(id)).error);
  assert.deepEqual(writes(from).map((e) => e.action), ['acknowledge', 'save']);
  const o = orders().find((x) => x.id === orderId)!;
  assert.equal(o.status, 0);
  assert.equal(o.reason_cancellation?.id, 24);
  const [m] = await db.sql`select status, reason_cancellation from emag_orders where account = 'main' and id = ${orderId}`;
  assert.deepEqual([m.status, m.reason_cancellation], [0, 24]);
});

test('order_status, invoice_attach and rma_status reach eMAG once each', async () => {
  const order = orders().find((o) => o.status === 2)!;
  const statusId = await insert('order_status', { order_id: order.id, status: 3 });
  const url = `https://erp.example.com/invoices/${order.id}.pdf`;
  const invoiceId = await insert('invoice_attach', { order_id: order.id, url, name: `Factura ${order.id}` });
  const rmas = sandbox.account('main').rmas as Array<{ emag_id: number; request_status: number }>;
  const rma = rmas.find((x) => x.request_status === 2)!;
  const rmaId = await insert('rma_status', { emag_id: rma.emag_id, request_status: 3 });
  const from = sandbox.log.length;
  await drain();
  for (const id of [statusId, invoiceId, rmaId]) assert.equal((await command(id)).status, 'done', (await command(id)).error);
  assert.equal(orders().find((o) => o.id === order.id)!.status, 3);
  assert.equal(orders().find((o) => o.id === order.id)!.attachments.filter((a) => a.url === url).length, 1);
  assert.equal((sandbox.account('main').rmas as typeof rmas).find((x) => x.emag_id === rma.emag_id)!.request_status, 3);
  assert.equal(writes(from, 'order/attachments/save').length, 1);
  const [m] = await db.sql`select request_status from emag_rmas where account = 'main' and emag_id = ${rma.emag_id}`;
  assert.equal(m.request_status, 3);

  // The same invoice again: already attached, so nothing is sent.
  const again = await insert('invoice_attach', { order_id: order.id, url, name: `Factura ${order.id}` });
  const from2 = sandbox.log.length;
  await drain();
  assert.equal((await command(again)).status, 'done');
  assert.equal(writes(from2, 'order/attachments/save').length, 0);
});

test('a write whose answer is lost is checked by reading, never sent twice', async () => {
  const order = orders().find((o) => o.status === 2)!;
  const url = `https://erp.example.com/invoices/lost-${order.id}.pdf`;
  const id = await insert('invoice_attach', { order_id: order.id, url, name: 'Lost answer' });
  sandbox.fault({ kind: 'lost_response', resource: 'order', action: 'attachments/save', count: 1 });
  const { deps: slow } = await syncDeps(sandbox, db, { EMAG_API_TIMEOUT: '1' }, deps.budgets);
  const from = sandbox.log.length;
  await executeRun(slow, slow.config.accounts[0], 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
  assert.equal((await command(id)).status, 'done', (await command(id)).error);
  assert.equal(writes(from, 'order/attachments/save').length, 1, 'sent once');
  assert.equal(orders().find((o) => o.id === order.id)!.attachments.filter((a) => a.url === url).length, 1);
});

test('a crash after sending and before recording does not send again', async () => {
  const order = orders().find((o) => o.status === 3)!;
  const url = `https://erp.example.com/invoices/crash-${order.id}.pdf`;
  // The previous daemon sent the attachment (eMAG has it), then died before recording the outcome.
  const id = await insert('invoice_attach', { order_id: order.id, url, name: 'Crash' });
  order.attachments.push({ url });
  await db.sql`update emag_commands set status = 'running', sent_at = now() - interval '1 minute', claimed_at = now() - interval '1 hour', attempts = 1 where id = ${id}`;
  const from = sandbox.log.length;
  await drain();
  assert.equal((await command(id)).status, 'done');
  assert.equal(writes(from, 'order/attachments/save').length, 0);
});

test('two daemons draining one outbox never send a command twice', async () => {
  const targets = offers().slice(40, 70);
  for (const o of targets) await insert('stock_update', { id: o.id, stock: 3 });
  const from = sandbox.log.length;
  const [a, b] = await Promise.all([drain('local_priority', 'daemon-a'), drain('local_priority', 'daemon-b')]);
  assert.equal(a.counters.items_seen + b.counters.items_seen, 30);
  const patches = writes(from).filter((e) => e.method === 'PATCH').map((e) => e.path);
  assert.equal(patches.length, 30);
  assert.equal(new Set(patches).size, 30);
});

test('conflict strategies', async (t) => {
  const offer = (i: number) => offerAt(i).id;
  const [{ stock: mirrorStock }] = await db.sql`select stock from emag_offers where account = 'main' and id = ${offer(80)}`;

  await t.test('emag_priority: eMAG changed since the ERP saw it, so the command ends in conflict', async () => {
    const id = await insert('stock_update', { id: offer(80), stock: 1 });
    sandbox.account('main').setStock(offer(80), mirrorStock + 5);
    const from = sandbox.log.length;
    await drain('emag_priority');
    const c = await command(id);
    assert.equal(c.status, 'conflict');
    assert.match(c.error, new RegExp(`stock ${mirrorStock} → ${mirrorStock + 5}`));
    assert.equal(stockOf(offer(80)), mirrorStock + 5, "eMAG's value kept");
    assert.equal(writes(from).length, 0);
  });

  await t.test('local_priority: the command is sent anyway', async () => {
    const [{ stock }] = await db.sql`select stock from emag_offers where account = 'main' and id = ${offer(81)}`;
    const id = await insert('stock_update', { id: offer(81), stock: 2 });
    sandbox.account('main').setStock(offer(81), stock + 5);
    await drain('local_priority');
    assert.equal((await command(id)).status, 'done');
    assert.equal(stockOf(offer(81)), 2);
  });

  await t.test('newest_wins: a command newer than eMAG’s change is sent; an older one is not', async () => {
    // eMAG changed first and the mirror learned it; then the ERP, having seen the old value, wrote its command.
    const [{ stock: old }] = await db.sql`select stock from emag_offers where account = 'main' and id = ${offer(82)}`;
    sandbox.account('main').setStock(offer(82), old + 7);
    // The command's created_at comes from a transaction after the scan's: later than the mirror's updated_at.
    await executeRun(deps, deps.config.accounts[0], 'offers', offersStream(), { mode: 'full', trigger: 'cli' });
    const newer = await insert('stock_update', { id: offer(82), stock: 4, expected: { stock: old } });
    await drain('newest_wins');
    assert.equal((await command(newer)).status, 'done');
    assert.equal(stockOf(offer(82)), 4);

    // The ERP wrote its command, then eMAG changed: eMAG's change is newer.
    // eMAG's change is dated when the drain reads it (the mirror never saw it): after the insert.
    const older = await insert('stock_update', { id: offer(83), stock: 4 });
    sandbox.account('main').setStock(offer(83), 123);
    await drain('newest_wins');
    assert.equal((await command(older)).status, 'conflict');
    assert.equal(stockOf(offer(83)), 123);
  });

  await t.test('manual: parked with both values until a person resolves it', async () => {
    const now = Number((sandbox.account('main').offer(offer(84)) as { sale_price: string }).sale_price);
    const wanted = Math.round(now * 110) / 100;
    // The ERP last saw an older price than eMAG has now.
    const id = await insert('offer_update', { id: offer(84), sale_price: wanted, expected: { sale_price: now - 1 } });
    await drain('manual');
    assert.equal((await command(id)).status, 'conflict');
    const [conflict] = (await listConflicts(db.sql)).filter((c) => c.command_id === id);
    assert.ok(conflict, 'parked in emag_conflicts');
    assert.equal(conflict.local.sale_price, wanted);
    assert.equal(conflict.emag.sale_price, now);

    const env = { PATH: process.env.PATH ?? '', ...sandboxEnv(sandbox, db) };
    const list = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'conflicts', 'list'], { env, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`#${conflict.id} main offer ${offer(84)}`));
    const resolve = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'conflicts', 'resolve', String(conflict.id), '--keep', 'local'], { env, encoding: 'utf8' });
    assert.equal(resolve.status, 0, resolve.stderr);
    await drain('manual');
    assert.equal((await command(id)).status, 'done', 'sent after the person chose the local value');
    assert.equal(Number((sandbox.account('main').offer(offer(84)) as { sale_price: string }).sale_price), wanted);
  });
});

test('commands and syncs together stay within the rate windows', async () => {
  for (const o of offers().slice(90, 110)) await insert('stock_update', { id: o.id, stock: 11 });
  const main = deps.config.accounts[0];
  const [sync, cmds] = await Promise.all([
    executeRun(deps, main, 'offers', offersStream(), { mode: 'full', trigger: 'cli' }),
    drain('local_priority'),
  ]);
  assert.equal(sync.status, 'succeeded');
  assert.equal(cmds.status, 'succeeded');
  assert.deepEqual(windowViolations(sandbox.log), []);
  assert.equal(sandbox.log.filter((e) => e.status === 429).length, 0);
});

test('/api/status and /metrics show waiting, failed and conflicting commands per account and kind', async () => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.setDatabaseSources({ unacknowledged: () => unacknowledgedCounts(db.sql), commands: () => commandCounts(db.sql) });
  // Two commands waiting for a person, of this test's own (the strategy tests, run before it, leave more).
  for (const i of [6, 7]) {
    const id = await insert('stock_update', { id: offerAt(i).id, stock: 1 });
    await db.sql`update emag_commands set status = 'conflict', error = 'parked for a person' where id = ${id}`;
  }
  await insert('stock_update', { id: offerAt(5).id, stock: 1 });
  const alerts = new AlertEngine({ sql: db.sql, config: deps.config, log: deps.log });
  await alerts.evaluate();
  await alerts.evaluate();
  const server = await startStatusServer({
    sql: db.sql,
    config: deps.config,
    metrics,
    scheduler: { running: true, nextRun: () => null, activeRuns: () => [] },
    log: deps.log,
    startedAt: new Date(),
    version: 'test',
    database: { where: 'test', embedded: false },
    ownedAccounts: () => ['main', 'fbe'],
    alerts,
  });
  try {
    const [{ n: failed }] = await db.sql`select count(*)::int as n from emag_commands where account = 'main' and status = 'failed'`;
    const status = (await (await fetch(`${server.url}/api/status`)).json()) as {
      accounts: Array<{ name: string; unacknowledgedOrders: number; commands: { pending: number; failed: number; conflict: number; byKind: Record<string, { pending: number }> } }>;
      alerts: Array<{ type: string }>;
    };
    const main = status.accounts.find((a) => a.name === 'main')!;
    assert.equal(main.commands.failed, failed);
    assert.equal(main.commands.pending, 1);
    assert.equal(main.commands.byKind.stock_update.pending, 1);
    assert.ok(main.commands.conflict >= 2, 'the commands in conflict');
    assert.equal(typeof main.unacknowledgedOrders, 'number');
    const [{ n: parked }] = await db.sql`select count(*)::int as n from emag_conflicts where status = 'open'`;
    assert.equal(status.alerts.some((a) => a.type === 'conflicts_waiting'), parked > 0, 'parked conflicts wait for a person');
    assert.equal(status.alerts.some((a) => a.type === 'outbox_failing'), failed > 0);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /emag_commands\{account="main",kind="stock_update",status="pending"\} 1/);
    assert.match(text, /emag_orders_unacknowledged/);
  } finally {
    await server.close();
  }
});

test('an eMAG outage puts commands back with a backoff, without spending their attempts', async () => {
  const offer = offerAt(111);
  const id = await insert('stock_update', { id: offer.id, stock: 31 });
  sandbox.fault({ kind: 'server_error', count: 1000, resource: 'product_offer' });
  sandbox.fault({ kind: 'server_error', count: 1000, resource: 'offer_stock' });
  const { deps: noRetry } = await syncDeps(sandbox, db, { EMAG_MAX_RETRIES: '0' }, deps.budgets);
  const drainOnce = () => executeRun(noRetry, noRetry.config.accounts[0], 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
  try {
    await drainOnce();
    let [c] = await db.sql`select status, attempts, not_before > now() as waiting from emag_commands where id = ${id}`;
    assert.deepEqual([c.status, c.attempts, c.waiting], ['pending', 0, true]);
    const again = await drainOnce();
    assert.equal(again.counters.items_seen, 0, 'not claimed again before its backoff');
    [c] = await db.sql`select attempts from emag_commands where id = ${id}`;
    assert.equal(c.attempts, 0);
  } finally {
    sandbox.clearFaults();
  }
  await db.sql`update emag_commands set not_before = now() where id = ${id}`;
  await drainOnce();
  assert.equal((await command(id)).status, 'done');
  assert.equal(stockOf(offer.id), 31);
});

test('a command eMAG already reflects is done without sending anything', async () => {
  const offer = offerAt(112);
  const id = await insert('stock_update', { id: offer.id, stock: stockOf(offer.id) });
  const from = sandbox.log.length;
  await drain();
  const c = await command(id);
  assert.equal(c.status, 'done');
  assert.equal(c.result.note, 'already on eMAG');
  assert.equal(writes(from).length, 0);
});

test('API metrics never carry an offer or order id as a label', () => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.observeCall({ account: 'main', resource: 'offer_stock', action: '1048', status: 204, durationMs: 5, waitedMs: 0, error: null, attempt: 1 });
  metrics.observeCall({ account: 'main', resource: 'order', action: 'acknowledge/5512', status: 200, durationMs: 5, waitedMs: 0, error: null, attempt: 1 });
  return metrics.registry.metrics().then((text) => {
    assert.match(text, /action=":id"/);
    assert.match(text, /action="acknowledge"/);
    assert.doesNotMatch(text, /1048|5512/);
  });
});

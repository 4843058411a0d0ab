import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../src/config.ts';
import { getCheckpoint } from '../src/db/checkpoints.ts';
import { fromEmagDate } from '../src/emag/dates.ts';
import { type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { acknowledgeStream } from '../src/streams/acknowledge.ts';
import { offersStream } from '../src/streams/offers.ts';
import { ordersStream } from '../src/streams/orders.ts';
import { rmaStream } from '../src/streams/rma.ts';
import { executeRun, type RunMode, type StreamFn, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase, } from './helpers/db.ts';
import { harness, once, requestArrived } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;

harness([
  { offers: 150, orders: 320, orderHistoryDays: 100, orderType: 3, rmas: 40 },
  { offers: 60, orders: 90, orderHistoryDays: 100, orderType: 2 },
], { env: { EMAG_ORDERS_START_DATE: new Date(Date.now() - 110 * 86_400_000).toISOString() } }, (h) => {
  ({ sandbox, db, config, deps } = h);
});

const account = (name: string) => config.accounts.find((a) => a.name === name)!;
const run = (name: string, fn: StreamFn, mode: RunMode = 'incremental', signal?: AbortSignal) =>
  executeRun(deps, account(name), fn === ackFn ? 'acknowledge' : 'orders', fn, { mode, trigger: 'cli', signal });
const ordersFn = ordersStream();
const ackFn = acknowledgeStream();
/** Each account's first orders run (the backfill), once per file: the mirror the other tests start from. */
const backfilled = { main: once(() => run('main', ordersFn)), fbe: once(() => run('fbe', ordersFn)) };

type Served = Record<string, unknown> & { id: number; status: number; products: Array<{ id: number }>; modified: string; date: string };
const served = (name: string) => sandbox.account(name).orders as Served[];

async function mirror(name: string) {
  const rows = await db.sql<{ id: string; status: number; type: number; payment_mode_id: number; date: Date; modified: Date; shipping_tax: string | null; reason_cancellation: number | null; acknowledged_at: Date | null; lines: string[] }[]>`
    select o.id, o.status, o.type, o.payment_mode_id, o.date, o.modified, o.shipping_tax, o.reason_cancellation, o.acknowledged_at,
      array(select l.line_id::text from emag_order_lines l where l.account = o.account and l.order_id = o.id order by l.line_id) as lines
    from emag_orders o where o.account = ${name}`;
  return new Map(rows.map((r) => [Number(r.id), r]));
}

async function assertMirrorEqualsSandbox(name: string) {
  const m = await mirror(name);
  const orders = served(name);
  assert.equal(m.size, orders.length, `${name}: every order mirrored`);
  for (const o of orders) {
    const row = m.get(o.id);
    assert.ok(row, `order ${o.id} mirrored`);
    assert.equal(row.status, o.status, `order ${o.id} status`);
    assert.equal(row.type, o.type);
    assert.deepEqual(row.date, fromEmagDate(o.date));
    assert.deepEqual(row.modified, fromEmagDate(o.modified));
    assert.equal(row.shipping_tax === null ? null : Number(row.shipping_tax), o.shipping_tax == null ? null : Number(o.shipping_tax));
    const reason = o.reason_cancellation as { id: number } | null | undefined;
    assert.equal(row.reason_cancellation, reason && typeof reason === 'object' ? reason.id : (reason ?? null));
    assert.deepEqual(row.lines, o.products.map((p) => String(p.id)).sort());
  }
}

test('a backfill longer than a month is read in windows and gets every order', async () => {
  const from = sandbox.log.length;
  const r = await backfilled.main();
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.ok(served('main').length >= 320);
  assert.equal(r.counters.items_inserted, served('main').length);
  await assertMirrorEqualsSandbox('main');
  const reads = sandbox.log.slice(from).filter((e) => e.resource === 'order');
  assert.ok(reads.every((e) => e.status === 200), 'eMAG accepted every window');
  assert.ok(reads.filter((e) => e.action === 'count').length >= 4, '110 days need at least four 30-day windows');
  const cursor = await getCheckpoint<{ until: string }>(db.sql, 'main', 'orders');
  assert.ok(cursor && Date.now() - new Date(cursor.until).getTime() < 120_000, 'the cursor reached now');
  const cancelled = served('main').filter((o) => o.status === 0);
  assert.ok(cancelled.length > 0 && cancelled.every((o) => typeof o.reason_cancellation === 'object'), 'the sandbox serves reasons as {id, name}');
});

test('an FBE account reads type 2 orders', async () => {
  const r = await backfilled.fbe();
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.ok(served('fbe').length >= 90);
  await assertMirrorEqualsSandbox('fbe');
  const types = await db.sql`select distinct type from emag_orders where account = 'fbe'`;
  assert.deepEqual(types.map((t) => t.type), [2]);
});

test('changes written after the cursor passed their timestamp are still picked up', async () => {
  await backfilled.main();
  const main = sandbox.account('main');
  // Orders that eMAG wrote late: their `modified` second is before the cursor, several sharing it.
  const sameSecond = new Date(Math.floor((Date.now() - 90_000) / 1000) * 1000);
  const late = main.addOrders(4, { modified: sameSecond });
  const moved = served('main').filter((o) => o.status === 2).slice(0, 3).map((o) => o.id);
  for (const id of moved) main.setOrderStatus(id, 3);
  const r = await run('main', ordersFn);
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(r.counters.items_inserted, 4);
  assert.ok(r.counters.items_updated >= 3);
  const m = await mirror('main');
  for (const id of late) assert.ok(m.has(id), `late order ${id} mirrored`);
  for (const id of moved) assert.equal(m.get(id)?.status, 3);
  await assertMirrorEqualsSandbox('main');
});

test('a run killed between a window’s write and its cursor commit loses and duplicates nothing', async () => {
  await backfilled.main();
  const main = sandbox.account('main');
  const added = main.addOrders(5);
  const before = await getCheckpoint<{ until: string }>(db.sql, 'main', 'orders');
  // The count check comes after the window's pages are committed and before its cursor is: hang it, then kill.
  sandbox.fault({ kind: 'hang', resource: 'order', action: 'count', count: 1 });
  const abort = new AbortController();
  const from = sandbox.log.length;
  const killed = run('main', ordersFn, 'incremental', abort.signal);
  await requestArrived(sandbox, from, (e) => e.action === 'count');
  abort.abort(new Error('interrupted'));
  const k = await killed;
  assert.equal(k.status, 'cancelled');
  assert.equal(k.error, 'cancelled: interrupted', 'the abort signal’s reason is recorded, whatever it is');
  const [{ error }] = await db.sql`select error from emag_sync_runs where id = ${k.runId}`;
  assert.equal(error, 'cancelled: interrupted');
  const m1 = await mirror('main');
  for (const id of added) assert.ok(m1.has(id), 'the window’s orders were committed');
  assert.deepEqual(await getCheckpoint(db.sql, 'main', 'orders'), before, 'the cursor did not move');

  const r = await run('main', ordersFn);
  assert.equal(r.status, 'succeeded');
  assert.equal(r.counters.items_inserted, 0, 'nothing duplicated: re-read orders are recognised');
  await assertMirrorEqualsSandbox('main');
  const [{ n }] = await db.sql`select count(*)::int as n from emag_order_lines where account = 'main'`;
  assert.equal(n, served('main').reduce((s, o) => s + o.products.length, 0));
});

test('a window whose pages repeat fails the run instead of reading forever; the cursor stays', async () => {
  await backfilled.main();
  const before = await getCheckpoint(db.sql, 'main', 'orders');
  // eMAG ignoring currentPage: the same full page answers page 1 and page 2.
  sandbox.fault({ kind: 'same_page', count: 2, account: 'main', resource: 'order', action: 'read' });
  const r = await run('main', ordersFn);
  sandbox.clearFaults();
  assert.equal(r.status, 'failed');
  assert.equal(r.errorKind, 'invalid_response');
  assert.match(r.error ?? '', /page 2 of order\/read repeated records already read: paging is not advancing/);
  assert.deepEqual(await getCheckpoint(db.sql, 'main', 'orders'), before);
});

test('an order with missing or odd fields is quarantined with its reason; the run is partial', async () => {
  const main = sandbox.account('main');
  const [id] = main.addOrders(2);
  const broken = served('main').find((o) => o.id === id)!;
  broken.date = 'yesterday-ish';
  const r = await run('main', ordersFn);
  assert.equal(r.status, 'partial');
  assert.equal(r.counters.items_failed, 1);
  const [q] = await db.sql`select record_key, reason, raw from emag_quarantine where run_id = ${r.runId}`;
  assert.equal(q.record_key, String(id));
  assert.match(q.reason, /date is not a date/);
  assert.equal(q.raw.date, 'yesterday-ish');
  assert.equal((await mirror('main')).has(id + 1) || served('main').some((o) => o.id !== id), true);
  assert.equal((await mirror('main')).size, served('main').length - 1, 'every other order is stored');
});

test('orders, acknowledge, rma and offers of one account at once stay within both rate groups', async () => {
  sandbox.account('main').addOrders(30);
  const from = sandbox.log.length;
  const results = await Promise.all([
    executeRun(deps, account('main'), 'offers', offersStream(), { mode: 'full', trigger: 'cli' }),
    run('main', ordersFn, 'full'),
    run('main', ackFn),
    executeRun(deps, account('main'), 'rma', rmaStream(), { mode: 'incremental', trigger: 'cli' }),
  ]);
  for (const r of results) assert.notEqual(r.status, 'failed', r.error ?? '');
  assert.ok(results[3].counters.items_seen >= 40, 'the returns were read meanwhile');
  const log = sandbox.log.slice(from);
  assert.ok(log.some((e) => e.group === 'orders') && log.some((e) => e.group === 'other'));
  assert.deepEqual(windowViolations(sandbox.log), []);
  assert.equal(sandbox.log.filter((e) => e.status === 429).length, 0);
});

/**
 * Acknowledgement: each new seller-fulfilled order is acknowledged once, through the ledger the
 * acknowledge stream and the outbox share, then re-read. Every test brings the mirror up to date
 * itself and looks only at the acknowledgements it caused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../src/config.ts';
import { type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { acknowledgeStream } from '../src/streams/acknowledge.ts';
import { ordersStream } from '../src/streams/orders.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase } from './helpers/db.ts';
import { harness, syncDeps } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;

harness([
  { offers: 20, orders: 40, orderHistoryDays: 20, orderType: 3 },
  { offers: 10, orders: 20, orderHistoryDays: 20, orderType: 2 },
], { env: { EMAG_ORDERS_START_DATE: new Date(Date.now() - 30 * 86_400_000).toISOString() } }, (h) => {
  ({ sandbox, db, config, deps } = h);
});

const account = (name: string, c: Config = config) => c.accounts.find((a) => a.name === name)!;
const mirrorOrders = (name: string) => executeRun(deps, account(name), 'orders', ordersStream(), { mode: 'incremental', trigger: 'cli' });
const acknowledge = (name: string, d: SyncDeps = deps) => executeRun(d, account(name, d.config), 'acknowledge', acknowledgeStream(), { mode: 'incremental', trigger: 'cli' });
const served = (name: string) => sandbox.account(name).orders as Array<{ id: number; status: number }>;

async function mirrored(name: string) {
  const rows = await db.sql<{ id: string; status: number; acknowledged_at: Date | null }[]>`select id, status, acknowledged_at from emag_orders where account = ${name}`;
  return new Map(rows.map((r) => [Number(r.id), r]));
}

async function ledger(name: string, orderId: number) {
  const [row] = await db.sql<{ state: string; attempts: number }[]>`select state, attempts from emag_order_acks where account = ${name} and order_id = ${orderId}`;
  return row ?? null;
}

test('every new seller-fulfilled order is acknowledged exactly once, then re-read; cancelled ones are not', async () => {
  const main = sandbox.account('main');
  const cancelledOnArrival = main.addOrders(2, { status: 0 });
  await mirrorOrders('main');
  const fresh = served('main').filter((o) => o.status === 1).map((o) => o.id);
  assert.ok(fresh.length > 0, 'the sandbox has new orders');
  // One order whose earlier acknowledgement went out but was never recorded (a crash): eMAG moved it already.
  const [crashed, ...rest] = fresh;
  await db.sql`insert into emag_order_acks (account, order_id, state, attempts) values ('main', ${crashed}, 'sending', 1)`;
  main.setOrderStatus(crashed, 2);
  const from = main.acknowledgements.length;

  const r = await acknowledge('main');
  assert.equal(r.status, 'succeeded', r.error ?? '');
  const acks = main.acknowledgements.slice(from);
  assert.deepEqual([...acks].sort(), [...rest].sort(), 'each new order once; not the one already acknowledged');
  for (const id of cancelledOnArrival) assert.ok(!acks.includes(id), 'orders that arrived cancelled are not acknowledged');
  assert.equal((await ledger('main', crashed))?.state, 'done', 'the crashed attempt is settled by reading, not by sending');
  const m = await mirrored('main');
  for (const id of fresh) {
    assert.equal(m.get(id)?.status, 2, `order ${id} re-read after acknowledging`);
    assert.ok(m.get(id)?.acknowledged_at instanceof Date);
  }
  const again = await acknowledge('main');
  assert.equal(again.counters.items_seen, 0);
  assert.equal(main.acknowledgements.length, from + acks.length, 'no acknowledgement sent twice');
});

test('an order cancelled on eMAG before we acknowledge it is skipped and mirrored as cancelled', async () => {
  const main = sandbox.account('main');
  const [id] = main.addOrders(1);
  await mirrorOrders('main');
  assert.equal((await mirrored('main')).get(id)?.status, 1);
  main.setOrderStatus(id, 0);
  const r = await acknowledge('main');
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(r.counters.items_failed, 0, 'a cancellation is not a failure');
  assert.equal((await ledger('main', id))?.state, 'skipped');
  assert.equal((await mirrored('main')).get(id)?.status, 0, 'what eMAG says now is stored');
});

test('an attempt left `sending` for an order still new on eMAG is sent again, once', async () => {
  const main = sandbox.account('main');
  const [id] = main.addOrders(1);
  await mirrorOrders('main');
  // The call never reached eMAG (the process died first): the order is still new there.
  await db.sql`insert into emag_order_acks (account, order_id, state, attempts) values ('main', ${id}, 'sending', 1)`;
  const from = main.acknowledgements.length;
  await acknowledge('main');
  assert.deepEqual(main.acknowledgements.slice(from).filter((a) => a === id), [id]);
  assert.deepEqual(await ledger('main', id), { state: 'done', attempts: 2 });
});

test('nothing is acknowledged for an FBE account or with EMAG_AUTO_ACKNOWLEDGE=false', async () => {
  const fbe = await acknowledge('fbe');
  assert.equal(fbe.counters.items_seen, 0, 'FBE orders are fulfilled by eMAG and never acknowledged by us');

  const main = sandbox.account('main');
  main.addOrders(2);
  await mirrorOrders('main');
  const { deps: off } = await syncDeps(sandbox, db, { EMAG_AUTO_ACKNOWLEDGE: 'false' }, deps.budgets);
  const from = main.acknowledgements.length;
  const r = await acknowledge('main', off);
  assert.equal(r.status, 'succeeded');
  assert.equal(r.counters.items_seen, 0);
  assert.equal(main.acknowledgements.length, from, 'no acknowledgement sent');
  assert.deepEqual(windowViolations(sandbox.log), []);
});

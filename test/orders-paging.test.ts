import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { Config } from '../src/config.ts';
import { getCheckpoint } from '../src/db/checkpoints.ts';
import type { RunCounters } from '../src/db/runs.ts';
import { fromEmagDate } from '../src/emag/dates.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { ordersStream } from '../src/streams/orders.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { syncDeps, TEST_ACCOUNTS } from './helpers/setup.ts';

/**
 * Every answer comes this long after its request arrived, so two reads arriving closer together than
 * this were in flight at once: a read that waited for the previous answer arrives later than this.
 */
const LATENCY_MS = 300;
const DAY = 86_400_000;

interface Rig {
  sandbox: Sandbox;
  db: TestDatabase;
  config: Config;
  deps: SyncDeps;
  /** The start of the backfill (EMAG_ORDERS_START_DATE), whole seconds. */
  start: Date;
}

/**
 * A sandbox with no orders yet and a fresh database, for one test: each test places its orders
 * itself, so it knows exactly what each window holds.
 */
async function rig(t: TestContext, startDaysBack = 20): Promise<Rig> {
  const start = new Date(Math.floor((Date.now() - startDaysBack * DAY) / 1000) * 1000);
  const [sandbox, db] = await Promise.all([
    startSandbox({ accounts: TEST_ACCOUNTS.map((a) => ({ ...a, offers: 1, orders: 0 })), latencyMs: LATENCY_MS }),
    testDatabase(),
  ]);
  t.after(async () => {
    await sandbox.close();
    await db.close();
  });
  const { config, deps } = await syncDeps(sandbox, db, { EMAG_ORDERS_START_DATE: start.toISOString() });
  return { sandbox, db, config, deps, start };
}

const backfill = (r: Rig) => executeRun(r.deps, r.config.accounts[0], 'orders', ordersStream(), { mode: 'incremental', trigger: 'cli' });
const orderRequests = (r: Rig, action: 'read' | 'count') => r.sandbox.log.filter((e) => e.account === 'main' && e.resource === 'order' && e.action === action);
/** How many reads the sandbox has answered (their page was cut when the status was set). */
const answeredReads = (r: Rig) => orderRequests(r, 'read').filter((e) => e.status !== 0).length;

/** Resolves once `cond` holds; the sandbox's log has no events, so it is looked at every few ms. */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await cond())) {
    // A moment that never comes fails the test rather than hanging the suite.
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((res) => setTimeout(res, 2));
  }
}

async function mirroredIds(r: Rig): Promise<Set<number>> {
  const rows = await r.db.sql<{ id: string }[]>`select id from emag_orders where account = 'main'`;
  return new Set(rows.map((x) => Number(x.id)));
}

test('a window of several pages has them in flight together, each read and counted once', async (t) => {
  const r = await rig(t);
  r.sandbox.account('main').addOrders(450, { modified: new Date(Date.now() - DAY) });
  const progress: RunCounters[] = [];
  r.deps.onRunEvent = (e) => {
    if (e.type === 'progress') progress.push(e.run.counters);
  };
  const res = await backfill(r);
  assert.equal(res.status, 'succeeded', res.error ?? '');
  const reads = orderRequests(r, 'read');
  assert.equal(reads.length, 5, 'pages 1-5 of 450 orders, no page twice');
  // Reads in flight at one moment: those that arrived less than the latency before a read's arrival.
  const inFlight = reads.map((e) => reads.filter((o) => o.t <= e.t && o.t > e.t - LATENCY_MS).length);
  assert.ok(Math.max(...inFlight) >= 2, `some reads overlapped (arrivals ${reads.map((e) => e.t - reads[0].t).join(', ')} ms)`);
  assert.equal(orderRequests(r, 'count').length, 2, 'the count that sizes the pool and the count check after the pages');
  assert.equal(res.counters.items_seen, 450);
  assert.equal(res.counters.items_inserted, 450);
  assert.equal(res.counters.pages_done, 5);
  assert.equal((await mirroredIds(r)).size, 450);
  // Live progress: one step per page stored, whatever order the pages finished in.
  const pages = progress.map((c) => c.pages_done);
  for (let n = 1; n <= 5; n++) assert.ok(pages.includes(n), `progress after ${n} page(s)`);
});

test('two windows are read at once, and the cursor passes them in order', async (t) => {
  const r = await rig(t, 40);
  const main = r.sandbox.account('main');
  main.addOrders(150, { modified: new Date(r.start.getTime() + 5 * DAY) });
  main.addOrders(450, { modified: new Date(Date.now() - DAY) });
  const cursors: string[] = [];
  const running = backfill(r);
  // Each committed cursor, as the run moves it (a few ms apart at most: commits come a latency apart).
  const watch = setInterval(async () => {
    const c = await getCheckpoint<{ until: string }>(r.db.sql, 'main', 'orders');
    if (c && cursors.at(-1) !== c.until) cursors.push(c.until);
  }, 5);
  const res = await running;
  clearInterval(watch);
  assert.equal(res.status, 'succeeded', res.error ?? '');
  const log = r.sandbox.log.filter((e) => e.account === 'main' && e.resource === 'order');
  // Read one after the other, the second window's first page would follow the first window's count check.
  assert.deepEqual(log.slice(0, 2).map((e) => e.action), ['read', 'read'], 'both windows’ first pages went out before any count');
  assert.equal(orderRequests(r, 'read').length, 2 + 5, 'pages 1-2 and 1-5, none twice');
  assert.equal(orderRequests(r, 'count').length, 4, 'two counts for each window');
  assert.equal((await mirroredIds(r)).size, 600);
  const firstWindowEnd = new Date(r.start.getTime() + 30 * DAY).toISOString();
  assert.equal(cursors[0], firstWindowEnd, `the first window was committed first (cursors seen: ${cursors.join(', ')})`);
  const cursor = await getCheckpoint<{ until: string }>(r.db.sql, 'main', 'orders');
  assert.ok(cursor && Date.now() - new Date(cursor.until).getTime() < 60_000, 'the cursor reached now');
});

test('a first window that fails stops the window read beside it; the run fails with the first window’s error', async (t) => {
  const r = await rig(t, 40);
  const main = r.sandbox.account('main');
  main.addOrders(150, { modified: new Date(r.start.getTime() + 5 * DAY) });
  main.addOrders(450, { modified: new Date(Date.now() - DAY) });
  // The first request granted is the first window's page 1.
  r.sandbox.fault({ kind: 'results_not_list', account: 'main', resource: 'order', action: 'read' });
  const res = await backfill(r);
  assert.equal(res.status, 'failed');
  assert.match(res.error ?? '', /results of order\/read page 1 is not a list/);
  assert.equal(await getCheckpoint(r.db.sql, 'main', 'orders'), null, 'no cursor');
  // The second window's page 1 was on its way; its pages 2-5 and its count were never asked for.
  assert.ok(orderRequests(r, 'read').length <= 2, `the second window stopped (${orderRequests(r, 'read').length} reads)`);
  assert.equal(orderRequests(r, 'count').length, 0);
  const again = await backfill(r);
  assert.equal(again.status, 'succeeded', again.error ?? '');
  assert.equal((await mirroredIds(r)).size, 600);
});

/** A backfill of `orders` orders, five more written (at the window's end) once page 3 is cut. */
async function lateAfterPage3(t: TestContext, orders: number) {
  const r = await rig(t);
  const main = r.sandbox.account('main');
  main.addOrders(orders, { modified: new Date(Date.now() - DAY) });
  const running = backfill(r);
  await until(() => answeredReads(r) >= 3, 'page 3 cut');
  const late = main.addOrders(5, { modified: new Date(Date.now() - 2 * DAY) });
  const res = await running;
  assert.equal(res.status, 'succeeded', res.error ?? '');
  return { r, res, late };
}

test('a window whose last counted page is full reads one page more, and so gets orders that entered meanwhile', async (t) => {
  // The count said 300 (3 pages); once page 3 is cut, five late-written orders join the window's end.
  const { r, res, late } = await lateAfterPage3(t, 300);
  assert.equal(orderRequests(r, 'read').length, 4, 'page 4 was read, and no page twice: the window was not read again');
  assert.equal(orderRequests(r, 'count').length, 2);
  assert.equal(res.counters.items_inserted, 305);
  const ids = await mirroredIds(r);
  for (const id of late) assert.ok(ids.has(id), `late order ${id} mirrored`);
});

test('a window that grows after its last page is read is caught by the count check and read again', async (t) => {
  // Page 3 (the short one) is cut with 50 orders; five more then land on it, after it was read.
  const { r, res, late } = await lateAfterPage3(t, 250);
  assert.equal(orderRequests(r, 'read').length, 6, 'three pages, then the same three again');
  assert.equal(res.counters.items_seen, 250 + 255, 'each read counts what it read');
  assert.equal(res.counters.items_inserted, 255, 'nothing stored twice');
  const ids = await mirroredIds(r);
  for (const id of late) assert.ok(ids.has(id), `late order ${id} mirrored`);
  const cursor = await getCheckpoint<{ until: string }>(r.db.sql, 'main', 'orders');
  assert.ok(cursor && Date.now() - new Date(cursor.until).getTime() < 60_000, 'the cursor passed the window');
});

test('a window that keeps growing while read is read three times, then the run ends partial with the cursor before it', async (t) => {
  const r = await rig(t);
  const main = r.sandbox.account('main');
  main.addOrders(250, { modified: new Date(Date.now() - DAY) });
  const running = backfill(r);
  // Each read of the window is three pages; once a read's pages are answered, five orders land in
  // the window before its count check arrives (an answer takes LATENCY_MS to come back).
  for (let read = 1; read <= 3; read++) {
    await until(() => answeredReads(r) >= 3 * read, `read ${read} of the window answered`);
    main.addOrders(5, { modified: new Date(Date.now() - 2 * DAY) });
  }
  const res = await running;
  assert.equal(res.status, 'partial', res.error ?? '');
  assert.equal(orderRequests(r, 'read').length, 9, 'the window read three times, then no more');
  assert.equal(await getCheckpoint(r.db.sql, 'main', 'orders'), null, 'the cursor stays before the window');
  assert.equal((await mirroredIds(r)).size, 260, 'what the three reads read is stored (the last five came after them)');
  const again = await backfill(r);
  assert.equal(again.status, 'succeeded', again.error ?? '');
  assert.equal(again.counters.items_inserted, 5, 'the next run reads the window again: only the last five are new');
  assert.ok(await getCheckpoint(r.db.sql, 'main', 'orders'), 'and commits it');
});

test('a window whose paging shifts under the pool (an order entering early on) is read again', async (t) => {
  const r = await rig(t);
  const main = r.sandbox.account('main');
  // The oldest order, outside the window, has the lowest id: moved into the window it becomes its first record.
  const [early] = main.addOrders(1, { status: 4, modified: new Date(r.start.getTime() - DAY) });
  main.addOrders(350, { modified: new Date(Date.now() - DAY) });
  const running = backfill(r);
  // Pages 1 and 2 are cut; the move then pushes every later record one place on.
  await until(() => answeredReads(r) >= 2, 'page 2 cut');
  const movedTo = new Date(Math.floor((Date.now() - 2 * DAY) / 1000) * 1000);
  main.setOrderStatus(early, 4, { modified: movedTo });
  const res = await running;
  assert.equal(res.status, 'succeeded', res.error ?? '');
  assert.equal(orderRequests(r, 'read').length, 8, 'four pages, then four again');
  const ids = await mirroredIds(r);
  assert.equal(ids.size, 351);
  const [row] = await r.db.sql<{ modified: Date }[]>`select modified from emag_orders where account = 'main' and id = ${early}`;
  assert.deepEqual(row?.modified, fromEmagDate(main.order(early)?.modified), 'the moved order, missed by the first read, is mirrored');
});

test('pages that repeat fail the run even with several in flight, naming the page a sequential read would', async (t) => {
  const r = await rig(t);
  r.sandbox.account('main').addOrders(450, { modified: new Date(Date.now() - DAY) });
  const running = backfill(r);
  await until(() => answeredReads(r) >= 1, 'page 1 cut');
  // From page 2 on, eMAG ignores currentPage: pages 2-5 are one and the same page, asked for together.
  r.sandbox.fault({ kind: 'same_page', count: 10, account: 'main', resource: 'order', action: 'read' });
  const res = await running;
  assert.equal(res.status, 'failed');
  assert.equal(res.errorKind, 'invalid_response');
  assert.match(res.error ?? '', /: page 3 of order\/read repeated records already read: paging is not advancing/);
  assert.ok(orderRequests(r, 'read').length <= 6, 'the pool stopped instead of reading on');
  assert.equal(await getCheckpoint(r.db.sql, 'main', 'orders'), null, 'no cursor');
});

test('a page failing in the window read beside the first leaves the cursor at the first window’s end; the next run reads the rest and duplicates nothing', async (t) => {
  const r = await rig(t, 40);
  const main = r.sandbox.account('main');
  main.addOrders(150, { modified: new Date(r.start.getTime() + 5 * DAY) });
  // Forty pages: more than the second window keeps waiting for the budget (pagesInFlight), so some of
  // its pages are asked for after the first window's count check, whatever the order of the queue.
  const second = 4000;
  main.addOrders(second, { modified: new Date(Date.now() - DAY) });
  const running = backfill(r);
  // Once the first window (150 orders) is committed and a page of the second is cut, the next page fails.
  let committedAt = 0;
  await until(async () => {
    if (committedAt === 0 && (await getCheckpoint(r.db.sql, 'main', 'orders')) !== null) committedAt = Date.now();
    return committedAt > 0 && orderRequests(r, 'read').some((e) => e.t >= committedAt && e.status !== 0);
  }, 'a page of the second window cut');
  r.sandbox.fault({ kind: 'results_not_list', account: 'main', resource: 'order', action: 'read' });
  const res = await running;
  assert.equal(res.status, 'failed');
  assert.equal(res.errorKind, 'invalid_response');
  assert.match(res.error ?? '', /results of order\/read page \d+ is not a list/);
  const firstWindowEnd = new Date(r.start.getTime() + 30 * DAY).toISOString();
  assert.deepEqual(await getCheckpoint(r.db.sql, 'main', 'orders'), { until: firstWindowEnd }, 'the cursor is at the end of the first window');
  const stored = (await mirroredIds(r)).size;
  assert.ok(stored >= 250 && stored < 150 + second, `the first window and some of the second stored (${stored})`);

  const again = await backfill(r);
  assert.equal(again.status, 'succeeded', again.error ?? '');
  assert.equal(again.counters.items_inserted, 150 + second - stored, 'the pages stored before are recognised');
  assert.equal((await mirroredIds(r)).size, 150 + second);
  const cursor = await getCheckpoint<{ until: string }>(r.db.sql, 'main', 'orders');
  assert.ok(cursor && Date.now() - new Date(cursor.until).getTime() < 60_000, 'the cursor reached now');
});

test('a run cancelled with pages in flight ends as cancelled; the cursor stays and the next run completes the window', async (t) => {
  const r = await rig(t);
  r.sandbox.account('main').addOrders(450, { modified: new Date(Date.now() - DAY) });
  const abort = new AbortController();
  const running = executeRun(r.deps, r.config.accounts[0], 'orders', ordersStream(), { mode: 'incremental', trigger: 'cli', signal: abort.signal });
  // The count has sized the pool: pages 3-5 are asked for together.
  await until(() => orderRequests(r, 'read').length >= 4, 'several pages asked for');
  const abortedAt = Date.now();
  abort.abort(new Error('interrupted'));
  const res = await running;
  assert.equal(res.status, 'cancelled');
  assert.equal(res.error, 'cancelled: interrupted');
  assert.equal(await getCheckpoint(r.db.sql, 'main', 'orders'), null, 'no cursor');
  // A request already on the wire at the abort may arrive a moment later; none is sent after it.
  const late = r.sandbox.log.filter((e) => e.account === 'main' && e.t > abortedAt + 20);
  assert.deepEqual(late, [], 'nothing asked for after the abort');
  const stored = (await mirroredIds(r)).size;

  const again = await backfill(r);
  assert.equal(again.status, 'succeeded', again.error ?? '');
  assert.equal(again.counters.items_inserted, 450 - stored);
  assert.equal((await mirroredIds(r)).size, 450);
});

test('a run started with its signal already aborted asks eMAG for nothing and ends as cancelled', async (t) => {
  const r = await rig(t, 40);
  r.sandbox.account('main').addOrders(150, { modified: new Date(Date.now() - DAY) });
  const res = await executeRun(r.deps, r.config.accounts[0], 'orders', ordersStream(), { mode: 'incremental', trigger: 'cli', signal: AbortSignal.abort(new Error('stopping')) });
  assert.equal(res.status, 'cancelled');
  assert.deepEqual(orderRequests(r, 'read'), [], 'no window was read');
  assert.equal(await getCheckpoint(r.db.sql, 'main', 'orders'), null);
});

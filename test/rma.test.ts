import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../src/config.ts';
import { FINAL_RMA_STATUSES } from '../src/db/rmas.ts';
import { parseLocal, type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { planReread, rmaStream } from '../src/streams/rma.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase, } from './helpers/db.ts';
import { harness, once, syncDeps } from './helpers/setup.ts';

const DAY = 86_400_000;
// The sandbox dates returns up to 120 days back; the backfill starts before that (over four windows).
const ENV = { EMAG_ORDERS_START_DATE: new Date(Date.now() - 125 * DAY).toISOString() };

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;

harness([
  { offers: 5, orders: 40, rmas: 260 },
  { offers: 5, orders: 20, rmas: 40, orderType: 2 },
], { env: ENV }, (h) => {
  ({ sandbox, db, config, deps } = h);
});

function sync(name: string, d: SyncDeps = deps) {
  const account = d.config.accounts.find((a) => a.name === name)!;
  return executeRun(d, account, 'rma', rmaStream(), { mode: 'incremental', trigger: 'cli' });
}

type Row = {
  emag_id: string;
  order_id: string;
  type: number;
  request_status: number;
  return_type: number;
  return_reason: number;
  date: Date;
  products: unknown;
  customer_name: string;
  awbs: unknown;
  status_history: unknown;
  raw: unknown;
  updated_at: Date;
  final_at: Date | null;
  xmin: string;
};

async function rows(name: string): Promise<Map<number, Row>> {
  const r = await db.sql<Row[]>`select *, xmin::text from emag_rmas where account = ${name}`;
  return new Map(r.map((x) => [Number(x.emag_id), x]));
}

function served(name: string): Array<Record<string, unknown>> {
  // A deep copy: the sandbox serves live objects that later mutations change.
  return JSON.parse(JSON.stringify(sandbox.account(name).rmas));
}

/** Asserts the mirror of `name` equals what the sandbox serves, field by field. */
async function assertMirrored(name: string): Promise<void> {
  const mirror = await rows(name);
  const list = served(name);
  assert.equal(mirror.size, list.length);
  for (const r of list) {
    const m = mirror.get(Number(r.emag_id));
    assert.ok(m, `rma ${r.emag_id} mirrored`);
    assert.equal(Number(m.order_id), Number(r.order_id));
    assert.equal(m.type, Number(r.type));
    assert.equal(m.request_status, Number(r.request_status), `rma ${r.emag_id} status`);
    assert.equal(m.return_type, Number(r.return_type));
    assert.equal(m.return_reason, Number(r.return_reason));
    assert.equal(m.date.getTime(), parseLocal(r.date as string));
    assert.equal(m.customer_name, r.customer_name);
    assert.deepEqual(m.products, r.products);
    assert.deepEqual(m.awbs, r.awbs);
    assert.deepEqual(m.status_history, r.status_history);
    assert.deepEqual(m.raw, r);
    assert.equal(m.final_at !== null, FINAL_RMA_STATUSES.includes(Number(r.request_status)));
  }
}

/** Both accounts mirrored, once per file: the mirror the later tests start from (a no-op after the backfill test). */
const synced = once(() => Promise.all([sync('main'), sync('fbe')]));

function rmaRequests(name: string): number {
  return sandbox.log.filter((e) => e.account === name && e.resource === 'rma').length;
}

test('planReread: dense open returns share a window, sparse ones are read by emag_id', () => {
  const t0 = Date.UTC(2025, 0, 1);
  // 150 mirrored returns an hour apart; 40 of them open.
  const dates = Array.from({ length: 150 }, (_, i) => t0 + i * 3600_000);
  const open = dates.slice(0, 40).map((date, i) => ({ emag_id: i + 1, date }));
  const dense = planReread(open, dates);
  assert.deepEqual(dense.map((s) => s.kind), ['window']);
  assert.equal(dense[0].kind === 'window' && dense[0].estimatedPages, 1);
  assert.deepEqual(dense[0].rmas, open.map((o) => o.emag_id));

  // Two open returns with 150 others between them: two id reads beat two pages.
  const sparse = planReread([{ emag_id: 1, date: dates[0] }, { emag_id: 2, date: dates[149] }], dates);
  assert.deepEqual(sparse, [{ kind: 'ids', rmas: [1, 2] }]);

  // Windows never span more than 30 days; undated returns are read by id.
  const far = [{ emag_id: 1, date: t0 }, { emag_id: 2, date: t0 + 1000 }, { emag_id: 3, date: t0 + 40 * DAY }, { emag_id: 4, date: t0 + 40 * DAY + 1000 }, { emag_id: 5, date: null }];
  const plan = planReread(far, far.flatMap((o) => (o.date === null ? [] : [o.date])));
  assert.deepEqual(plan.map((s) => [s.kind, s.rmas]), [['window', [1, 2]], ['window', [3, 4]], ['ids', [5]]]);
  for (const s of plan) if (s.kind === 'window') assert.ok(s.to - s.from <= 30 * DAY && s.to > s.from);
});

test('backfill over four months mirrors every return; an FBE account gets its type-2 returns, window by window', async () => {
  // fbe first stops after two pages: the cursor covers exactly the windows completed.
  const { deps: capped } = await syncDeps(sandbox, db, { ...ENV, EMAG_FBE_MAX_PAGES: '2' }, deps.budgets);
  const [main, partial] = await Promise.all([sync('main'), sync('fbe', capped)]);
  assert.equal(main.status, 'succeeded', main.error ?? '');
  assert.equal(main.counters.items_inserted, 260);
  assert.ok(main.counters.pages_done >= 5, `${main.counters.pages_done} pages over five 30-day windows`);
  assert.equal(main.counters.api_requests, main.counters.pages_done, 'no count calls, no re-reads of what was just read');
  await assertMirrored('main');

  assert.equal(partial.status, 'partial');
  assert.equal(partial.counters.pages_done, 2);
  const [cp] = await db.sql<{ value: { until: string } }[]>`select value from emag_checkpoints where account = 'fbe' and stream = 'rma'`;
  const until = new Date(cp.value.until).getTime();
  const start = new Date(ENV.EMAG_ORDERS_START_DATE).getTime();
  assert.equal(until, start + 60 * DAY, 'the cursor is the end of the second window');
  const early = served('fbe').filter((r) => parseLocal(r.date as string)! <= until);
  assert.equal((await rows('fbe')).size, early.length);

  const fbe = await sync('fbe');
  assert.equal(fbe.status, 'succeeded', fbe.error ?? '');
  await assertMirrored('fbe');
  assert.ok([...(await rows('fbe')).values()].every((r) => r.type === 2));
  const [main2] = await db.sql<{ value: { until: string } }[]>`select value from emag_checkpoints where account = 'main' and stream = 'rma'`;
  assert.ok(Date.now() - new Date(main2.value.until).getTime() < 60_000, 'the main cursor reached now');
});

test('a run with nothing new rewrites nothing, and re-reads open returns in fewer requests than there are', async () => {
  await synced();
  const before = await rows('main');
  const open = [...before.values()].filter((r) => !FINAL_RMA_STATUSES.includes(r.request_status)).length;
  assert.ok(open > 50, `${open} open returns`);
  const r = await sync('main');
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(r.counters.items_inserted + r.counters.items_updated, 0);
  assert.ok(r.counters.api_requests < open / 5, `${r.counters.api_requests} requests for ${open} open returns`);
  const now = await rows('main');
  for (const [id, row] of before) {
    assert.equal(now.get(id)?.xmin, row.xmin, `rma ${id} not rewritten`);
    assert.deepEqual(now.get(id)?.updated_at, row.updated_at);
  }
});

test('status changes of open returns arrive, however old the return; final ones are no longer re-read', async () => {
  await synced();
  const main = sandbox.account('main');
  const open = served('main').filter((r) => !FINAL_RMA_STATUSES.includes(Number(r.request_status)));
  const lookbackEdge = Date.now() - config.ordersLookbackMinutes * 60_000;
  assert.ok(open.every((r) => parseLocal(r.date as string)! < lookbackEdge), 'all older than the lookback');
  const next: Record<number, number> = { 1: 2, 2: 3, 3: 6, 6: 7 };
  const moved = open.filter((_, i) => i % 3 === 0);
  for (const r of moved) main.advanceRma(Number(r.emag_id), next[Number(r.request_status)]);
  // An FBE return too: its re-read must ask for type 2.
  const fbeOpen = served('fbe').find((r) => Number(r.request_status) === 2)!;
  sandbox.account('fbe').advanceRma(Number(fbeOpen.emag_id), 3);

  const [r, f] = await Promise.all([sync('main'), sync('fbe')]);
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(r.counters.items_updated, moved.length);
  assert.equal(f.counters.items_updated, 1);
  await assertMirrored('main');
  await assertMirrored('fbe');

  // Close all but two far-apart returns: those two cost one request each.
  const still = served('main').filter((r) => !FINAL_RMA_STATUSES.includes(Number(r.request_status)));
  const keep = new Set([Number(still[0].emag_id), Number(still[still.length - 1].emag_id)]);
  for (const x of still) {
    const id = Number(x.emag_id);
    if (keep.has(id)) continue;
    const s = Number(x.request_status);
    if (s === 1) main.advanceRma(id, 2);
    main.advanceRma(id, s === 6 ? 7 : 5);
  }
  const closing = await sync('main');
  assert.equal(closing.counters.items_updated, still.length - 2);
  await assertMirrored('main');
  const finalAt = await db.sql`select count(*)::int as n from emag_rmas where account = 'main' and final_at is null`;
  assert.equal(finalAt[0].n, 2);

  const requests = rmaRequests('main');
  const two = await sync('main');
  assert.equal(two.counters.api_requests, 3, 'one new-returns window and two emag_id reads');
  assert.equal(rmaRequests('main') - requests, 3);

  for (const id of keep) {
    const s = Number(served('main').find((x) => Number(x.emag_id) === id)!.request_status);
    if (s === 1) main.advanceRma(id, 2);
    main.advanceRma(id, s === 6 ? 7 : 5);
  }
  assert.equal((await sync('main')).counters.items_updated, 2);
  const none = await sync('main');
  assert.equal(none.counters.api_requests, 1, 'every return is final: only the new-returns window is read');
  await assertMirrored('main');
});

test('new returns arrive', async () => {
  await synced();
  const added = sandbox.account('main').addRmas(5);
  const r = await sync('main');
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.equal(r.counters.items_inserted, 5);
  const mirror = await rows('main');
  for (const id of added) assert.equal(mirror.get(id)?.request_status, 2);
  await assertMirrored('main');
});

test('malformed returns are quarantined with their reason; the run is partial and the rest is stored', async () => {
  await synced();
  const main = sandbox.account('main');
  const [noId, badNumber, badDate, good] = main.addRmas(4);
  // The sandbox serves live records: corrupt three of the new ones in place.
  const live = new Map(main.rmas.map((r) => [r.emag_id, r]));
  delete live.get(noId)!.emag_id;
  live.get(badNumber)!.return_type = 'three';
  live.get(badDate)!.date = '31/12/2025';
  const r = await sync('main');
  assert.equal(r.status, 'partial');
  assert.equal(r.counters.items_failed, 3);
  assert.equal(r.counters.items_inserted, 1);
  const q = await db.sql<{ record_key: string | null; reason: string; raw: Record<string, unknown> }[]>`
    select record_key, reason, raw from emag_quarantine where run_id = ${r.runId} order by reason`;
  assert.equal(q.length, 3);
  assert.deepEqual(q.map((x) => x.reason.split(' ')[0]).sort(), ['date', 'emag_id', 'return_type']);
  assert.ok(q.every((x) => x.raw && typeof x.raw === 'object'), 'kept as it came');
  assert.deepEqual(q.map((x) => x.record_key).sort(), [String(badDate), String(badNumber), null].sort());
  const mirror = await rows('main');
  assert.ok(mirror.has(good));
  for (const id of [noId, badNumber, badDate]) assert.ok(!mirror.has(id));
});

test('no 1-second or 60-second window over eMAG’s limits in the whole file', async () => {
  await synced();
  assert.ok(sandbox.log.length >= 10, `${sandbox.log.length} requests`);
  assert.deepEqual(windowViolations(sandbox.log), []);
  assert.equal(sandbox.log.filter((e) => e.status === 429).length, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../src/config.ts';
import { RecordError } from '../src/emag/quirks.ts';
import { parseCourierAccount, parseHandlingTime, parseVatRate } from '../src/emag/reference-records.ts';
import { parseLocal, type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { readCourierAccounts, readHandlingTime, readVat } from '../src/sandbox/reference.ts';
import { referenceStream } from '../src/streams/reference.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase, } from './helpers/db.ts';
import { harness, once, syncDeps } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;

harness([{ offers: 5 }, { offers: 5, orderType: 2 }], {}, (h) => {
  ({ sandbox, db, config, deps } = h);
});

function sync(name: string, d: SyncDeps = deps) {
  const account = d.config.accounts.find((a) => a.name === name)!;
  return executeRun(d, account, 'reference', referenceStream(), { mode: 'full', trigger: 'cli' });
}

/** What the sandbox serves for a reference resource (the same for every account). */
function served(reply: { body: unknown }): Array<Record<string, unknown>> {
  return (reply.body as { results: Array<Record<string, unknown>> }).results;
}

/** Every reference row of an account, with xmin to tell whether it was rewritten. */
async function snapshot(name: string) {
  const [vat, ht, couriers] = await Promise.all([
    db.sql`select *, xmin::text from emag_vat_rates where account = ${name} order by vat_id`,
    db.sql`select *, xmin::text from emag_handling_times where account = ${name} order by handling_time`,
    db.sql`select *, xmin::text from emag_courier_accounts where account = ${name} order by account_id`,
  ]);
  return { vat, ht, couriers };
}

/** Both accounts' first refresh, once per file: the rows the other tests start from. */
const synced = once(() => Promise.all([sync('main'), sync('fbe')]));

test('a run fills VAT rates, handling times and courier accounts per account with the values eMAG sends', async () => {
  const [main, fbe] = await synced();
  for (const r of [main, fbe]) {
    assert.equal(r.status, 'succeeded', r.error ?? '');
    assert.equal(r.counters.api_requests, 3);
    assert.equal(r.counters.pages_done, 3);
  }
  const vat = served(readVat());
  const ht = served(readHandlingTime());
  const couriers = served(readCourierAccounts());
  assert.equal(main.counters.items_inserted, vat.length + ht.length + couriers.length);

  for (const name of ['main', 'fbe']) {
    const s = await snapshot(name);
    assert.deepEqual(
      s.vat.map((r) => [r.vat_id, Number(r.vat_rate), r.is_default]),
      vat.map((v) => [v.vat_id, v.vat_rate, v.is_default]).sort((a, b) => Number(a[0]) - Number(b[0])),
    );
    assert.deepEqual(s.ht.map((r) => r.handling_time), ht.map((h) => h.id).sort((a, b) => Number(a) - Number(b)));
    const byId = new Map(couriers.map((c) => [Number(c.account_id), c]));
    assert.equal(s.couriers.length, couriers.length);
    for (const row of s.couriers) {
      const c = byId.get(Number(row.account_id))!;
      assert.equal(row.account_display_name, c.account_display_name);
      assert.equal(row.courier_account_type, c.courier_account_type);
      assert.equal(row.courier_name, c.courier_name);
      assert.deepEqual(row.courier_account_properties, c.courier_account_properties);
      assert.equal((row.created as Date).getTime(), parseLocal(c.created as string));
      assert.equal(row.status, c.status);
      assert.equal(row.pickup_country_code, c.pickup_country_code);
      assert.deepEqual(row.raw, c);
    }
  }
});

test('a second run rewrites nothing; a row eMAG no longer lists is deleted', async () => {
  await synced();
  const before = await snapshot('main');
  const r = await sync('main');
  assert.equal(r.status, 'succeeded');
  assert.deepEqual([r.counters.items_inserted, r.counters.items_updated, r.counters.items_deleted], [0, 0, 0]);
  assert.equal(r.counters.items_unchanged, r.counters.items_seen);
  assert.deepEqual(await snapshot('main'), before, 'same rows, same xmin');

  await db.sql`insert into emag_vat_rates (account, vat_id, vat_rate, is_default, raw) values ('main', 99, 0.5, false, '{"vat_id": 99}')`;
  const again = await sync('main');
  assert.equal(again.counters.items_deleted, 1);
  assert.equal((await db.sql`select 1 from emag_vat_rates where account = 'main' and vat_id = 99`).length, 0);
  assert.equal((await db.sql`select 1 from emag_vat_rates where account = 'fbe'`).length, served(readVat()).length, 'other accounts untouched');
});

test('a failing resource fails the run and leaves its previous rows intact', async () => {
  await synced();
  // A row a successful refresh would delete: it must survive a failed one.
  await db.sql`insert into emag_vat_rates (account, vat_id, vat_rate, is_default, raw) values ('main', 99, 0.5, false, '{"vat_id": 99}')`;
  const before = await snapshot('main');
  sandbox.fault({ kind: 'server_error', count: 10, resource: 'vat' });
  const { deps: fast } = await syncDeps(sandbox, db, { EMAG_MAX_RETRIES: '0' }, deps.budgets);
  const r = await sync('main', fast);
  sandbox.clearFaults();
  assert.equal(r.status, 'failed');
  assert.match(r.error ?? '', /vat\/read: server error/);
  assert.equal(r.errorKind, 'server');
  assert.equal(r.counters.api_requests, 3, 'the other resources were still refreshed');
  assert.deepEqual(await snapshot('main'), before, 'nothing deleted or rewritten');

  const healed = await sync('main');
  assert.equal(healed.status, 'succeeded');
  assert.equal(healed.counters.items_deleted, 1);
});

test('odd shapes parse: numbers as strings, bare values, [] for empty, keyed objects', () => {
  assert.deepEqual(parseVatRate({ vat_id: '4', vat_rate: '0.1900', is_default: '1' }), {
    vat_id: 4,
    vat_rate: 0.19,
    is_default: true,
    raw: { vat_id: '4', vat_rate: '0.1900', is_default: '1' },
  });
  assert.equal(parseVatRate({ vat_id: 3, vat_rate: 0, is_default: [] }).is_default, null);
  assert.throws(() => parseVatRate({ vat_rate: '0.19' }), RecordError);
  assert.throws(() => parseVatRate({ vat_id: 1, vat_rate: '19%' }), /vat_rate is not a number/);

  assert.equal(parseHandlingTime({ id: '0' }).handling_time, 0);
  assert.equal(parseHandlingTime('7').handling_time, 7);
  assert.equal(parseHandlingTime({ value: 14 }).handling_time, 14);
  assert.throws(() => parseHandlingTime({ id: -1 }), RecordError);
  assert.throws(() => parseHandlingTime({}), RecordError);

  const c = parseCourierAccount({ account_id: '1071', courier_account_properties: { a: '0', b: 2 }, status: '1', created: '2023-03-14 10:22:05', courier_account_type: [] });
  assert.equal(c.account_id, 1071);
  assert.deepEqual(c.courier_account_properties, [0, 2]);
  assert.equal(c.status, 1);
  assert.equal(c.courier_account_type, null);
  assert.equal(c.created, new Date(parseLocal('2023-03-14 10:22:05')!).toISOString());
  assert.deepEqual(parseCourierAccount({ account_id: 5, courier_account_properties: '0, 6' }).courier_account_properties, [0, 6]);
  assert.deepEqual(parseCourierAccount({ account_id: 5, courier_account_properties: [] }).courier_account_properties, []);
  assert.throws(() => parseCourierAccount({ account_id: 5, created: 'yesterday' }), /created/);
});

test('the enumerations are seeded with their texts, and the lookup functions return them', async () => {
  const [t] = await db.sql`select
    get_cancellation_reason_text(2) as c2, get_cancellation_reason_text(43) as c43, get_cancellation_reason_text(4) as c4,
    get_order_status_text(1) as o1, get_order_status_text(0) as o0, get_order_status_text(9) as o9,
    get_payment_mode_text(1) as p1, get_payment_mode_text(3) as p3,
    get_rma_status_text(7) as r7, get_rma_status_text(3) as r3, get_rma_status_text(null) as rnull,
    get_enumeration_text('attachment_type', 10) as a10`;
  assert.deepEqual(t, {
    c2: 'Cancelled by the client',
    c43: 'The delivery estimate is too long',
    c4: null,
    o1: 'new',
    o0: 'canceled',
    o9: null,
    p1: 'cash on delivery',
    p3: 'online card',
    r7: 'finalized',
    r3: 'acknowledged',
    rnull: null,
    a10: 'AWB',
  });
  const kinds = await db.sql<{ kind: string; n: number; codes: number[] }[]>`
    select kind, count(*)::int as n, array_agg(code order by code) as codes from emag_enumerations group by kind order by kind`;
  const byKind = Object.fromEntries(kinds.map((k) => [k.kind, k.codes]));
  const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  assert.deepEqual(byKind, {
    attachment_type: [1, 3, 4, 8, 10, 11],
    cancellation_reason: [1, 2, 3, ...range(15, 43)],
    offer_status: [0, 1, 2],
    offer_validation_status: [1, 2],
    order_status: range(0, 5),
    order_type: [2, 3],
    payment_mode: [1, 2, 3],
    rma_return_type: range(1, 5),
    rma_status: range(1, 7),
    validation_status: [...range(0, 6), ...range(8, 12)],
  });
  const [{ volatility }] = await db.sql`select provolatile as volatility from pg_proc where proname = 'get_cancellation_reason_text'`;
  assert.equal(volatility, 's', 'stable');
});

test('no 1-second or 60-second window over eMAG’s limits in the whole file', () => {
  assert.deepEqual(windowViolations(sandbox.log), []);
  assert.equal(sandbox.log.filter((e) => e.status === 429).length, 0);
  assert.ok(config.accounts.length === 2);
});

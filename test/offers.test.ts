import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import postgres from 'postgres';
import type { Config } from '../src/config.ts';
import type { Sql } from '../src/db/connect.ts';
import { type Sandbox, windowViolations } from '../src/sandbox/server.ts';
import { AccountBudget } from '../src/emag/budget.ts';
import { EmagClient } from '../src/emag/client.ts';
import { readOffersById } from '../src/emag/lookups.ts';
import { parseOffer } from '../src/emag/offer-record.ts';
import { bytesHash, CopyRefused, insertNewOffers, NewOfferInserts, OfferCopy, offersToWrite, writeOffers } from '../src/db/offers.ts';
import { offersStream } from '../src/streams/offers.ts';
import { executeRun, type RunMode, type RunResult, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase, } from './helpers/db.ts';
import { harness, once, requestArrived, TEST_ACCOUNTS, syncDeps } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;

harness([{ offers: 530 }, { offers: 320 }], { sharedSkus: 120 }, (h) => {
  ({ sandbox, db, config, deps } = h);
});

function account(name: string) {
  return config.accounts.find((a) => a.name === name)!;
}

function sync(name: string, mode: RunMode = 'full', d: SyncDeps = deps) {
  return executeRun(d, account(name), 'offers', offersStream(), { mode, trigger: 'cli' });
}

/** A node of an EXPLAIN (ANALYZE, FORMAT json) plan. */
type PlanNode = { 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number; Plans?: PlanNode[] };

type Row = { id: string; part_number: string; name: string; sale_price: string; recommended_price: string | null; stock: number; status: number; vat_id: number; deleted_at: Date | null; updated_at: Date; xmin: string };

async function rows(name: string): Promise<Map<number, Row>> {
  const r = await db.sql<Row[]>`select id, part_number, name, sale_price, recommended_price, stock, status, vat_id, deleted_at, updated_at, xmin::text from emag_offers where account = ${name}`;
  return new Map(r.map((x) => [Number(x.id), x]));
}

/** Both accounts' first full sync, once per file: the mirror the other tests start from. */
const synced = once(() => Promise.all([sync('main'), sync('fbe')]));

function served(name: string) {
  return sandbox.account(name).offers as Array<Record<string, unknown>>;
}

test('a full sync mirrors both accounts: counts and field values equal the sandbox’s', async () => {
  const [main, fbe] = await synced();
  assert.equal(main.status, 'succeeded', main.error ?? '');
  assert.equal(fbe.status, 'succeeded', fbe.error ?? '');
  assert.equal(main.counters.items_inserted, 530);
  assert.equal(fbe.counters.items_inserted, 320);
  assert.equal(main.counters.pages_done, 6);
  assert.equal(main.counters.api_requests, 7, 'one count and six pages');

  for (const name of ['main', 'fbe']) {
    const mirror = await rows(name);
    const offers = served(name);
    assert.equal(mirror.size, offers.length);
    for (const o of offers) {
      const m = mirror.get(Number(o.id));
      assert.ok(m, `offer ${o.id} mirrored`);
      assert.equal(m.part_number, Array.isArray(o.part_number) ? o.part_number[0] : o.part_number);
      assert.equal(m.name, o.name);
      assert.equal(Number(m.sale_price), Number(o.sale_price));
      assert.equal(m.recommended_price === null ? null : Number(m.recommended_price), o.recommended_price == null || o.recommended_price === '' ? null : Number(o.recommended_price));
      const stock = Array.isArray(o.stock) ? (o.stock as Array<{ value: unknown }>).reduce((s, w) => s + Number(w.value), 0) : Number(o.stock);
      assert.equal(m.stock, stock);
      assert.equal(m.status, Number(o.status));
      assert.equal(m.vat_id, Number(o.vat_id));
    }
  }
  const [run] = await db.sql`select * from emag_sync_runs where id = ${main.runId}`;
  assert.equal(run.status, 'succeeded');
  assert.equal(run.items_seen, 530);
  assert.equal(run.pages_total, 6);
  assert.ok(run.finished_at instanceof Date);
});

test('emag_products has one row per SKU and prefers main for shared SKUs', async () => {
  await synced();
  const products = await db.sql<{ part_number: string; source_account: string; accounts: string[] }[]>`select part_number, source_account, accounts from emag_products`;
  const skus = new Set([...served('main'), ...served('fbe')].map((o) => (Array.isArray(o.part_number) ? o.part_number[0] : o.part_number)));
  assert.equal(products.length, skus.size);
  const shared = products.filter((p) => p.accounts.length === 2);
  assert.equal(shared.length, 120);
  assert.ok(shared.every((p) => p.source_account === 'main'));
  assert.ok(products.some((p) => p.source_account === 'fbe'), 'fbe-only SKUs come from fbe');
});

test('a second run rewrites nothing', async () => {
  await synced();
  const before = await rows('main');
  const r = await sync('main');
  assert.equal(r.status, 'succeeded');
  assert.deepEqual([r.counters.items_inserted, r.counters.items_updated, r.counters.items_unchanged, r.counters.items_deleted], [0, 0, served('main').length, 0]);
  const afterRows = await rows('main');
  for (const [id, row] of before) {
    assert.equal(afterRows.get(id)?.xmin, row.xmin, `offer ${id} not rewritten`);
    assert.deepEqual(afterRows.get(id)?.updated_at, row.updated_at);
  }
});

test('changed prices arrive, and only those rows change', async () => {
  await synced();
  const changed = sandbox.account('main').changePrices(7);
  const before = await rows('main');
  const r = await sync('main');
  assert.equal(r.counters.items_updated, 7);
  assert.equal(r.counters.items_unchanged, served('main').length - 7);
  const now = await rows('main');
  for (const id of changed) {
    const o = served('main').find((x) => Number(x.id) === id)!;
    assert.equal(Number(now.get(id)!.sale_price), Number(o.sale_price));
    assert.ok(now.get(id)!.updated_at > before.get(id)!.updated_at);
  }
});

test('removed offers are soft-deleted only after a complete scan', async () => {
  await synced();
  const removed = sandbox.account('main').removeOffers(4);
  const added = sandbox.account('main').addOffers(3);

  // A scan capped at 2 pages is incomplete: nothing may be deleted.
  const { deps: capped } = await syncDeps(sandbox, db, { EMAG_MAIN_MAX_PAGES: '2' }, deps.budgets);
  const partial = await executeRun(capped, capped.config.accounts[0], 'offers', offersStream(), { mode: 'full', trigger: 'cli' });
  assert.equal(partial.counters.pages_done, 2);
  assert.equal(partial.counters.items_deleted, 0);
  let mirror = await rows('main');
  for (const id of removed) assert.equal(mirror.get(id)?.deleted_at, null, 'still live after an incomplete scan');

  // A scan that fails half-way deletes nothing either.
  sandbox.fault({ kind: 'server_error', count: 20, resource: 'product_offer', action: 'read' });
  const { deps: fast } = await syncDeps(sandbox, db, { EMAG_MAX_RETRIES: '0' }, deps.budgets);
  const failed = await executeRun(fast, fast.config.accounts[0], 'offers', offersStream(), { mode: 'full', trigger: 'cli' });
  sandbox.clearFaults();
  assert.equal(failed.status, 'failed');
  assert.match(failed.error ?? '', /server error/);
  mirror = await rows('main');
  for (const id of removed) assert.equal(mirror.get(id)?.deleted_at, null, 'still live after a failed scan');

  const full = await sync('main');
  assert.equal(full.status, 'succeeded');
  assert.equal(full.counters.items_deleted, 4);
  assert.equal(full.counters.items_inserted, 3);
  mirror = await rows('main');
  for (const id of removed) assert.ok(mirror.get(id)?.deleted_at instanceof Date, `offer ${id} soft-deleted`);
  for (const id of added) assert.equal(mirror.get(id)?.deleted_at, null);
  const live = [...mirror.values()].filter((r) => r.deleted_at === null);
  assert.equal(live.length, served('main').length);
});

test('malformed records are quarantined with their reason; the run is partial and the rest is stored', async () => {
  sandbox.account('fbe').addOffers(2, { malformed: true });
  const r = await sync('fbe');
  assert.equal(r.status, 'partial');
  assert.equal(r.counters.items_failed, 2);
  const q = await db.sql<{ reason: string; raw: unknown }[]>`select reason, raw from emag_quarantine where run_id = ${r.runId}`;
  assert.equal(q.length, 2);
  for (const row of q) {
    assert.match(row.reason, /is missing|not a number|not a positive id/);
    assert.ok(row.raw && typeof row.raw === 'object', 'the record is kept as it came');
  }
  assert.equal((await rows('fbe')).size, served('fbe').length - 2);
});

test('an incremental run resumes from the last committed page of an interrupted scan', async () => {
  // Simulate a crash after page 3 of 6: the run row says interrupted with its checkpoint.
  await db.sql`insert into emag_sync_runs (account, stream, mode, trigger, status, checkpoint, finished_at)
    values ('main', 'offers', 'full', 'schedule', 'interrupted', ${db.sql.json({ page: 3 })}, now())`;
  const r = await sync('main', 'incremental');
  assert.equal(r.status, 'succeeded');
  assert.equal(r.counters.pages_done, 3, 'pages 4..6 only');
  assert.equal(r.counters.items_deleted, 0, 'an incremental run never soft-deletes');
});

test('no 1-second or 60-second window over eMAG’s limits in the whole file', async () => {
  await synced();
  assert.ok(sandbox.log.length >= 12, `${sandbox.log.length} requests`);
  assert.deepEqual(windowViolations(sandbox.log), []);
  assert.equal(sandbox.log.filter((e) => e.status === 429).length, 0, 'the budget never let eMAG answer 429');
});

test('offers are read by id in one list filter, or one by one where eMAG refuses the list', async () => {
  const client = new EmagClient({ account: 'main', baseUrl: sandbox.url, username: TEST_ACCOUNTS[0].username, password: TEST_ACCOUNTS[0].password, budget: deps.budgets.get('main')! });
  const ids = served('main').slice(0, 3).map((o) => Number(o.id));
  let from = sandbox.log.length;
  const listed = await readOffersById(client, [...ids, 16_000_000]);
  assert.deepEqual([...listed.keys()].sort(), [...ids].sort());
  assert.equal(sandbox.log.length - from, 1, 'one request for the list');
  sandbox.fault({ kind: 'is_error', resource: 'product_offer', action: 'read', count: 1 });
  from = sandbox.log.length;
  const single = await readOffersById(client, ids);
  assert.deepEqual([...single.keys()].sort(), [...ids].sort());
  assert.equal(sandbox.log.length - from, 1 + ids.length, 'the refused list, then one request per id');
});

test('an offer that paging skipped because another vanished mid-scan is verified by id, not soft-deleted', async () => {
  await synced();
  const offers = served('main');
  const vanishing = Number(offers[10].id);
  const shifted = Number(offers[100].id); // first of page 2: it slides onto page 1 once an earlier offer goes
  const from = sandbox.log.length;
  const scan = sync('main');
  await requestArrived(sandbox, from, (e) => e.resource === 'product_offer' && e.action === 'read');
  sandbox.account('main').removeOffer(vanishing);
  const r = await scan;
  assert.equal(r.status, 'succeeded', r.error ?? '');
  const reads = sandbox.log.slice(from).filter((e) => e.resource === 'product_offer' && e.action === 'read').length;
  assert.equal(reads, r.counters.pages_done + 1, 'paging missed an offer, so the unseen ones were read by id');
  assert.equal(r.counters.items_deleted, 0, 'the skipped offer was found by id; the vanished one was seen on page 1');
  let mirror = await rows('main');
  assert.equal(mirror.get(shifted)?.deleted_at, null, 'the skipped one is still live');
  const next = await sync('main');
  assert.equal(next.counters.items_deleted, 1);
  mirror = await rows('main');
  assert.ok(mirror.get(vanishing)?.deleted_at instanceof Date, 'the next scan soft-deletes the vanished offer');
  assert.equal(mirror.get(shifted)?.deleted_at, null);
});

test('an answer whose results is not a list fails the scan, and nothing is soft-deleted', async () => {
  await synced();
  sandbox.fault({ kind: 'results_not_list', count: 1, account: 'main', resource: 'product_offer', action: 'read' });
  const r = await sync('main');
  sandbox.clearFaults();
  assert.equal(r.status, 'failed');
  assert.equal(r.errorKind, 'invalid_response');
  assert.match(r.error ?? '', /results of product_offer\/read page \d+ is not a list/);
  assert.equal(r.counters.items_deleted, 0);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_offers where account = 'main' and deleted_at is not null`;
  const live = served('main').length;
  assert.equal((await rows('main')).size - n, live, 'every live offer still live');
});

test('values outside the columns’ range quarantine one record, not the page', async () => {
  const [id] = sandbox.account('fbe').addOffers(1);
  const offer = sandbox.account('fbe').offers.find((o) => Number(o.id) === id)!;
  assert.throws(() => parseOffer({ ...offer, status: 70000 }), /status is out of range: 70000/);
  assert.throws(() => parseOffer({ ...offer, sale_price: '1e13' }), /sale_price is out of range/);
  assert.doesNotThrow(() => parseOffer(offer));
});

test('a scan cancelled while its count hangs ends cancelled, committing what it read', async () => {
  await synced();
  sandbox.fault({ kind: 'hang', count: 1, account: 'main', resource: 'product_offer', action: 'count' });
  const abort = new AbortController();
  const from = sandbox.log.length;
  const scan = executeRun(deps, account('main'), 'offers', offersStream(), { mode: 'full', trigger: 'cli', signal: abort.signal });
  // The pool reads page 1 and waits for the count to learn how far to go: cancel it there.
  await requestArrived(sandbox, from, (e) => e.resource === 'product_offer' && e.action === 'read');
  abort.abort(new Error('the daemon is stopping'));
  const r = await scan;
  sandbox.clearFaults();
  assert.equal(r.status, 'cancelled');
  assert.ok(r.counters.pages_done <= 1, `${r.counters.pages_done} pages`);
  assert.equal(r.counters.items_deleted, 0, 'an incomplete scan deletes nothing');
});

test('the COPY write path keeps every character: tabs, newlines, backslashes and quotes in text and ean', async () => {
  const base = served('main')[0];
  const odd = { ...base, id: 16_000_001, name: 'Tab\there\nnew line \\ backslash "quoted" \\N not null ăîșț', brand: '\\', ean: ['59"4', 'a\\b', 'c,d', '{e}'] };
  const staged = (record: object, text = JSON.stringify(record)) => {
    const bytes = Buffer.from(text);
    return { row: parseOffer(JSON.parse(text)), hash: bytesHash(bytes), bytes };
  };
  const copyOf = (offers: ReturnType<typeof staged>[]) => {
    const copy = new OfferCopy('copy');
    for (const o of offers) assert.ok(copy.add(o.row, o.hash, o.bytes));
    return copy;
  };
  const write = (offers: ReturnType<typeof staged>[]) => db.sql.begin((tx) => writeOffers(tx, copyOf(offers)));
  const first = staged(odd);
  assert.deepEqual(await offersToWrite(db.sql, 'copy', [{ id: first.row.id, hash: first.hash }], null), { ids: new Set([16_000_001]), allNew: true }, 'a new offer is to be written');
  // All new: one COPY straight into emag_offers.
  assert.equal(await insertNewOffers(db.sql, copyOf([first])), 1);
  const [stored] = await db.sql<{ name: string; brand: string; ean: string[]; raw: { name: string }; updated_at: Date; content_hash: string }[]>`
    select name, brand, ean, raw, updated_at, content_hash from emag_offers where account = 'copy' and id = 16000001`;
  assert.equal(stored.name, odd.name);
  assert.equal(stored.brand, '\\');
  assert.deepEqual(stored.ean, odd.ean);
  assert.deepEqual(stored.raw, JSON.parse(JSON.stringify(odd)), 'raw is the record as sent');
  assert.equal(stored.content_hash, first.hash, 'the hash is of the bytes as sent');

  assert.deepEqual(await offersToWrite(db.sql, 'copy', [{ id: 16_000_001, hash: first.hash }], null), { ids: new Set(), allNew: true }, 'the same bytes again: nothing to write');
  assert.deepEqual(await write([first]), { inserted: 0, updated: 0, unchanged: 1 }, 'the same bytes again: nothing written');
  // Inserted as "all new" when another writer has added the row meanwhile: refused and rolled back
  // (the stream then merges the page), and the connection goes back to the pool usable.
  await assert.rejects(insertNewOffers(db.sql, copyOf([first])), CopyRefused);
  const [{ open }] = await db.sql`select count(*)::int as open from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`;
  assert.equal(open, 0, 'no connection is left in a transaction');

  // The same values in other bytes (PHP escapes "/" and non-ASCII): a new hash, but no change.
  const escaped = JSON.stringify(odd).replace(/\//g, '\\/').replace(/ă/g, '\\u0103');
  assert.notEqual(escaped, JSON.stringify(odd));
  const same = staged(odd, escaped);
  assert.deepEqual(await offersToWrite(db.sql, 'copy', [{ id: 16_000_001, hash: same.hash }], null), { ids: new Set([16_000_001]), allNew: false });
  assert.deepEqual(await write([same]), { inserted: 0, updated: 0, unchanged: 1 }, 'the same values: not counted as a change');
  const [rehashed] = await db.sql`select updated_at, content_hash from emag_offers where account = 'copy' and id = 16000001`;
  assert.deepEqual(rehashed.updated_at, stored.updated_at, 'updated_at stays when no value changed');
  assert.equal(rehashed.content_hash, same.hash, 'the new hash is kept, so the next read costs a hash only');

  // A copy takes an id once (the stream passes a repeated id's last copy).
  const changed = staged({ ...odd, sale_price: '123.4500' });
  const twice = new OfferCopy('copy');
  twice.add(same.row, same.hash, same.bytes);
  assert.equal(twice.add(changed.row, changed.hash, changed.bytes), false, 'a second copy of an id is refused');
  assert.equal(twice.size, 1);
  assert.deepEqual(await write([changed]), { inserted: 0, updated: 1, unchanged: 0 });
  const [after] = await db.sql<{ sale_price: string; updated_at: Date }[]>`select sale_price, updated_at from emag_offers where account = 'copy' and id = 16000001`;
  assert.equal(Number(after.sale_price), 123.45);
  assert.ok(after.updated_at > stored.updated_at, 'updated_at moves on a change');

  // A soft-deleted offer that is served again comes back, though its record did not change.
  await db.sql`update emag_offers set deleted_at = now() where account = 'copy'`;
  assert.deepEqual(await offersToWrite(db.sql, 'copy', [{ id: 16_000_001, hash: changed.hash }], null), { ids: new Set([16_000_001]), allNew: false }, 'a deleted offer is to be written (its row is there)');
  assert.deepEqual(await write([changed]), { inserted: 0, updated: 1, unchanged: 0 });
  const [revived] = await db.sql`select deleted_at from emag_offers where account = 'copy' and id = 16000001`;
  assert.equal(revived.deleted_at, null);

  // Bytes PostgreSQL will not take as jsonb: the COPY is refused — an error, not a hung transaction
  // (postgres.js leaves such a COPY unsettled) — and the connection is usable afterwards.
  const invalid = Buffer.from('{"id":16000003,"name":tru}');
  const refused = new OfferCopy('copy');
  refused.add(parseOffer({ id: 16_000_003, name: 'x' }), bytesHash(invalid), invalid);
  await assert.rejects(insertNewOffers(db.sql, refused), CopyRefused);
  await assert.rejects(db.sql.begin((tx) => writeOffers(tx, refused)), CopyRefused);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_offers where account = 'copy' and id = 16000003`;
  assert.equal(n, 0, 'nothing of the refused page is stored');

  // Bytes that are not UTF-8 (a stray Latin-1 byte) are stored as the text they decode to.
  const utf8 = Buffer.from(JSON.stringify({ ...odd, id: 16_000_002, name: 'Café' }));
  const e = utf8.indexOf(Buffer.from('é'));
  const latin = Buffer.concat([utf8.subarray(0, e), Buffer.from([0xe9]), utf8.subarray(e + 2)]);
  const broken = { row: parseOffer(JSON.parse(latin.toString('utf8'))), hash: bytesHash(latin), bytes: latin };
  assert.deepEqual(await write([broken]), { inserted: 1, updated: 0, unchanged: 0 });
  const [decoded] = await db.sql`select name from emag_offers where account = 'copy' and id = 16000002`;
  assert.equal(decoded.name, 'Caf\ufffd');
});

test('a full scan’s end deletes only what eMAG no longer has, and forgets the ids it saw', async () => {
  await synced();
  const removed = sandbox.account('fbe').removeOffers(2);
  const r = await sync('fbe');
  assert.equal(r.counters.items_deleted, 2);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_offer_scan_seen where run_id = ${r.runId}`;
  assert.equal(n, 0, 'the scan’s seen ids are forgotten at its end');
  const mirror = await rows('fbe');
  for (const id of removed) assert.ok(mirror.get(id)?.deleted_at instanceof Date);
  // Malformed offers another test may have added are served but quarantined, never stored.
  const storable = served('fbe').filter((o) => {
    try {
      parseOffer(o);
      return true;
    } catch {
      return false;
    }
  });
  assert.equal([...mirror.values()].filter((x) => x.deleted_at === null).length, storable.length);
});

/**
 * A scan of `records` (JSON texts) as one page from an HTTP server of the test's own — pages eMAG
 * could send but the sandbox cannot — for the account `name`; `full` scans without a filter (so
 * its end may soft-delete), else a selective scan.
 */
async function craftedScan(t: TestContext, name: string, records: string[], full = false): Promise<RunResult> {
  return craftedPages(t, name, [records], full);
}

/** A run of account `name` against a server that answers page n with `pages[n - 1]`'s records. */
async function craftedPages(t: TestContext, name: string, pages: string[][], full = false, base: SyncDeps = deps): Promise<RunResult> {
  const total = pages.reduce((n, p) => n + p.length, 0);
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('/count')) {
        res.end(`{"isError":false,"messages":[],"results":{"noOfItems":"${total}","noOfPages":"${pages.length}"}}`);
        return;
      }
      const page = Number((JSON.parse(Buffer.concat(body).toString() || '{}') as { currentPage?: number }).currentPage ?? 1);
      res.end(`{"isError":false,"messages":[],"results":[${(pages[page - 1] ?? []).join(',')}]}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const crafted = { ...account('main'), name, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  const d = { ...base, budgets: new Map([[name, new AccountBudget(12, 3)]]) };
  return executeRun(d, crafted, 'offers', offersStream(full ? {} : { status: 1 }), { mode: 'full', trigger: 'cli' });
}

test('a first sync asks the mirror neither which offers it lacks nor which it no longer has; the next full sync asks both', async (t) => {
  const good = served('main')[0];
  const copy = (id: number) => JSON.stringify({ ...good, id });
  const pages = [[copy(16_000_090), copy(16_000_091)], [copy(16_000_092)]];
  // Every statement the runs send, through a client of their own.
  const statements: string[] = [];
  const logged = postgres(db.url, { max: 4, onnotice: () => {}, debug: (_connection, query) => statements.push(query) });
  t.after(() => logged.end());
  const lookups = () => statements.filter((q) => q.includes('left join lateral')).length;
  const unseen = () => statements.filter((q) => /\bexcept\b/.test(q)).length;
  const first = await craftedPages(t, 'first-path', pages, true, { ...deps, sql: logged as unknown as Sql });
  assert.equal(first.status, 'succeeded', first.error ?? '');
  assert.equal(first.counters.items_inserted, 3);
  assert.deepEqual([lookups(), unseen()], [0, 0], 'no lookup per page, no soft-delete pass');
  const second = await craftedPages(t, 'first-path', pages, true, { ...deps, sql: logged as unknown as Sql });
  assert.equal(second.status, 'succeeded', second.error ?? '');
  assert.equal(second.counters.items_unchanged, 3);
  assert.deepEqual([lookups(), unseen()], [2, 1], 'a lookup for each of the two pages, then the soft-delete pass');
});

test('a record that is not JSON among good ones is quarantined with its text; the rest of the page is stored', async (t) => {
  // Brackets balance, but one record is no JSON.
  const good = served('main')[0];
  const records = [JSON.stringify({ ...good, id: 16_000_010 }), '{"id":16000011,"name":tru}', JSON.stringify({ ...good, id: 16_000_012 })];
  const r = await craftedScan(t, 'craft', records);
  assert.equal(r.status, 'partial', r.error ?? '');
  assert.equal(r.counters.items_inserted, 2);
  assert.equal(r.counters.items_failed, 1);
  const [q] = await db.sql<{ record_key: string; reason: string; raw: unknown }[]>`select record_key, reason, raw from emag_quarantine where run_id = ${r.runId}`;
  assert.equal(q.record_key, '16000011');
  assert.match(q.reason, /record is not valid JSON/);
  assert.equal(q.raw, '{"id":16000011,"name":tru}', 'the record is kept as the text it came as');
  const stored = await db.sql`select id from emag_offers where account = 'craft' order by id`;
  assert.deepEqual(stored.map((s) => Number(s.id)), [16_000_010, 16_000_012]);
});

test('a record that is no JSON only where no column reads is set aside whole; a record refused by a column is quarantined whole', async (t) => {
  const good = served('main')[0];
  const broken = `{"id":16000041,"name":"fine","images":[{"url":tru}]}`;
  const records = [JSON.stringify({ ...good, id: 16_000_040 }), broken, JSON.stringify({ ...good, id: 16_000_042 })];
  const r = await craftedScan(t, 'refused', records);
  assert.equal(r.status, 'partial', r.error ?? '');
  assert.deepEqual([r.counters.items_inserted, r.counters.items_failed], [2, 1]);
  const [q] = await db.sql<{ record_key: string; reason: string; raw: unknown }[]>`select record_key, reason, raw from emag_quarantine where run_id = ${r.runId}`;
  assert.equal(q.record_key, '16000041');
  assert.match(q.reason, /record is not valid JSON/);
  assert.equal(q.raw, broken);
  const stored = await db.sql`select id from emag_offers where account = 'refused' order by id`;
  assert.deepEqual(stored.map((s) => Number(s.id)), [16_000_040, 16_000_042]);
  const again = await craftedScan(t, 'refused', [JSON.stringify({ ...good, id: 16_000_043, sale_price: 'n/a' })]);
  const [p] = await db.sql<{ raw: { images?: unknown } }[]>`select raw from emag_quarantine where run_id = ${again.runId}`;
  assert.deepEqual(p.raw, JSON.parse(JSON.stringify({ ...good, id: 16_000_043, sale_price: 'n/a' })));
});

test('a record JSON.parse takes but PostgreSQL refuses (\\u0000 in jsonb): the page fails with a clear error, not a hang, and nothing of it is stored', { timeout: 30_000 }, async (t) => {
  const good = served('main')[0];
  const records = [JSON.stringify({ ...good, id: 16_000_050 }), JSON.stringify({ ...good, id: 16_000_051, name: 'nul \u0000 here' })];
  const r = await craftedScan(t, 'nul', records);
  assert.equal(r.status, 'failed');
  assert.match(r.error ?? '', /PostgreSQL refused the rows of a COPY/);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_offers where account = 'nul'`;
  assert.equal(n, 0);
});

test('a page that repeats an id is written with its last copy, once', async (t) => {
  const good = served('main')[0];
  const copy = (id: number, price: number) => JSON.stringify({ ...good, id, sale_price: price });
  const r = await craftedScan(t, 'repeats', [copy(16_000_020, 10), copy(16_000_021, 20), copy(16_000_020, 30)]);
  assert.equal(r.status, 'succeeded', r.error ?? '');
  assert.deepEqual([r.counters.items_seen, r.counters.items_inserted, r.counters.items_unchanged], [3, 2, 1]);
  const stored = await db.sql<{ id: string; sale_price: string }[]>`select id, sale_price from emag_offers where account = 'repeats' order by id`;
  assert.deepEqual(stored.map((s) => [Number(s.id), Number(s.sale_price)]), [[16_000_020, 30], [16_000_021, 20]]);
});

test('a first sync (an empty mirror) whose later pages repeat offers of earlier ones: each offer once, with its last copy; nothing soft-deleted; the next run rewrites nothing', async (t) => {
  const good = served('main')[0];
  const copy = (id: number, price: number) => JSON.stringify({ ...good, id, sale_price: price });
  // Page 2 repeats 16000061 unchanged and 16000062 with a new price (offset paging after a change);
  // page 3 repeats 16000060 with a new price.
  const pages = [[copy(16_000_060, 10), copy(16_000_061, 11), copy(16_000_062, 12)], [copy(16_000_061, 11), copy(16_000_062, 22), copy(16_000_063, 13)], [copy(16_000_060, 20)]];
  const first = await craftedPages(t, 'first-sync', pages, true);
  assert.equal(first.status, 'succeeded', first.error ?? '');
  assert.deepEqual([first.counters.items_seen, first.counters.items_inserted, first.counters.items_deleted], [7, 4, 0]);
  assert.equal(first.counters.items_inserted + first.counters.items_updated + first.counters.items_unchanged, 7);
  const stored = await db.sql<{ id: string; sale_price: string; deleted_at: Date | null }[]>`select id, sale_price, deleted_at from emag_offers where account = 'first-sync' order by id`;
  assert.deepEqual(stored.map((s) => [Number(s.id), Number(s.sale_price), s.deleted_at]), [[16_000_060, 20, null], [16_000_061, 11, null], [16_000_062, 22, null], [16_000_063, 13, null]]);
  const again = await craftedPages(t, 'first-sync', [[copy(16_000_060, 20), copy(16_000_061, 11)], [copy(16_000_062, 22), copy(16_000_063, 13)]], true);
  assert.equal(again.status, 'succeeded', again.error ?? '');
  assert.deepEqual([again.counters.items_inserted, again.counters.items_updated, again.counters.items_unchanged, again.counters.items_deleted], [0, 0, 4, 0]);
});

test('a page’s lookup reads at most one stored row per record, also for an account the planner’s statistics do not know yet', async (t) => {
  const row = (account: string, from: number, to: number) => db.sql`
    insert into emag_offers (account, id, raw, content_hash)
    select ${account}, g, jsonb_build_object('id', g), 'h' || g from generate_series(${from}::int, ${to}::int) g`;
  await row('stats-known', 1, 3000);
  await db.sql`analyze emag_offers`;
  // Added after the statistics were taken: the planner guesses one row for this account.
  await row('stats-new', 1, 2000);
  // Each plan, with the rows each node read, comes back as a NOTICE (auto_explain, as superuser).
  const notices: string[] = [];
  const one = postgres(db.url, { max: 1, onnotice: (n) => notices.push(String(n.message)) });
  t.after(() => one.end());
  await one`load 'auto_explain'`;
  await one`select set_config('auto_explain.log_min_duration', '0', false), set_config('auto_explain.log_analyze', 'on', false),
    set_config('auto_explain.log_level', 'notice', false), set_config('auto_explain.log_format', 'json', false), set_config('client_min_messages', 'notice', false)`;
  notices.length = 0;
  const page = Array.from({ length: 100 }, (_, i) => ({ id: 1001 + i, hash: i % 2 === 0 ? `h${1001 + i}` : 'changed' }));
  const write = await offersToWrite(one as unknown as Sql, 'stats-new', page, null);
  assert.equal(write.ids.size, 50, 'the records with another hash are to be written');
  const plans = notices.filter((n) => n.includes('"Plan"')).map((n) => JSON.parse(n.slice(n.indexOf('{'))) as { Plan: PlanNode });
  assert.equal(plans.length, 1, notices.join('\n'));
  // Every node that reads emag_offers: rows it returned × times it ran.
  const read = (n: PlanNode): number => (n['Relation Name'] === 'emag_offers' ? n['Actual Rows'] * n['Actual Loops'] : 0) + (n.Plans ?? []).reduce((s, c) => s + read(c), 0);
  assert.ok(read(plans[0].Plan) <= page.length, `the lookup read ${read(plans[0].Plan)} stored rows for a page of ${page.length}`);
});

test('pages of new offers stored while every COPY is in flight go in together; a repeat among them refuses that COPY’s pages, and stores nothing of them', async () => {
  const good = served('main')[0];
  const page = (ids: number[]) => {
    const copy = new OfferCopy('batched');
    for (const id of ids) {
      const bytes = Buffer.from(JSON.stringify({ ...good, id }));
      assert.ok(copy.add(parseOffer(JSON.parse(bytes.toString())), bytesHash(bytes), bytes));
    }
    return copy;
  };
  const inserts = new NewOfferInserts(db.sql);
  const stored = async (from: number) =>
    db.sql<{ id: string; xmin: string }[]>`select id, xmin::text from emag_offers where account = 'batched' and id >= ${from} and id < ${from + 1000} order by id`;
  const ids = (base: number, p: number) => [base + 10 * p, base + 10 * p + 1];

  // Eight pages at once: the first ones take the writers, the rest wait and go in one COPY.
  const all = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((p) => inserts.insert(page(ids(16_100_000, p)))));
  assert.deepEqual(all, [2, 2, 2, 2, 2, 2, 2, 2]);
  const rows = await stored(16_100_000);
  assert.equal(rows.length, 16);
  const transactions = new Set(rows.map((r) => r.xmin)).size;
  assert.ok(transactions < 8, `8 pages in ${transactions} transactions`);

  // Again, but the last two pages share an id: the COPY they are in is refused, for each of its pages.
  const pages = [0, 1, 2, 3, 4, 5, 6].map((p) => page(ids(16_200_000, p)));
  pages.push(page([16_200_061, 16_200_075]));
  const results = await Promise.allSettled(pages.map((p) => inserts.insert(p)));
  const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
  assert.ok(refused.includes(6) && refused.includes(7), `the two pages with one id between them are refused (${refused})`);
  for (const i of refused) assert.ok((results[i] as PromiseRejectedResult).reason instanceof CopyRefused);
  const ok = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  assert.ok(ok.length > 0, 'the pages that went before them are stored');
  assert.deepEqual((await stored(16_200_000)).map((r) => Number(r.id)), ok.flatMap((i) => ids(16_200_000, i)), 'nothing of a refused COPY is stored');
  const [{ open }] = await db.sql`select count(*)::int as open from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`;
  assert.equal(open, 0, 'no connection is left in a transaction');
});

test('a full scan that quarantines a stored offer does not soft-delete it', async (t) => {
  const good = served('main')[0];
  const ok = JSON.stringify({ ...good, id: 16_000_031 });
  const first = await craftedScan(t, 'kept', [JSON.stringify({ ...good, id: 16_000_030 }), ok], true);
  assert.equal(first.counters.items_inserted, 2, first.error ?? '');
  // The same offer, now with a price the mirror cannot take: set aside, but eMAG still has it.
  const second = await craftedScan(t, 'kept', [JSON.stringify({ ...good, id: 16_000_030, sale_price: 'n/a' }), ok], true);
  assert.equal(second.status, 'partial', second.error ?? '');
  assert.equal(second.counters.items_failed, 1);
  assert.equal(second.counters.items_deleted, 0, 'a quarantined offer was seen');
  const live = await db.sql`select id from emag_offers where account = 'kept' and deleted_at is null order by id`;
  assert.deepEqual(live.map((s) => Number(s.id)), [16_000_030, 16_000_031]);
});

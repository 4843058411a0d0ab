/**
 * The SQL that owns `emag_offers`: page upserts that write only what changed, and the soft-delete
 * that follows a completed full scan.
 */
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { OfferRow } from '../emag/offer-record.ts';
import type { Db, Sql, Tx } from './connect.ts';
import { BinaryCopy, copyStream } from './copy-binary.ts';

/** What one page's upsert did. */
export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * A hash of a parsed record (orders, returns). eMAG sends a resource's fields in a fixed order, so
 * the serialised text is stable; a reordering would only cost one needless rewrite.
 */
export function contentHash(raw: unknown): string {
  return bytesHash(JSON.stringify(raw) ?? 'null');
}

/** SHA-1 in one native call (no Hash object per record), base64url: of a record's bytes as eMAG sent them. */
export function bytesHash(bytes: Buffer | string): string {
  return hash('sha1', bytes, 'base64url');
}

/** An offer of a page, known before it is parsed: its id and the hash of its bytes. */
export interface OfferHash {
  id: number;
  hash: string;
}

/** The offers of a page to write, and whether the mirror holds none of them (not even deleted). */
export interface OffersToWrite {
  ids: Set<number>;
  allNew: boolean;
}

/**
 * Which offers of a page must be written: those the mirror lacks, holds deleted, or holds with
 * another hash. One statement, which also marks the others seen when `scanRunId` (a full scan) is
 * given — the written ones are seen by their `last_seen_at`; an unchanged page costs this and
 * nothing else.
 */
export async function offersToWrite(db: Db, account: string, page: readonly OfferHash[], scanRunId: number | null): Promise<OffersToWrite> {
  if (page.length === 0) return { ids: new Set(), allNew: true };
  const ids = db.array(page.map((o) => o.id));
  const hashes = db.array(page.map((o) => o.hash));
  // The stored row is a lateral lookup per record, not a join: a join over a table that grew since
  // its last ANALYZE may be planned as a hash join scanning every row of the account, on every page.
  // `limit 1` (the key is unique) keeps the planner from pulling the subquery up into that very
  // join: it did, for an account its statistics did not know yet (100,000 rows read per page).
  const rows = await db<{ id: string; present: boolean }[]>`
    with page as materialized (
      select p.id, o.id is not null as present,
        (o.content_hash is distinct from p.content_hash or o.deleted_at is not null) as write
      from unnest(${ids}::bigint[], ${hashes}::text[]) as p (id, content_hash)
      left join lateral (select id, content_hash, deleted_at from emag_offers o where o.account = ${account} and o.id = p.id limit 1) o on true
    )
    ${scanRunId === null ? db`` : db`, seen as (insert into emag_offer_scan_seen (run_id, id) select ${scanRunId}, id from page where not write on conflict do nothing)`}
    select id, present from page where write`;
  return { ids: new Set(rows.map((r) => Number(r.id))), allNew: rows.every((r) => !r.present) };
}

/** Whether the mirror holds any offer of the account, deleted ones included. */
export async function holdsOffers(db: Db, account: string): Promise<boolean> {
  const [row] = await db<{ holds: boolean }[]>`select exists (select from emag_offers where account = ${account}) as holds`;
  return row.holds;
}

/** Marks offers seen by a full scan that were not written (records set aside in quarantine). */
export async function markSeen(db: Db, scanRunId: number, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db`insert into emag_offer_scan_seen (run_id, id) select ${scanRunId}, unnest(${db.array([...ids])}::bigint[]) on conflict do nothing`;
}

/** The offer columns in the order of each COPY row (of `emag_offers` and of the staging table alike). */
const COLUMNS = [
  'account', 'id', 'content_hash', 'part_number', 'part_number_key', 'name', 'brand', 'category_id', 'status', 'sale_price',
  'recommended_price', 'min_sale_price', 'max_sale_price', 'best_offer_sale_price', 'currency', 'stock', 'general_stock',
  'estimated_stock', 'handling_time', 'vat_id', 'offer_validation_status', 'validation_status', 'number_of_offers',
  'buy_button_rank', 'ean', 'raw',
] as const;

/** Each column's type, as in `emag_offers` (the binary COPY sends each field in its type's form). */
const TYPES: Record<(typeof COLUMNS)[number], string> = {
  account: 'text', id: 'bigint', content_hash: 'text', part_number: 'text', part_number_key: 'text', name: 'text', brand: 'text',
  category_id: 'bigint', status: 'smallint', sale_price: 'numeric(16,4)', recommended_price: 'numeric(16,4)', min_sale_price: 'numeric(16,4)',
  max_sale_price: 'numeric(16,4)', best_offer_sale_price: 'numeric(16,4)', currency: 'text', stock: 'integer', general_stock: 'integer',
  estimated_stock: 'integer', handling_time: 'integer', vat_id: 'integer', offer_validation_status: 'smallint',
  validation_status: 'smallint', number_of_offers: 'integer', buy_button_rank: 'integer', ean: 'text[]', raw: 'jsonb',
};

const COLUMN_LIST = COLUMNS.join(', ');
const STAGE_TABLE = COLUMNS.map((c) => `${c} ${TYPES[c]}`).join(', ');
/** The stored values a record sets: when none of them differs, `updated_at` stays. */
const VALUE_COLUMNS = COLUMNS.filter((c) => c !== 'account' && c !== 'id' && c !== 'content_hash');
const SET_LIST = [...VALUE_COLUMNS, 'content_hash'].map((c) => `${c} = excluded.${c}`).join(', ');
const SAME_VALUES = `(${VALUE_COLUMNS.map((c) => `o.${c}`).join(', ')}) is not distinct from (${VALUE_COLUMNS.map((c) => `excluded.${c}`).join(', ')})`;

/**
 * The offers of a page to write, as binary COPY rows, built as each record is parsed: the parsed
 * record is garbage at once (young), rather than held until the write is done. An offer's id is
 * added once: the caller passes the copy it wants kept.
 */
export class OfferCopy {
  readonly #copy = new BinaryCopy(200 * 1024);
  readonly #account: string;
  readonly #ids = new Set<number>();

  constructor(account: string) {
    this.#account = account;
  }

  /** How many offers were added. */
  get size(): number {
    return this.#ids.size;
  }

  /**
   * Adds an offer: its columns, the hash of its bytes, and those bytes (stored as `raw`; bytes that
   * are not UTF-8 as the text they decode to). Returns false, adding nothing, for an id already added.
   */
  add(o: OfferRow, hash: string, bytes: Buffer): boolean {
    if (this.#ids.has(o.id)) return false;
    this.#ids.add(o.id);
    this.#copy
      .row(COLUMNS.length)
      .text(this.#account)
      .int8(o.id)
      .text(hash)
      .text(o.part_number)
      .text(o.part_number_key)
      .text(o.name)
      .text(o.brand)
      .int8(o.category_id)
      .int2(o.status)
      .numeric(o.sale_price)
      .numeric(o.recommended_price)
      .numeric(o.min_sale_price)
      .numeric(o.max_sale_price)
      .numeric(o.best_offer_sale_price)
      .text(o.currency)
      .int4(o.stock)
      .int4(o.general_stock)
      .int4(o.estimated_stock)
      .int4(o.handling_time)
      .int4(o.vat_id)
      .int2(o.offer_validation_status)
      .int2(o.validation_status)
      .int4(o.number_of_offers)
      .int4(o.buy_button_rank)
      .textArray(o.ean)
      .jsonb(isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8')));
    return true;
  }

  /** The COPY stream's bytes. */
  bytes(): Buffer {
    return this.#copy.finish();
  }

  /** The rows alone, to be sent with other copies' in one stream (`copyStream`). */
  rows(): Buffer {
    return this.#copy.rows();
  }
}

/** PostgreSQL refused a COPY's rows: a value its column would not take, or a key it already holds. */
export class CopyRefused extends Error {
  constructor() {
    super('PostgreSQL refused the rows of a COPY (its log names the row and the reason)');
    this.name = 'CopyRefused';
  }
}

/** PostgreSQL's in_failed_sql_transaction: what a statement after a failed one in its transaction gets. */
const IN_FAILED_TRANSACTION = '25P02';

/**
 * Sends a binary COPY's bytes through a `copy … from stdin` statement of `tx`; `after` is issued right
 * after the probe (in the same write).
 *
 * postgres.js 3.4.9 never settles a COPY the server refuses after its last byte
 * (porsager/postgres#1173: the writable neither finishes nor errors, the transaction hangs). So the
 * end of the COPY is followed by a probe on the same connection, which does settle: it fails when
 * the COPY failed (the transaction is then aborted), and answers once the COPY is complete.
 */
async function copyIn(tx: Db, statement: { writable(): Promise<Writable> }, bytes: Buffer | readonly Buffer[], after?: () => Promise<unknown>): Promise<void> {
  const stream = await statement.writable();
  const finished = once(stream, 'finish');
  finished.catch(() => {});
  const parts = Buffer.isBuffer(bytes) ? [bytes] : bytes;
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) stream.write(parts[i]);
  await new Promise<void>((resolve, reject) => stream.write(parts[last], (err) => (err ? reject(err) : resolve())));
  // The data is handed to the socket: end() sends CopyDone at once, so the probe follows it.
  stream.end();
  const probe = tx`select 1`.execute();
  const next = after?.();
  next?.catch(() => {});
  try {
    await probe;
  } catch (err) {
    await next?.catch(() => {});
    if (stream.errored) throw stream.errored;
    throw (err as { code?: string }).code === IN_FAILED_TRANSACTION ? new CopyRefused() : err;
  }
  await finished;
  await next;
}

/**
 * Inserts pages of offers the mirror holds none of (not even deleted: a first scan) — one copy or
 * several, their rows in one stream — with one binary COPY straight into `emag_offers`, in a
 * transaction of its own sent in two writes — BEGIN with the COPY, then the rows with a probe and
 * COMMIT — where a merge takes six round trips. Throws CopyRefused, having rolled back, when
 * PostgreSQL refuses a row: a value it will not take, an id another writer added meanwhile, or an
 * id two of the copies share (the caller then merges each page).
 */
export async function insertNewOffers(sql: Sql, copies: OfferCopy | readonly OfferCopy[]): Promise<number> {
  const all = copies instanceof OfferCopy ? [copies] : copies;
  const size = all.reduce((n, c) => n + c.size, 0);
  if (size === 0) return 0;
  const bytes = copyStream(all.map((c) => c.rows()));
  const tx = await sql.reserve();
  let open = false;
  try {
    const begun = tx`begin`.execute();
    begun.catch(() => {});
    open = true;
    const copy = tx.unsafe(`copy emag_offers (${COLUMN_LIST}) from stdin (format binary)`);
    await begun;
    await copyIn(tx, copy, bytes, () => tx`commit`.execute());
    open = false;
    return size;
  } finally {
    // A reserved connection goes back to the pool outside any transaction.
    if (open) await tx`rollback`.execute().catch(() => {});
    tx.release();
  }
}

/**
 * Pages of new offers (a first sync), inserted by at most WRITERS COPYs at a time: a page stored
 * while all of them are in flight waits, with any others, for the next one free, and they go in
 * together — one transaction, one COPY. A refused COPY refuses each of its pages (CopyRefused:
 * each is then merged alone), as a page's own would.
 */
export class NewOfferInserts {
  readonly #sql: Sql;
  readonly #waiting: Array<{ offers: OfferCopy; done: (err?: unknown) => void }> = [];
  #writing = 0;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Inserts a page's offers; resolves with how many, once they are committed. */
  insert(offers: OfferCopy): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ offers, done: (err) => (err === undefined ? resolve(offers.size) : reject(err)) });
      if (this.#writing < WRITERS) void this.#write();
    });
  }

  async #write(): Promise<void> {
    this.#writing++;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0);
      try {
        await insertNewOffers(this.#sql, batch.map((b) => b.offers));
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err ?? new Error('the insert failed'));
      }
    }
    this.#writing--;
  }
}

/**
 * COPYs of new offers in flight at once. One per page in flight (six) kept six backends busy
 * beside the syncing process on two cores; one at a time left the scan waiting for it. Measured
 * over 100,000 offers on two cores: 20,800–21,400 offers/s with one per page, 19,100–19,400 with
 * one, 21,600–22,300 with three (PostgreSQL 28.5 → 26.5 µs/offer: fewer transactions).
 */
const WRITERS = 3;

/**
 * Writes a page's offers (those `offersToWrite` named) in the caller's transaction: one binary COPY
 * into a session-local staging table and one `insert … on conflict` merge. `updated_at` moves only
 * when a stored value changes: a new hash over the same values (eMAG escaping a character
 * differently, an older release's hash) rewrites the hash alone.
 */
export async function writeOffers(tx: Tx, offers: OfferCopy): Promise<UpsertCounts> {
  if (offers.size === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  // Emptied at every commit; created once per connection (a no-op afterwards). Sent with the COPY,
  // in one write: the COPY waits for it on the connection anyway.
  const created = tx.unsafe(`create temp table if not exists emag_offer_stage (${STAGE_TABLE}) on commit delete rows`).execute();
  // Its failure aborts the transaction, so it surfaces as the COPY's.
  created.catch(() => {});
  const copy = tx.unsafe(`copy emag_offer_stage (${COLUMN_LIST}) from stdin (format binary)`);
  await created;
  await copyIn(tx, copy, offers.bytes());
  const [row] = await tx<{ inserted: number; updated: number }[]>`
    with written as (
      insert into emag_offers as o (${tx.unsafe(COLUMN_LIST)})
      select ${tx.unsafe(COLUMN_LIST)} from emag_offer_stage
      on conflict (account, id) do update set ${tx.unsafe(SET_LIST)},
        updated_at = case when o.deleted_at is null and ${tx.unsafe(SAME_VALUES)} then o.updated_at else now() end,
        last_seen_at = now(), deleted_at = null
      where o.content_hash is distinct from excluded.content_hash or o.deleted_at is not null
      returning (xmax = 0) as inserted, updated_at = now() as changed
    )
    select (count(*) filter (where inserted))::int as inserted, (count(*) filter (where changed and not inserted))::int as updated from written`;
  return { inserted: row.inserted, updated: row.updated, unchanged: offers.size - row.inserted - row.updated };
}

/**
 * The account's live offers a full scan has not seen. An EXCEPT of two index-ordered id lists costs
 * the same whatever the statistics say; an anti-join could be planned as a nested loop over a
 * freshly filled scan table (quadratic), which only an `analyze` of that shared table — taken by
 * every account at once, each waiting for the others' — used to prevent.
 */
export async function unseenOffers(db: Db, account: string, runId: number): Promise<number[]> {
  // What the scan wrote it saw: those rows' last_seen_at is past the run's start.
  const rows = await db<{ id: string }[]>`
    (select id from emag_offers where account = ${account} and deleted_at is null
       and last_seen_at < (select started_at from emag_sync_runs where id = ${runId})
     except
     select id from emag_offer_scan_seen where run_id = ${runId})
    order by id`;
  return rows.map((r) => Number(r.id));
}

/**
 * After a completed full scan: soft-deletes `gone` (offers the scan did not see and eMAG no longer
 * knows), confirms `last_seen_at` of the others (at most once a day, so unchanged rows are not
 * rewritten every scan) and forgets the scan's seen ids. Returns how many were deleted.
 */
export async function finishFullScan(sql: Sql, account: string, runId: number, gone: number[]): Promise<number> {
  return sql.begin(async (tx) => {
    const deleted = gone.length === 0 ? [] : await tx`
      update emag_offers set deleted_at = now(), updated_at = now()
      where account = ${account} and id = any(${tx.array(gone)}::bigint[]) and deleted_at is null
      returning id`;
    // Every live offer left was seen by this scan (the unseen ones were just deleted or verified).
    await tx`
      update emag_offers set last_seen_at = now()
      where account = ${account} and deleted_at is null and last_seen_at < now() - interval '1 day'`;
    await tx`delete from emag_offer_scan_seen where run_id = ${runId}`;
    return deleted.length;
  });
}

/** Forgets the seen ids of a scan that did not complete. */
export async function dropScan(sql: Sql, runId: number): Promise<void> {
  await sql`delete from emag_offer_scan_seen where run_id = ${runId}`;
}

/** How the unified catalog picks an account's row for a SKU. */
export interface CatalogSettings {
  /** Disabled accounts: the catalog takes the next account's row for their SKUs. */
  disabled?: readonly string[];
  /** Hours after an account's last successful offers run at which its rows give way to the next account's. @default 26 */
  staleHours?: number;
}

/** The catalog settings a configuration implies. */
export function catalogSettings(config: { accounts: ReadonlyArray<{ name: string; enabled: boolean }>; catalogStaleHours: number }): CatalogSettings {
  return { disabled: config.accounts.filter((a) => !a.enabled).map((a) => a.name), staleHours: config.catalogStaleHours };
}

/** Writes the unified catalog's account priority (first = preferred), which accounts are disabled, and the staleness limit. */
export async function setCatalogPriority(sql: Sql, accounts: readonly string[], settings: CatalogSettings = {}): Promise<void> {
  const disabled = new Set(settings.disabled ?? []);
  const staleSeconds = Math.round((settings.staleHours ?? 26) * 3600);
  await sql.begin(async (tx) => {
    // Daemons starting together would otherwise collide on the primary key.
    await tx`select pg_advisory_xact_lock(hashtext('emag-sync:catalog-priority'))`;
    await tx`delete from emag_account_priority`;
    if (accounts.length > 0) {
      await tx`insert into emag_account_priority (account, priority, enabled, stale_after)
        select a.account, a.ord - 1, not (a.account = any(${tx.array([...disabled])}::text[])), make_interval(secs => ${staleSeconds})
        from unnest(${tx.array([...accounts])}::text[]) with ordinality as a (account, ord)`;
    }
  });
}

/** Writes values eMAG just accepted into the mirror (the next scan confirms them and refreshes `raw`). */
export async function applyOfferChange(db: Db, account: string, id: number, fields: Record<string, number>): Promise<void> {
  const allowed = ['sale_price', 'recommended_price', 'min_sale_price', 'max_sale_price', 'status', 'handling_time', 'vat_id', 'stock'];
  const values = Object.fromEntries(Object.entries(fields).filter(([k]) => allowed.includes(k)));
  if (Object.keys(values).length === 0) return;
  // The hash is cleared so the next scan rewrites the row from eMAG's record, whatever eMAG holds then.
  await db`update emag_offers set ${db(values)}, content_hash = '', updated_at = now() where account = ${account} and id = ${id}`;
}

/** The mirror's offer values (by column) and when the row last changed, for conflict decisions. */
export async function mirrorOffers(db: Db, account: string, ids: number[]): Promise<Map<number, { values: Record<string, unknown>; updatedAt: Date }>> {
  const rows = await db<Array<Record<string, unknown> & { id: string; updated_at: Date }>>`
    select id, sale_price, recommended_price, min_sale_price, max_sale_price, status, stock, handling_time, vat_id, updated_at
    from emag_offers where account = ${account} and id = any(${db.array(ids)}::bigint[])`;
  return new Map(rows.map(({ id, updated_at, ...values }) => [Number(id), { values, updatedAt: updated_at }]));
}

/** The price bounds the mirror holds for a live offer (what an offer_update is checked against), or null. */
export async function mirroredPrices(db: Db, account: string, id: number): Promise<{ sale_price: number | null; min_sale_price: number | null; max_sale_price: number | null } | null> {
  const [row] = await db<{ sale_price: string | null; min_sale_price: string | null; max_sale_price: string | null }[]>`
    select sale_price, min_sale_price, max_sale_price from emag_offers where account = ${account} and id = ${id} and deleted_at is null`;
  if (!row) return null;
  const n = (v: string | null) => (v === null ? null : Number(v));
  return { sale_price: n(row.sale_price), min_sale_price: n(row.min_sale_price), max_sale_price: n(row.max_sale_price) };
}

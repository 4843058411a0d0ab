/**
 * The SQL that owns `emag_offers`: page upserts that write only what changed, and the soft-delete
 * that follows a completed full scan.
 */
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import type { OfferRow } from '../emag/offer-record.ts';
import type { Db, Sql, Tx } from './connect.ts';
import { BinaryCopy } from './copy-binary.ts';

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

/**
 * Which offers of a page must be written: those the mirror lacks, holds deleted, or holds with
 * another hash. One statement, which also marks the ids seen when `scanRunId` (a full scan) is given;
 * an unchanged page costs this and nothing else.
 */
export async function offersToWrite(db: Db, account: string, page: readonly OfferHash[], scanRunId: number | null): Promise<Set<number>> {
  if (page.length === 0) return new Set();
  const ids = db.array(page.map((o) => o.id));
  const hashes = db.array(page.map((o) => o.hash));
  // The stored hash is a subquery per record, not a join: a join over a table that grew since its
  // last ANALYZE may be planned as a hash join scanning every row of the account, on every page.
  const rows = await db<{ id: string }[]>`
    with page (id, content_hash) as materialized (select * from unnest(${ids}::bigint[], ${hashes}::text[]))
    ${scanRunId === null ? db`` : db`, seen as (insert into emag_offer_scan_seen (run_id, id) select ${scanRunId}, id from page on conflict do nothing)`}
    select p.id from page p
    where (select o.content_hash from emag_offers o where o.account = ${account} and o.id = p.id and o.deleted_at is null) is distinct from p.content_hash`;
  return new Set(rows.map((r) => Number(r.id)));
}

/** The offer columns in the order of the staging table and of each COPY row (`ord`: the row's place in its page). */
const COLUMNS = [
  'id', 'content_hash', 'part_number', 'part_number_key', 'name', 'brand', 'category_id', 'status', 'sale_price',
  'recommended_price', 'min_sale_price', 'max_sale_price', 'best_offer_sale_price', 'currency', 'stock', 'general_stock',
  'estimated_stock', 'handling_time', 'vat_id', 'offer_validation_status', 'validation_status', 'number_of_offers',
  'buy_button_rank', 'ean', 'raw',
] as const;

/** Each column's type: the staging table holds text, the merge casts. */
const TYPES: Record<(typeof COLUMNS)[number], string> = {
  id: 'bigint', content_hash: 'text', part_number: 'text', part_number_key: 'text', name: 'text', brand: 'text',
  category_id: 'bigint', status: 'smallint', sale_price: 'numeric', recommended_price: 'numeric', min_sale_price: 'numeric',
  max_sale_price: 'numeric', best_offer_sale_price: 'numeric', currency: 'text', stock: 'integer', general_stock: 'integer',
  estimated_stock: 'integer', handling_time: 'integer', vat_id: 'integer', offer_validation_status: 'smallint',
  validation_status: 'smallint', number_of_offers: 'integer', buy_button_rank: 'integer', ean: 'text[]', raw: 'jsonb',
};

const COLUMN_LIST = COLUMNS.join(', ');
const CAST_LIST = COLUMNS.map((c) => (TYPES[c] === 'text' ? c : `${c}::${TYPES[c]}`)).join(', ');
const STAGE_TABLE = ['ord', ...COLUMNS].map((c) => `${c} text`).join(', ');
/** The stored values a record sets: when none of them differs, `updated_at` stays. */
const VALUE_COLUMNS = COLUMNS.filter((c) => c !== 'id' && c !== 'content_hash');
const SET_LIST = [...VALUE_COLUMNS, 'content_hash'].map((c) => `${c} = excluded.${c}`).join(', ');
const SAME_VALUES = `(${VALUE_COLUMNS.map((c) => `o.${c}`).join(', ')}) is not distinct from (${VALUE_COLUMNS.map((c) => `excluded.${c}`).join(', ')})`;

/** A text[] as its array literal `{"a","b"}`. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * The offers of a page to write, as the COPY rows of the staging table, built as each record is
 * parsed: the parsed record is garbage at once (young), rather than held until the write is done.
 */
export class OfferCopy {
  readonly #copy = new BinaryCopy(200 * 1024);
  #count = 0;

  /** How many offers were added. */
  get size(): number {
    return this.#count;
  }

  /** Adds an offer: its columns, the hash of its bytes, and those bytes (stored as `raw`; bytes that are not UTF-8 as the text they decode to). */
  add(o: OfferRow, hash: string, bytes: Buffer): void {
    this.#copy.row([
      this.#count++, o.id, hash, o.part_number, o.part_number_key, o.name, o.brand, o.category_id, o.status, o.sale_price,
      o.recommended_price, o.min_sale_price, o.max_sale_price, o.best_offer_sale_price, o.currency, o.stock, o.general_stock,
      o.estimated_stock, o.handling_time, o.vat_id, o.offer_validation_status, o.validation_status, o.number_of_offers,
      o.buy_button_rank, arrayLiteral(o.ean), isUtf8(bytes) ? bytes : bytes.toString('utf8'),
    ]);
  }

  /** The COPY stream's bytes. */
  bytes(): Buffer {
    return this.#copy.finish();
  }
}

/**
 * Writes a page's offers (those `offersToWrite` named) in the caller's transaction: one binary COPY
 * into a session-local staging table and one `insert … on conflict` merge, whatever the page size.
 * A page that repeats an id is written with its last copy. `updated_at` moves only when a stored
 * value changes: a new hash over the same values (eMAG escaping a character differently, an older
 * release's hash) rewrites the hash alone.
 */
export async function writeOffers(tx: Tx, account: string, offers: OfferCopy): Promise<UpsertCounts> {
  if (offers.size === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  // Emptied at every commit; created once per connection (a no-op afterwards). Sent with the COPY,
  // in one write: the COPY waits for it on the connection anyway.
  const created = tx`create temp table if not exists emag_offer_stage (${tx.unsafe(STAGE_TABLE)}) on commit delete rows`.execute();
  // Its failure aborts the transaction, so it surfaces as the COPY's.
  created.catch(() => {});
  const stream = await tx`copy emag_offer_stage (ord, ${tx.unsafe(COLUMN_LIST)}) from stdin (format binary)`.writable();
  await created;
  await new Promise<void>((resolve, reject) => {
    stream.once('error', reject);
    stream.once('finish', resolve);
    stream.end(offers.bytes());
  });
  // ON CONFLICT cannot touch a row twice: of a repeated id, the last copy (highest ord) is written.
  const [row] = await tx<{ inserted: number; updated: number; written: number }[]>`
    with written as (
      insert into emag_offers as o (account, ${tx.unsafe(COLUMN_LIST)})
      select distinct on (id::bigint) ${account}, ${tx.unsafe(CAST_LIST)} from emag_offer_stage order by id::bigint, ord::integer desc
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
  const rows = await db<{ id: string }[]>`
    (select id from emag_offers where account = ${account} and deleted_at is null
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

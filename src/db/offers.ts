/**
 * The SQL that owns `emag_offers`: page upserts that write only what changed, and the soft-delete
 * that follows a completed full scan.
 */
import { hash } from 'node:crypto';
import type { OfferRow } from '../emag/offer-record.ts';
import type { Db, Sql, Tx } from './connect.ts';
import { copyNumber, copyText, copyTextArray } from './copy-text.ts';

/** What one page's upsert did. */
export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * A hash of the record as eMAG sent it. eMAG sends a resource's fields in a fixed order, so the
 * serialised text is stable; a reordering would only cost one needless rewrite.
 */
export function contentHash(raw: unknown): string {
  return hashText(JSON.stringify(raw) ?? 'null');
}

/** SHA-1 in one native call (no Hash object per record); base64url as stored since the first release. */
function hashText(text: string): string {
  return hash('sha1', text, 'base64url');
}

/** The offer columns in the order of the staging table and of each COPY line. */
const STAGE_COLUMNS = `id, content_hash, part_number, part_number_key, name, brand, category_id, status, sale_price,
  recommended_price, min_sale_price, max_sale_price, best_offer_sale_price, currency, stock, general_stock,
  estimated_stock, handling_time, vat_id, offer_validation_status, validation_status, number_of_offers,
  buy_button_rank, ean, raw`;

/** One offer as a COPY line of the staging table; `rawText` is the record's JSON, serialised once. */
function stageLine(o: OfferRow, hash: string, rawText: string): string {
  return [
    o.id,
    hash,
    copyText(o.part_number),
    copyText(o.part_number_key),
    copyText(o.name),
    copyText(o.brand),
    copyNumber(o.category_id),
    copyNumber(o.status),
    copyNumber(o.sale_price),
    copyNumber(o.recommended_price),
    copyNumber(o.min_sale_price),
    copyNumber(o.max_sale_price),
    copyNumber(o.best_offer_sale_price),
    copyText(o.currency),
    copyNumber(o.stock),
    copyNumber(o.general_stock),
    copyNumber(o.estimated_stock),
    copyNumber(o.handling_time),
    copyNumber(o.vat_id),
    copyNumber(o.offer_validation_status),
    copyNumber(o.validation_status),
    copyNumber(o.number_of_offers),
    copyNumber(o.buy_button_rank),
    copyTextArray(o.ean),
    copyText(rawText),
  ].join('\t');
}

/**
 * Upserts one page of offers for an account, in the caller's transaction. Rows whose content hash is
 * unchanged are not touched at all. When `scanRunId` is given, the ids are remembered for the
 * soft-delete at the end of that full scan.
 *
 * Three statements whatever the page size: the stored hashes are read (and the ids marked seen) in
 * one; only the records that changed are then sent, as one COPY into a session-local staging table,
 * and merged by one `insert … on conflict`. An unchanged page therefore sends no record at all.
 */
export async function upsertOffers(tx: Tx, account: string, offers: OfferRow[], scanRunId: number | null): Promise<UpsertCounts> {
  if (offers.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  // A page may repeat an id; the last copy wins (ON CONFLICT cannot touch a row twice).
  const byId = new Map(offers.map((o) => [o.id, o]));
  const ids = tx.array([...byId.keys()]);
  const stored = await tx<{ id: string; content_hash: string; deleted: boolean }[]>`
    ${scanRunId === null ? tx`` : tx`with seen as (insert into emag_offer_scan_seen (run_id, id) select ${scanRunId}, unnest(${ids}::bigint[]) on conflict do nothing)`}
    select id, content_hash, deleted_at is not null as deleted from emag_offers
    where account = ${account} and id = any(${ids}::bigint[])`;
  const known = new Map(stored.map((r) => [Number(r.id), r]));
  const lines: string[] = [];
  for (const o of byId.values()) {
    const rawText = JSON.stringify(o.raw);
    const h = hashText(rawText);
    const k = known.get(o.id);
    if (k && !k.deleted && k.content_hash === h) continue;
    lines.push(stageLine(o, h, rawText));
  }
  if (lines.length === 0) return { inserted: 0, updated: 0, unchanged: offers.length };

  // Emptied at every commit; created once per connection (a no-op afterwards). Sent with the COPY,
  // in one write: the COPY waits for it on the connection anyway.
  const created = tx`
    create temp table if not exists emag_offer_stage (
      id bigint, content_hash text, part_number text, part_number_key text, name text, brand text,
      category_id bigint, status smallint, sale_price numeric, recommended_price numeric, min_sale_price numeric,
      max_sale_price numeric, best_offer_sale_price numeric, currency text, stock integer, general_stock integer,
      estimated_stock integer, handling_time integer, vat_id integer, offer_validation_status smallint,
      validation_status smallint, number_of_offers integer, buy_button_rank integer, ean text[], raw text
    ) on commit delete rows`.execute();
  // Its failure aborts the transaction, so it surfaces as the COPY's.
  created.catch(() => {});
  const copy = await tx`copy emag_offer_stage (${tx.unsafe(STAGE_COLUMNS)}) from stdin`.writable();
  await created;
  await new Promise<void>((resolve, reject) => {
    copy.once('error', reject);
    copy.once('finish', resolve);
    copy.end(`${lines.join('\n')}\n`);
  });
  const [row] = await tx<{ inserted: number; updated: number }[]>`
    with written as (
      insert into emag_offers as o (account, ${tx.unsafe(STAGE_COLUMNS)})
      select ${account}, ${tx.unsafe(STAGE_COLUMNS.replace(/\braw$/, 'raw::jsonb'))} from emag_offer_stage
      on conflict (account, id) do update set
        part_number = excluded.part_number, part_number_key = excluded.part_number_key, name = excluded.name,
        brand = excluded.brand, category_id = excluded.category_id, status = excluded.status,
        sale_price = excluded.sale_price, recommended_price = excluded.recommended_price,
        min_sale_price = excluded.min_sale_price, max_sale_price = excluded.max_sale_price,
        best_offer_sale_price = excluded.best_offer_sale_price, currency = excluded.currency,
        stock = excluded.stock, general_stock = excluded.general_stock, estimated_stock = excluded.estimated_stock,
        handling_time = excluded.handling_time, vat_id = excluded.vat_id,
        offer_validation_status = excluded.offer_validation_status, validation_status = excluded.validation_status,
        number_of_offers = excluded.number_of_offers, buy_button_rank = excluded.buy_button_rank,
        ean = excluded.ean, raw = excluded.raw, content_hash = excluded.content_hash,
        updated_at = now(), last_seen_at = now(), deleted_at = null
      where o.content_hash is distinct from excluded.content_hash or o.deleted_at is not null
      returning (xmax = 0) as inserted
    )
    select (count(*) filter (where inserted))::int as inserted, (count(*) filter (where not inserted))::int as updated from written`;
  return { inserted: row.inserted, updated: row.updated, unchanged: offers.length - row.inserted - row.updated };
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

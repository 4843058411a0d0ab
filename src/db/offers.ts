/**
 * The SQL that owns `emag_offers`: page upserts that write only what changed, and the soft-delete
 * that follows a completed full scan.
 */
import { createHash } from 'node:crypto';
import type { OfferRow } from '../emag/offer-record.ts';
import type { Db, Sql } from './connect.ts';

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

function hashText(text: string): string {
  return createHash('sha1').update(text).digest('base64url');
}

/**
 * Upserts one page of offers for an account, in the caller's transaction. Rows whose content hash is
 * unchanged are not touched at all. When `scanRunId` is given, the ids are remembered for the
 * soft-delete at the end of that full scan.
 */
export async function upsertOffers(tx: Db, account: string, offers: OfferRow[], scanRunId: number | null): Promise<UpsertCounts> {
  if (offers.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  // A page may repeat an id; the last copy wins (ON CONFLICT cannot touch a row twice).
  const byId = new Map(offers.map((o) => [o.id, o]));
  const ids = [...byId.keys()];
  if (scanRunId !== null) await markSeen(tx, scanRunId, ids);
  // Compare hashes first and send only what changed: an unchanged page costs one small query.
  const stored = await tx<{ id: string; content_hash: string; deleted: boolean }[]>`
    select id, content_hash, deleted_at is not null as deleted from emag_offers
    where account = ${account} and id = any(${tx.array(ids)}::bigint[])`;
  const known = new Map(stored.map((r) => [Number(r.id), r]));
  // The JSON sent is built by hand so each record is serialised once, for the hash and the row alike.
  const input: string[] = [];
  for (const o of byId.values()) {
    const rawText = JSON.stringify(o.raw);
    const hash = hashText(rawText);
    const k = known.get(o.id);
    if (k && !k.deleted && k.content_hash === hash) continue;
    const { raw: _raw, ...columns } = o;
    input.push(`${JSON.stringify({ ...columns, content_hash: hash }).slice(0, -1)},"raw":${rawText}}`);
  }
  if (input.length === 0) return { inserted: 0, updated: 0, unchanged: offers.length };
  const [row] = await tx<{ inserted: string; updated: string }[]>`
    with input as (
      select * from jsonb_to_recordset(${`[${input.join(",")}]`}::text::jsonb) as x(
        id bigint, part_number text, part_number_key text, name text, brand text, category_id bigint,
        status smallint, sale_price numeric, recommended_price numeric, min_sale_price numeric,
        max_sale_price numeric, best_offer_sale_price numeric, currency text, stock integer,
        general_stock integer, estimated_stock integer, handling_time integer, vat_id integer,
        offer_validation_status smallint, validation_status smallint, number_of_offers integer,
        buy_button_rank integer, ean jsonb, raw jsonb, content_hash text)
    ), written as (
      insert into emag_offers as o (
        account, id, part_number, part_number_key, name, brand, category_id, status, sale_price,
        recommended_price, min_sale_price, max_sale_price, best_offer_sale_price, currency, stock,
        general_stock, estimated_stock, handling_time, vat_id, offer_validation_status, validation_status,
        number_of_offers, buy_button_rank, ean, raw, content_hash)
      select ${account}, id, part_number, part_number_key, name, brand, category_id, status, sale_price,
        recommended_price, min_sale_price, max_sale_price, best_offer_sale_price, currency, stock,
        general_stock, estimated_stock, handling_time, vat_id, offer_validation_status, validation_status,
        number_of_offers, buy_button_rank, array(select jsonb_array_elements_text(coalesce(ean, '[]'))), raw, content_hash
      from input
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
    select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated from written`;
  const inserted = Number(row.inserted);
  const updated = Number(row.updated);
  return { inserted, updated, unchanged: offers.length - inserted - updated };
}

/**
 * After a completed full scan: soft-deletes the account's offers the scan did not see, and confirms
 * `last_seen_at` of the others (at most once a day, so unchanged rows are not rewritten every scan).
 * Returns how many were deleted.
 */
export async function finishFullScan(sql: Sql, account: string, runId: number): Promise<number> {
  return sql.begin(async (tx) => {
    // Fresh statistics: planned on a near-empty table's stats, this anti-join goes quadratic.
    await tx`analyze emag_offer_scan_seen`;
    const deleted = await tx`
      update emag_offers o set deleted_at = now(), updated_at = now()
      where o.account = ${account} and o.deleted_at is null
        and not exists (select 1 from emag_offer_scan_seen s where s.run_id = ${runId} and s.id = o.id)
      returning id`;
    await tx`
      update emag_offers o set last_seen_at = now()
      where o.account = ${account} and o.deleted_at is null and o.last_seen_at < now() - interval '1 day'
        and exists (select 1 from emag_offer_scan_seen s where s.run_id = ${runId} and s.id = o.id)`;
    await tx`delete from emag_offer_scan_seen where run_id = ${runId}`;
    return deleted.length;
  });
}

/** The account's live offers a full scan has not seen (so far). */
export async function unseenOffers(db: Db, account: string, runId: number): Promise<number[]> {
  await db`analyze emag_offer_scan_seen`;
  const rows = await db<{ id: string }[]>`
    select o.id from emag_offers o
    where o.account = ${account} and o.deleted_at is null
      and not exists (select 1 from emag_offer_scan_seen s where s.run_id = ${runId} and s.id = o.id)
    order by o.id`;
  return rows.map((r) => Number(r.id));
}

/** Records offers as seen by a full scan. */
export async function markSeen(db: Db, runId: number, ids: number[]): Promise<void> {
  await db`insert into emag_offer_scan_seen (run_id, id) select ${runId}, unnest(${db.array(ids)}::bigint[]) on conflict do nothing`;
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

/**
 * The SQL that owns `emag_rmas`: page upserts that write only what changed, and the returns that
 * are not final yet. (The stream's date cursor lives in `emag_checkpoints`, see checkpoints.ts.)
 */
import type { RmaRow } from '../emag/rma-record.ts';
import type { Db, Sql } from './connect.ts';
import { contentHash, type UpsertCounts } from './offers.ts';

/** Statuses a return never leaves: 4 refused, 5 canceled, 7 finalized. */
export const FINAL_RMA_STATUSES: readonly number[] = [4, 5, 7];

/** A return that is not final yet: the stream re-reads it until it is. */
export interface OpenRma {
  emag_id: number;
  /** Epoch ms, or null when eMAG sent no date. */
  date: number | null;
}

/**
 * Upserts returns of one account in the caller's transaction. Rows whose content hash is unchanged
 * are not touched; `final_at` is set the first time a return is seen in a final status. A return's
 * `modified` is its latest status change (status history, else its date); a read older than the
 * stored one is not applied (`stale`), so a slow read cannot put back an old status.
 */
export async function upsertRmas(tx: Db, account: string, rmas: RmaRow[]): Promise<UpsertCounts & { stale: number }> {
  if (rmas.length === 0) return { inserted: 0, updated: 0, unchanged: 0, stale: 0 };
  // A page may repeat an id; the last copy wins (ON CONFLICT cannot touch a row twice).
  const byId = new Map(rmas.map((r) => [r.emag_id, r]));
  const input = [...byId.values()].map((r) => ({ ...r, content_hash: contentHash(r.raw) }));
  const [row] = await tx<{ inserted: string; updated: string; stale: string }[]>`
    with raw_input as (
      select * from jsonb_to_recordset(${tx.json(input as never)}::jsonb) as x(
        emag_id bigint, order_id bigint, type smallint, request_status smallint, return_type smallint,
        return_reason integer, date timestamptz, products jsonb, customer_name text, awbs jsonb,
        status_history jsonb, raw jsonb, content_hash text)
    ), input as (
      select i.*, coalesce((
        select max((h->>'date')::timestamp at time zone 'Europe/Bucharest')
        from jsonb_array_elements(case when jsonb_typeof(i.status_history) = 'array' then i.status_history else '[]' end) h
        where h->>'date' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'), i.date) as modified
      from raw_input i
    ), stale as (
      select count(*) as n from input i join emag_rmas r on r.account = ${account} and r.emag_id = i.emag_id
      where i.modified < r.modified
    ), written as (
      insert into emag_rmas as r (
        account, emag_id, order_id, type, request_status, return_type, return_reason, date, products,
        customer_name, awbs, status_history, raw, content_hash, final_at, modified)
      select ${account}, emag_id, order_id, type, request_status, return_type, return_reason, date,
        coalesce(products, '[]'), customer_name, coalesce(awbs, '[]'), coalesce(status_history, '[]'),
        raw, content_hash, case when request_status in (4, 5, 7) then now() end, modified
      from input
      on conflict (account, emag_id) do update set
        order_id = excluded.order_id, type = excluded.type, request_status = excluded.request_status,
        return_type = excluded.return_type, return_reason = excluded.return_reason, date = excluded.date,
        products = excluded.products, customer_name = excluded.customer_name, awbs = excluded.awbs,
        status_history = excluded.status_history, raw = excluded.raw, content_hash = excluded.content_hash,
        modified = excluded.modified, updated_at = now(),
        final_at = case when excluded.request_status in (4, 5, 7) then coalesce(r.final_at, now()) end
      where r.content_hash is distinct from excluded.content_hash
        and (r.modified is null or excluded.modified is null or excluded.modified >= r.modified)
      returning (xmax = 0) as inserted
    )
    select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated,
      (select n from stale) as stale from written`;
  const inserted = Number(row.inserted);
  const updated = Number(row.updated);
  const stale = Number(row.stale);
  return { inserted, updated, unchanged: rmas.length - inserted - updated - stale, stale };
}

/** The account's returns that are not final, oldest first (undated ones first). */
export async function openRmas(sql: Sql, account: string): Promise<OpenRma[]> {
  const rows = await sql<{ emag_id: string; date: Date | null }[]>`
    select emag_id, date from emag_rmas
    where account = ${account} and (request_status is null or request_status not in (4, 5, 7))
    order by date nulls first, emag_id`;
  return rows.map((r) => ({ emag_id: Number(r.emag_id), date: r.date ? r.date.getTime() : null }));
}

/** The dates (epoch ms, ascending) of every mirrored return of the account within `[from, to]`. */
export async function rmaDates(sql: Sql, account: string, from: number, to: number): Promise<number[]> {
  const rows = await sql<{ ms: string }[]>`
    select (extract(epoch from date) * 1000)::bigint::text as ms from emag_rmas
    where account = ${account} and date between ${new Date(from)} and ${new Date(to)}
    order by date`;
  return rows.map((r) => Number(r.ms));
}

/** The request status the mirror holds for a return (what an rma_status command is checked against), or null. */
export async function mirroredRmaStatus(db: Db, account: string, emagId: number): Promise<{ request_status: number | null } | null> {
  const [row] = await db<{ request_status: number | null }[]>`select request_status from emag_rmas where account = ${account} and emag_id = ${emagId}`;
  return row ?? null;
}

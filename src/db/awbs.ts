/**
 * The SQL that owns `emag_awbs`: AWBs issued through the API, with their latest delivery status,
 * and the ones still on their way (re-read until delivered or returned).
 */
import type { AwbRow } from '../emag/awb-record.ts';
import type { Db } from './connect.ts';

export type { AwbRow };

/** Delivery status codes after which an AWB is not read again: delivered, returned, cancelled. */
export const FINAL_AWB_STATUSES: readonly string[] = ['DLV', 'RTN', 'CNL'];

/**
 * Inserts or updates AWBs of an account. What the issuing command knew (parcels, weight, COD, the
 * command) is kept when a later read does not carry it; a final status stamps `final_at` once.
 */
export async function upsertAwbs(db: Db, account: string, awbs: AwbRow[]): Promise<void> {
  if (awbs.length === 0) return;
  const input = awbs.map((a) => ({ parcels: null, envelopes: null, weight: null, cod: null, command_id: null, ...a }));
  await db`
    insert into emag_awbs as a (account, emag_id, order_id, rma_id, reservation_id, awb_number, awb_barcode,
      courier_account_id, courier_name, status_code, status_name, parcels, envelopes, weight, cod, command_id, raw,
      final_at, checked_at)
    select ${account}, emag_id, order_id, rma_id, reservation_id, awb_number, awb_barcode, courier_account_id,
      courier_name, status_code, status_name, parcels, envelopes, weight, cod, command_id, raw,
      case when status_code = any(${db.array([...FINAL_AWB_STATUSES])}::text[]) then now() end, now()
    from jsonb_to_recordset(${db.json(input as never)}::jsonb) as x(emag_id bigint, order_id bigint, rma_id bigint,
      reservation_id bigint, awb_number text, awb_barcode text, courier_account_id bigint, courier_name text,
      status_code text, status_name text, parcels integer, envelopes integer, weight numeric, cod numeric,
      command_id bigint, raw jsonb)
    on conflict (account, emag_id) do update set
      order_id = coalesce(excluded.order_id, a.order_id), rma_id = coalesce(excluded.rma_id, a.rma_id),
      reservation_id = coalesce(excluded.reservation_id, a.reservation_id),
      awb_number = coalesce(excluded.awb_number, a.awb_number), awb_barcode = coalesce(excluded.awb_barcode, a.awb_barcode),
      courier_account_id = coalesce(excluded.courier_account_id, a.courier_account_id),
      courier_name = coalesce(excluded.courier_name, a.courier_name),
      status_code = coalesce(excluded.status_code, a.status_code), status_name = coalesce(excluded.status_name, a.status_name),
      parcels = coalesce(excluded.parcels, a.parcels), envelopes = coalesce(excluded.envelopes, a.envelopes),
      weight = coalesce(excluded.weight, a.weight), cod = coalesce(excluded.cod, a.cod),
      command_id = coalesce(a.command_id, excluded.command_id), raw = coalesce(excluded.raw, a.raw),
      final_at = coalesce(a.final_at, excluded.final_at), checked_at = now(), updated_at = now()`;
}

/** The AWBs of an order, oldest first. */
export async function awbsOfOrder(db: Db, account: string, orderId: number): Promise<Array<{ emag_id: number; awb_number: string | null; command_id: number | null }>> {
  const rows = await db<{ emag_id: string; awb_number: string | null; command_id: string | null }[]>`
    select emag_id, awb_number, command_id from emag_awbs where account = ${account} and order_id = ${orderId} and rma_id is null
    order by created_at, emag_id`;
  return rows.map((r) => ({ emag_id: Number(r.emag_id), awb_number: r.awb_number, command_id: r.command_id === null ? null : Number(r.command_id) }));
}

/** The order an AWB belongs to, when the mirror knows the AWB. */
export async function orderOfAwb(db: Db, account: string, emagId: number): Promise<number | null> {
  const [row] = await db<{ order_id: string | null }[]>`select order_id from emag_awbs where account = ${account} and emag_id = ${emagId}`;
  return row?.order_id == null ? null : Number(row.order_id);
}

/** AWBs not final yet whose status was last read before `before`, least recently read first. */
export async function awbsToRecheck(db: Db, account: string, before: Date, limit: number): Promise<number[]> {
  const rows = await db<{ emag_id: string }[]>`
    select emag_id from emag_awbs
    where account = ${account} and final_at is null and (checked_at is null or checked_at < ${before})
    order by checked_at nulls first, emag_id limit ${limit}`;
  return rows.map((r) => Number(r.emag_id));
}

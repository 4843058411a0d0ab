/**
 * The SQL that owns `emag_orders` and `emag_order_lines`: upserts that write only changed orders,
 * replacing a changed order's lines in the same transaction (lines eMAG removed disappear).
 */
import type { OrderRow } from '../emag/order-record.ts';
import type { Db, Sql } from './connect.ts';
import { contentHash, type UpsertCounts } from './offers.ts';

/**
 * Upserts parsed orders of an account (in the caller's transaction). An order whose `modified` is
 * older than the stored one is not applied (`stale`): a slow read must not put back an old status.
 */
export async function upsertOrders(tx: Db, account: string, orders: OrderRow[]): Promise<UpsertCounts & { stale: number }> {
  if (orders.length === 0) return { inserted: 0, updated: 0, unchanged: 0, stale: 0 };
  const byId = new Map(orders.map((o) => [o.id, o]));
  const input = [...byId.values()].map(({ lines: _lines, ...o }) => ({ ...o, content_hash: contentHash(o.raw) }));
  const written = await tx<{ id: string; inserted: boolean }[]>`
    with input as (
      select * from jsonb_to_recordset(${tx.json(input as never)}::jsonb) as x(
        id bigint, status smallint, type smallint, is_complete smallint, payment_mode_id smallint,
        payment_mode text, payment_status smallint, delivery_mode text, date timestamptz, modified timestamptz,
        shipping_tax numeric, shipping_tax_voucher_split jsonb, vouchers jsonb, customer jsonb, customer_id bigint,
        reason_cancellation smallint, cashed_co numeric, cashed_cod numeric, is_storno boolean, raw jsonb, content_hash text)
    )
    insert into emag_orders as o (
      account, id, status, type, is_complete, payment_mode_id, payment_mode, payment_status, delivery_mode, date,
      modified, shipping_tax, shipping_tax_voucher_split, vouchers, customer, customer_id, reason_cancellation,
      cashed_co, cashed_cod, is_storno, raw, content_hash)
    select ${account}, id, status, type, is_complete, payment_mode_id, payment_mode, payment_status, delivery_mode, date,
      modified, shipping_tax, coalesce(shipping_tax_voucher_split, '[]'), coalesce(vouchers, '[]'), customer, customer_id,
      reason_cancellation, cashed_co, cashed_cod, coalesce(is_storno, false), raw, content_hash
    from input
    on conflict (account, id) do update set
      status = excluded.status, type = excluded.type, is_complete = excluded.is_complete,
      payment_mode_id = excluded.payment_mode_id, payment_mode = excluded.payment_mode,
      payment_status = excluded.payment_status, delivery_mode = excluded.delivery_mode, date = excluded.date,
      modified = excluded.modified, shipping_tax = excluded.shipping_tax,
      shipping_tax_voucher_split = excluded.shipping_tax_voucher_split, vouchers = excluded.vouchers,
      customer = excluded.customer, customer_id = excluded.customer_id,
      reason_cancellation = excluded.reason_cancellation, cashed_co = excluded.cashed_co,
      cashed_cod = excluded.cashed_cod, is_storno = excluded.is_storno, raw = excluded.raw,
      content_hash = excluded.content_hash, updated_at = now()
    where o.content_hash is distinct from excluded.content_hash and excluded.modified >= o.modified
      -- Nothing moves back to 1 (new): within one second, a read of a new order is the older one.
      and not (excluded.status = 1 and o.status <> 1)
    returning id, (xmax = 0) as inserted`;
  // Counted after the write: a row it did not touch because the stored one is newer.
  const [{ stale }] = await tx<{ stale: number }[]>`
    select count(*)::int as stale from emag_orders o
    join jsonb_to_recordset(${tx.json(input.map((o) => ({ id: o.id, modified: o.modified, status: o.status })) as never)}::jsonb) as x(id bigint, modified timestamptz, status smallint)
      on o.account = ${account} and o.id = x.id
    where x.modified < o.modified or (x.status = 1 and o.status <> 1)`;
  const changed = written.map((w) => Number(w.id));
  if (changed.length > 0) {
    const lines = changed.flatMap((orderId) => byId.get(orderId)!.lines.map((l) => ({ ...l, order_id: orderId })));
    await tx`delete from emag_order_lines where account = ${account} and order_id = any(${tx.array(changed)}::bigint[])`;
    if (lines.length > 0) {
      await tx`
        insert into emag_order_lines (account, order_id, line_id, product_id, part_number, part_number_key, quantity,
          sale_price, currency, vat, status, product_voucher_split, raw)
        select ${account}, order_id, line_id, product_id, part_number, part_number_key, quantity, sale_price, currency,
          vat, status, coalesce(product_voucher_split, '[]'), raw
        from jsonb_to_recordset(${tx.json(lines as never)}::jsonb) as x(order_id bigint, line_id bigint, product_id bigint,
          part_number text, part_number_key text, quantity integer, sale_price numeric, currency text, vat numeric,
          status smallint, product_voucher_split jsonb, raw jsonb)
        on conflict (account, order_id, line_id) do update set
          product_id = excluded.product_id, part_number = excluded.part_number, quantity = excluded.quantity,
          sale_price = excluded.sale_price, currency = excluded.currency, vat = excluded.vat, status = excluded.status,
          product_voucher_split = excluded.product_voucher_split, raw = excluded.raw`;
    }
  }
  const inserted = written.filter((w) => w.inserted).length;
  return { inserted, updated: written.length - inserted, unchanged: byId.size - written.length - stale, stale };
}

/**
 * Seller-fulfilled orders still new (status 1) and not yet acknowledged by us, oldest first — and
 * those whose acknowledgement was being sent when a process died, whatever their status now: an
 * acknowledgement that went through moved the order on, and only reading it settles the ledger.
 */
export async function ordersToAcknowledge(db: Db, account: string, limit = 500): Promise<Array<{ id: number }>> {
  const rows = await db<{ id: string }[]>`
    select o.id from emag_orders o
    left join emag_order_acks a on a.account = o.account and a.order_id = o.id
    where o.account = ${account} and o.type = 3
      and ((o.status = 1 and o.acknowledged_at is null and a.state is null) or a.state = 'sending')
    order by o.date, o.id limit ${limit}`;
  return rows.map((r) => ({ id: Number(r.id) }));
}

/** Records, before the call, that an acknowledgement is being sent. */
export async function markAckSending(db: Db, account: string, orderId: number): Promise<void> {
  await db`
    insert into emag_order_acks (account, order_id, state, attempts) values (${account}, ${orderId}, 'sending', 1)
    on conflict (account, order_id) do update set state = 'sending', attempts = emag_order_acks.attempts + 1, error = null`;
}

/** Where an order's acknowledgement stands, or null when none was tried. */
export async function ackState(db: Db, account: string, orderId: number): Promise<string | null> {
  const [row] = await db<{ state: string }[]>`select state from emag_order_acks where account = ${account} and order_id = ${orderId}`;
  return row?.state ?? null;
}

/** Records how an acknowledgement ended; `done` also stamps the order, in the same transaction. */
export async function markAckEnded(sql: Sql, account: string, orderId: number, state: 'done' | 'skipped' | 'failed', error: string | null = null): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`update emag_order_acks set state = ${state}, error = ${error}, done_at = now() where account = ${account} and order_id = ${orderId}`;
    if (state === 'done') {
      await tx`update emag_orders set acknowledged_at = coalesce(acknowledged_at, now()) where account = ${account} and id = ${orderId}`;
    }
  });
}

/** Seller-fulfilled orders still new and not acknowledged, per account (for metrics and status). */
export async function unacknowledgedCounts(db: Db): Promise<Map<string, number>> {
  const rows = await db<{ account: string; n: string }[]>`
    select account, count(*) as n from emag_orders where status = 1 and type = 3 and acknowledged_at is null group by account`;
  return new Map(rows.map((r) => [r.account, Number(r.n)]));
}

/** The status and type the mirror holds for an order (what an order command is checked against), or null. */
export async function mirroredOrder(db: Db, account: string, id: number): Promise<{ status: number; type: number | null } | null> {
  const [row] = await db<{ status: number; type: number | null }[]>`select status, type from emag_orders where account = ${account} and id = ${id}`;
  return row ?? null;
}

/** What shipping an order needs from the mirror: status, type, payment mode and the whole record; or null. */
export async function orderForShipping(db: Db, account: string, orderId: number): Promise<{ status: number; type: number | null; payment_mode_id: number | null; raw: Record<string, unknown> } | null> {
  const [row] = await db<{ status: number; type: number | null; payment_mode_id: number | null; raw: Record<string, unknown> }[]>`
    select status, type, payment_mode_id, raw from emag_orders where account = ${account} and id = ${orderId}`;
  return row ?? null;
}

/**
 * The console's reads of `emag_orders`: filtered by account and status, searched by order id or
 * customer name (always a parameter), newest first, paged with a total.
 */
import { likePattern, type Paging } from './catalog-queries.ts';
import type { Sql } from './connect.ts';

/** An order as the console lists it. */
export interface OrderListItem {
  account: string;
  id: number;
  status: number;
  type: number | null;
  date: Date;
  modified: Date;
  payment_mode: string | null;
  delivery_mode: string | null;
  customer_name: string | null;
  acknowledged_at: Date | null;
  lines: number;
}

/** What the orders list may be narrowed to. */
export interface OrderFilter {
  account?: string;
  status?: number;
  /** An order id (whole number) or part of the customer's name. */
  q?: string;
}

/** Orders matching the filter, newest first, with the total count. */
export async function listOrders(sql: Sql, f: OrderFilter, page: Paging): Promise<{ items: OrderListItem[]; total: number }> {
  const byId = f.q && /^\d{1,15}$/.test(f.q) ? Number(f.q) : null;
  const where = sql`where true
    ${f.account ? sql`and o.account = ${f.account}` : sql``}
    ${f.status !== undefined ? sql`and o.status = ${f.status}` : sql``}
    ${f.q ? (byId !== null ? sql`and o.id = ${byId}` : sql`and o.customer->>'name' ilike ${likePattern(f.q)}`) : sql``}`;
  const [rows, [{ total }]] = await Promise.all([
    sql<OrderListItem[]>`select o.account, o.id, o.status, o.type, o.date, o.modified, o.payment_mode, o.delivery_mode,
        o.customer->>'name' as customer_name, o.acknowledged_at,
        (select count(*)::int from emag_order_lines l where l.account = o.account and l.order_id = o.id) as lines
      from emag_orders o ${where} order by o.date desc, o.id desc limit ${page.limit} offset ${page.offset}`,
    sql<{ total: number }[]>`select count(*)::int as total from emag_orders o ${where}`,
  ]);
  return { items: rows.map((r) => ({ ...r, id: Number(r.id) })), total };
}

/**
 * The order record of `order/read` and its lines: the columns we keep of them, and their parser.
 */
import { bool, code, id, int, list, localDate, num, object, RecordError, record, str } from './quirks.ts';

/** An order line as we keep it. */
export interface OrderLineRow {
  line_id: number;
  product_id: number | null;
  part_number: string | null;
  part_number_key: string | null;
  quantity: number | null;
  sale_price: number | null;
  currency: string | null;
  vat: number | null;
  status: number | null;
  product_voucher_split: unknown[];
  raw: Record<string, unknown>;
}

/** An order as we keep it. */
export interface OrderRow {
  id: number;
  status: number;
  type: number | null;
  is_complete: number | null;
  payment_mode_id: number | null;
  payment_mode: string | null;
  payment_status: number | null;
  delivery_mode: string | null;
  date: string;
  modified: string;
  shipping_tax: number | null;
  shipping_tax_voucher_split: unknown[];
  vouchers: unknown[];
  customer: Record<string, unknown> | null;
  customer_id: number | null;
  reason_cancellation: number | null;
  cashed_co: number | null;
  cashed_cod: number | null;
  is_storno: boolean;
  lines: OrderLineRow[];
  raw: Record<string, unknown>;
}

/** Parses one `order/read` record. */
export function parseOrder(raw: unknown): OrderRow {
  const r = record(raw, 'order');
  const key = str(r.id);
  const orderId = id(r.id, 'id', key);
  const status = code(r.status, 'status', key);
  if (status === null || status < 0 || status > 5) throw new RecordError(`status ${JSON.stringify(r.status)} is not an order status 0..5`, key);
  const date = localDate(r.date, 'date', key);
  if (!date) throw new RecordError('date is not a date: none sent', key);
  const modified = localDate(r.modified, 'modified', key) ?? date;
  const customer = object(r.customer, 'customer', key);
  const lines = list(r.products, 'products', key).map((p, i) => parseOrderLine(p, `${key}/products[${i}]`));
  return {
    id: orderId,
    status,
    type: code(r.type, 'type', key),
    is_complete: code(r.is_complete, 'is_complete', key),
    payment_mode_id: code(r.payment_mode_id, 'payment_mode_id', key),
    payment_mode: str(r.payment_mode),
    payment_status: code(r.payment_status, 'payment_status', key),
    delivery_mode: str(r.delivery_mode),
    date,
    modified,
    shipping_tax: num(r.shipping_tax, 'shipping_tax', key),
    shipping_tax_voucher_split: list(r.shipping_tax_voucher_split, 'shipping_tax_voucher_split', key),
    vouchers: list(r.vouchers, 'vouchers', key),
    customer,
    customer_id: customer ? int(customer.id, 'customer.id', key, Number.MAX_SAFE_INTEGER) : null,
    // Called `cancellation_reason` before API 4.4.7, and an object {id, name} in real answers.
    reason_cancellation: code(r.reason_cancellation ?? r.cancellation_reason, 'reason_cancellation', key),
    cashed_co: num(r.cashed_co, 'cashed_co', key),
    cashed_cod: num(r.cashed_cod, 'cashed_cod', key),
    is_storno: bool(r.is_storno, 'is_storno', key) ?? false,
    lines,
    raw: r,
  };
}

function parseOrderLine(raw: unknown, key: string): OrderLineRow {
  const p = record(raw, key, key);
  return {
    line_id: id(p.id, 'products[].id', key),
    product_id: int(p.product_id, 'products[].product_id', key, Number.MAX_SAFE_INTEGER),
    part_number: str(p.part_number),
    part_number_key: str(p.part_number_key),
    quantity: int(p.quantity, 'products[].quantity', key),
    sale_price: num(p.sale_price, 'products[].sale_price', key),
    currency: str(p.currency),
    vat: num(p.vat, 'products[].vat', key, 9999),
    status: code(p.status, 'products[].status', key),
    product_voucher_split: list(p.product_voucher_split, 'products[].product_voucher_split', key),
    raw: p,
  };
}


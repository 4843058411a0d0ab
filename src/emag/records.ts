/**
 * Defensive parsing of eMAG records: numbers that arrive as strings, objects that arrive as `[]`,
 * fields that are a string or a list. A record that cannot be parsed throws RecordError with the
 * reason, so the stream can quarantine it and go on.
 */

/** A record eMAG sent that we cannot store as it is. */
export class RecordError extends Error {
  constructor(
    message: string,
    /** The record's id as far as it could be read, for the quarantine row. */
    readonly key: string | null,
  ) {
    super(message);
    this.name = 'RecordError';
  }
}

/** Largest magnitudes of the columns values land in: numeric(16,4), integer, smallint. */
export const MONEY_MAX = 1e12;
export const INT_MAX = 2_147_483_647;
export const SMALL_MAX = 32_767;

/**
 * A number from a number or numeric string; null when absent or empty; throws on garbage and on
 * magnitudes above `max` (the column's range: one odd value must not fail a whole page's insert).
 */
export function num(v: unknown, field: string, key: string | null, max = MONEY_MAX): number | null {
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : Number.NaN;
  if (!Number.isFinite(n)) throw new RecordError(`${field} is not a number: ${JSON.stringify(v).slice(0, 60)}`, key);
  if (Math.abs(n) > max) throw new RecordError(`${field} is out of range: ${n}`, key);
  return n;
}

/** A whole number, as `num` (default range: a Postgres integer). */
export function int(v: unknown, field: string, key: string | null, max = INT_MAX): number | null {
  const n = num(v, field, key, max);
  if (n !== null && !Number.isInteger(n)) throw new RecordError(`${field} is not a whole number: ${n}`, key);
  return n;
}

/** A status or type code (a Postgres smallint). */
export function code(v: unknown, field: string, key: string | null): number | null {
  return int(v, field, key, SMALL_MAX);
}

/** A required positive whole id. */
export function id(v: unknown, field: string, key: string | null = null): number {
  const n = int(v, field, key, Number.MAX_SAFE_INTEGER);
  if (n === null || n <= 0) throw new RecordError(`${field} is missing or not a positive id`, key);
  return n;
}

/** A string from a string or number; a list gives its first element. */
export function str(v: unknown): string | null {
  if (Array.isArray(v)) return v.length > 0 ? str(v[0]) : null;
  if (typeof v === 'string') return v.trim() === '' ? null : v;
  if (typeof v === 'number') return String(v);
  return null;
}

/** `value` out of a `{value}` object, a `[{value}]` list, or a bare value. */
export function innerValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? innerValue(v[0]) : null;
  if (v && typeof v === 'object' && 'value' in v) return (v as { value: unknown }).value;
  return v;
}

/** The sum of `[{warehouse_id, value}]`, or a bare number. */
export function stockTotal(v: unknown, field: string, key: string | null): number | null {
  if (!Array.isArray(v)) return int(v, field, key);
  let total = 0;
  for (const w of v) total += int((w as { value?: unknown })?.value, `${field}.value`, key) ?? 0;
  return total;
}

/** The offer columns we keep, besides the whole record as JSONB. */
export interface OfferRow {
  id: number;
  part_number: string | null;
  part_number_key: string | null;
  name: string | null;
  brand: string | null;
  category_id: number | null;
  status: number | null;
  sale_price: number | null;
  recommended_price: number | null;
  min_sale_price: number | null;
  max_sale_price: number | null;
  best_offer_sale_price: number | null;
  currency: string | null;
  stock: number | null;
  general_stock: number | null;
  estimated_stock: number | null;
  handling_time: number | null;
  vat_id: number | null;
  offer_validation_status: number | null;
  validation_status: number | null;
  number_of_offers: number | null;
  buy_button_rank: number | null;
  ean: string[];
  raw: Record<string, unknown>;
}

/** Parses one `product_offer/read` record. */
export function parseOffer(raw: unknown): OfferRow {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError('offer is not an object', null);
  const r = raw as Record<string, unknown>;
  const key = str(r.id);
  const offerId = id(r.id, 'id', key);
  if (offerId > 16_777_215) throw new RecordError(`id ${offerId} is above eMAG's maximum 16777215`, key);
  const ean = Array.isArray(r.ean) ? r.ean.map(str).filter((e): e is string => e !== null) : str(r.ean) ? [str(r.ean)!] : [];
  return {
    id: offerId,
    part_number: str(r.part_number),
    part_number_key: str(r.part_number_key),
    name: str(r.name),
    brand: str(r.brand),
    category_id: int(r.category_id, 'category_id', key, Number.MAX_SAFE_INTEGER),
    status: code(r.status, 'status', key),
    sale_price: num(r.sale_price, 'sale_price', key),
    recommended_price: num(r.recommended_price, 'recommended_price', key),
    min_sale_price: num(r.min_sale_price, 'min_sale_price', key),
    max_sale_price: num(r.max_sale_price, 'max_sale_price', key),
    best_offer_sale_price: num(r.best_offer_sale_price, 'best_offer_sale_price', key),
    currency: str(r.currency),
    stock: stockTotal(r.stock, 'stock', key),
    general_stock: int(r.general_stock, 'general_stock', key),
    estimated_stock: int(r.estimated_stock, 'estimated_stock', key),
    handling_time: int(innerValue(r.handling_time), 'handling_time', key),
    vat_id: int(r.vat_id, 'vat_id', key),
    offer_validation_status: code(innerValue(r.offer_validation_status), 'offer_validation_status', key),
    validation_status: code(innerValue(r.validation_status), 'validation_status', key),
    number_of_offers: int(r.number_of_offers, 'number_of_offers', key),
    buy_button_rank: int(r.buy_button_rank, 'buy_button_rank', key),
    ean,
    raw: r,
  };
}

/** A JSON list, with eMAG's `[]`-for-empty and null both meaning none. */
function list(v: unknown, field: string, key: string | null): unknown[] {
  if (v === null || v === undefined || v === '') return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'object') return Object.keys(v as object).length === 0 ? [] : [v];
  throw new RecordError(`${field} is not a list`, key);
}

/** An object, with `[]` (eMAG's empty object) and null meaning none. */
function object(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

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

/** Parses one `order/read` record; `toInstant` turns eMAG's local dates into instants. */
export function parseOrder(raw: unknown, toInstant: (text: unknown) => Date | null): OrderRow {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError('order is not an object', null);
  const r = raw as Record<string, unknown>;
  const key = str(r.id);
  const orderId = id(r.id, 'id', key);
  const status = code(r.status, 'status', key);
  if (status === null || status < 0 || status > 5) throw new RecordError(`status ${JSON.stringify(r.status)} is not an order status 0..5`, key);
  const date = toInstant(r.date);
  if (!date) throw new RecordError(`date is not a date: ${JSON.stringify(r.date)}`, key);
  const modified = toInstant(r.modified) ?? date;
  const customer = object(r.customer);
  // Called `cancellation_reason` before API 4.4.7, and an object {id, name} in real answers.
  const reasonRaw = r.reason_cancellation ?? r.cancellation_reason;
  const reason = object(reasonRaw) ? (reasonRaw as { id?: unknown }).id : reasonRaw;
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
    date: date.toISOString(),
    modified: modified.toISOString(),
    shipping_tax: num(r.shipping_tax, 'shipping_tax', key),
    shipping_tax_voucher_split: list(r.shipping_tax_voucher_split, 'shipping_tax_voucher_split', key),
    vouchers: list(r.vouchers, 'vouchers', key),
    customer,
    customer_id: customer ? int(customer.id, 'customer.id', key, Number.MAX_SAFE_INTEGER) : null,
    reason_cancellation: code(reason, 'reason_cancellation', key),
    cashed_co: num(r.cashed_co, 'cashed_co', key),
    cashed_cod: num(r.cashed_cod, 'cashed_cod', key),
    is_storno: r.is_storno === true || r.is_storno === 1 || r.is_storno === '1',
    lines,
    raw: r,
  };
}

function parseOrderLine(raw: unknown, key: string): OrderLineRow {
  const p = object(raw);
  if (!p) throw new RecordError(`${key} is not an object`, key);
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

/** A record set aside, with why. */
export interface RejectedRecord {
  key: string | null;
  reason: string;
  raw: unknown;
}

/** Parses a page with `parse`: the records it can store, and the ones to quarantine with their reasons. */
export function parseAll<T>(items: unknown[], parse: (raw: unknown) => T): { rows: T[]; bad: RejectedRecord[] } {
  const rows: T[] = [];
  const bad: RejectedRecord[] = [];
  for (const item of items) {
    try {
      rows.push(parse(item));
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      bad.push({ key: err.key, reason: err.message, raw: item });
    }
  }
  return { rows, bad };
}

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

/** A number from a number or numeric string; null when absent or empty; throws on garbage. */
export function num(v: unknown, field: string, key: string | null): number | null {
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : Number.NaN;
  if (!Number.isFinite(n)) throw new RecordError(`${field} is not a number: ${JSON.stringify(v).slice(0, 60)}`, key);
  return n;
}

/** A whole number, as `num`. */
export function int(v: unknown, field: string, key: string | null): number | null {
  const n = num(v, field, key);
  if (n !== null && !Number.isInteger(n)) throw new RecordError(`${field} is not a whole number: ${n}`, key);
  return n;
}

/** A required positive whole id. */
export function id(v: unknown, field: string, key: string | null = null): number {
  const n = int(v, field, key);
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
export function valueOf(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? valueOf(v[0]) : null;
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
    category_id: int(r.category_id, 'category_id', key),
    status: int(r.status, 'status', key),
    sale_price: num(r.sale_price, 'sale_price', key),
    recommended_price: num(r.recommended_price, 'recommended_price', key),
    min_sale_price: num(r.min_sale_price, 'min_sale_price', key),
    max_sale_price: num(r.max_sale_price, 'max_sale_price', key),
    best_offer_sale_price: num(r.best_offer_sale_price, 'best_offer_sale_price', key),
    currency: str(r.currency),
    stock: stockTotal(r.stock, 'stock', key),
    general_stock: int(r.general_stock, 'general_stock', key),
    estimated_stock: int(r.estimated_stock, 'estimated_stock', key),
    handling_time: int(valueOf(r.handling_time), 'handling_time', key),
    vat_id: int(r.vat_id, 'vat_id', key),
    offer_validation_status: int(valueOf(r.offer_validation_status), 'offer_validation_status', key),
    validation_status: int(valueOf(r.validation_status), 'validation_status', key),
    number_of_offers: int(r.number_of_offers, 'number_of_offers', key),
    buy_button_rank: int(r.buy_button_rank, 'buy_button_rank', key),
    ean,
    raw: r,
  };
}

/**
 * The offer record of `product_offer/read`: the columns we keep of it, and its parser.
 */
import { code, enumValue, id, int, list, num, oneOrMany, RecordError, record, str } from './quirks.ts';

/** eMAG's largest seller offer id. */
const OFFER_ID_MAX = 16_777_215;

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
}

/** Parses one `product_offer/read` record. */
export function parseOffer(raw: unknown): OfferRow {
  const r = record(raw, 'offer');
  const key = str(r.id);
  const offerId = id(r.id, 'id', key);
  if (offerId > OFFER_ID_MAX) throw new RecordError(`id ${offerId} is above eMAG's maximum ${OFFER_ID_MAX}`, key);
  const ean = oneOrMany(r.ean, 'ean', key).map(str).filter((e): e is string => e !== null);
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
    handling_time: int(enumValue(r.handling_time), 'handling_time', key),
    vat_id: int(r.vat_id, 'vat_id', key),
    offer_validation_status: code(r.offer_validation_status, 'offer_validation_status', key),
    validation_status: code(r.validation_status, 'validation_status', key),
    number_of_offers: int(r.number_of_offers, 'number_of_offers', key),
    buy_button_rank: int(r.buy_button_rank, 'buy_button_rank', key),
    ean,
  };
}

/** The sum of `[{warehouse_id, value}]` (stock per warehouse), or a bare number. */
function stockTotal(v: unknown, field: string, key: string | null): number | null {
  if (!Array.isArray(v) && !(v && typeof v === 'object')) return int(v, field, key);
  let total = 0;
  for (const w of list(v, field, key)) total += int((w as { value?: unknown })?.value, `${field}.value`, key) ?? 0;
  return total;
}

/**
 * The return request record of `rma/read`: the columns we keep of it, and its parser.
 */
import { code, id, int, list, localDate, record, str } from './quirks.ts';

/** The return columns we keep, besides the whole record as JSONB. */
export interface RmaRow {
  emag_id: number;
  order_id: number | null;
  type: number | null;
  request_status: number | null;
  return_type: number | null;
  return_reason: number | null;
  /** ISO instant (converted from Bucharest local time), or null when eMAG sent none. */
  date: string | null;
  products: unknown[];
  customer_name: string | null;
  awbs: unknown[];
  status_history: unknown[];
  raw: Record<string, unknown>;
}

/** Parses one `rma/read` record; throws RecordError for what cannot be stored. */
export function parseRma(raw: unknown): RmaRow {
  const r = record(raw, 'return request');
  const key = str(r.emag_id);
  return {
    emag_id: id(r.emag_id, 'emag_id', key),
    order_id: int(r.order_id, 'order_id', key, Number.MAX_SAFE_INTEGER),
    type: code(r.type, 'type', key),
    request_status: code(r.request_status, 'request_status', key),
    return_type: code(r.return_type, 'return_type', key),
    return_reason: int(r.return_reason, 'return_reason', key),
    date: localDate(r.date, 'date', key),
    products: list(r.products, 'products', key),
    customer_name: str(r.customer_name),
    awbs: list(r.awbs, 'awbs', key),
    status_history: list(r.status_history, 'status_history', key),
    raw: r,
  };
}

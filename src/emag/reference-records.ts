/**
 * The reference records (VAT rates, handling times, courier accounts) and their parsers. A parsed
 * row carries the columns of its table (src/db/reference.ts) and the record as eMAG sent it.
 */
import { bool, code, id, int, list, localDate, num, object, RecordError, record, str } from './quirks.ts';

/** A parsed reference row: the table's key and columns, plus the record as eMAG sent it. */
export type ReferenceRow = Record<string, unknown> & { raw: unknown };

/** Parses one `vat/read` record (`{vat_id, vat_rate, is_default}`, numbers possibly as strings). */
export function parseVatRate(raw: unknown): ReferenceRow {
  const r = record(raw, 'VAT rate');
  const key = str(r.vat_id);
  return { vat_id: id(r.vat_id, 'vat_id', key), vat_rate: num(r.vat_rate, 'vat_rate', key, 9999), is_default: bool(r.is_default, 'is_default', key), raw: r };
}

/** Parses one `handling_time/read` record: `{id}` (or `{value}`), or a bare number of days. */
export function parseHandlingTime(raw: unknown): ReferenceRow {
  const r = typeof raw === 'object' ? object(raw, 'handling time', null) : null;
  const value = r ? (r.id ?? r.value ?? r.handling_time) : raw;
  const key = str(value);
  const days = int(value, 'handling_time', key);
  // 0 is valid (ships the same day); eMAG's range is 0..255.
  if (days === null || days < 0 || days > 255) throw new RecordError('handling_time is missing or outside 0..255', key);
  return { handling_time: days, raw };
}

/** Parses one `courier_accounts/read` record (§6.7). */
export function parseCourierAccount(raw: unknown): ReferenceRow {
  const r = record(raw, 'courier account');
  const key = str(r.account_id);
  const props = r.courier_account_properties;
  // A list, `[]`, a keyed object, a comma-separated string or a single number: always a list of codes.
  const codes = typeof props === 'string' ? props.split(',').map((p) => p.trim()) : typeof props === 'number' ? [props] : list(props, 'courier_account_properties', key);
  return {
    account_id: id(r.account_id, 'account_id', key),
    account_display_name: str(r.account_display_name),
    courier_account_type: code(r.courier_account_type, 'courier_account_type', key),
    courier_name: str(r.courier_name),
    courier_account_properties: codes.map((p) => int(p, 'courier_account_properties', key)).filter((p) => p !== null),
    created: localDate(r.created, 'created', key),
    status: code(r.status, 'status', key),
    pickup_country_code: str(r.pickup_country_code),
    raw: r,
  };
}

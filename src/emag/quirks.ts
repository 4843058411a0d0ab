/**
 * The field readers every eMAG record parser uses, one meaning each, for the quirks of eMAG's
 * answers (emag-api.md, "Traps"): numbers that arrive as strings, `[]` where an object is empty,
 * PHP arrays sent as keyed objects, a string or a list, objects `{id, name}` or `[{value}]` for an
 * enumeration's code, Bucharest local dates. A field that cannot be read throws RecordError with
 * the reason, so the stream quarantines that record and goes on with the page.
 */
import { fromEmagDate } from './dates.ts';

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
/** The largest Postgres integer. */
export const INT_MAX = 2_147_483_647;
/** The largest Postgres smallint. */
export const SMALL_MAX = 32_767;

/** Whether eMAG sent nothing for a field: absent, null, '' or `[]` (its empty object). */
function absent(v: unknown): boolean {
  return v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
}

/** A short rendering of an odd value for a quarantine reason. */
function shown(v: unknown): string {
  return String(JSON.stringify(v)).slice(0, 60);
}

/**
 * A number from a number or numeric string; null when absent; throws on garbage and on
 * magnitudes above `max` (the column's range: one odd value must not fail a whole page's insert).
 */
export function num(v: unknown, field: string, key: string | null, max = MONEY_MAX): number | null {
  if (absent(v)) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : Number.NaN;
  if (!Number.isFinite(n)) throw new RecordError(`${field} is not a number: ${shown(v)}`, key);
  if (Math.abs(n) > max) throw new RecordError(`${field} is out of range: ${n}`, key);
  return n;
}

/** A whole number, as `num` (default range: a Postgres integer). */
export function int(v: unknown, field: string, key: string | null, max = INT_MAX): number | null {
  const n = num(v, field, key, max);
  if (n !== null && !Number.isInteger(n)) throw new RecordError(`${field} is not a whole number: ${n}`, key);
  return n;
}

/** A status or type code (a Postgres smallint), bare or wrapped as eMAG wraps enumerations (see `enumValue`). */
export function code(v: unknown, field: string, key: string | null): number | null {
  return int(enumValue(v), field, key, SMALL_MAX);
}

/** A required positive whole id. */
export function id(v: unknown, field: string, key: string | null = null): number {
  const n = int(v, field, key, Number.MAX_SAFE_INTEGER);
  if (n === null || n <= 0) throw new RecordError(`${field} is missing or not a positive id`, key);
  return n;
}

/** A string from a string or number; a list gives its first element; null when absent or blank. */
export function str(v: unknown): string | null {
  if (Array.isArray(v)) return v.length > 0 ? str(v[0]) : null;
  if (typeof v === 'string') return v.trim() === '' ? null : v;
  if (typeof v === 'number') return String(v);
  return null;
}

/** A boolean from true/false, 1/0, "1"/"0", "true"/"false"; null when absent; throws on anything else. */
export function bool(v: unknown, field: string, key: string | null): boolean | null {
  if (absent(v)) return null;
  if (v === true || v === 1 || v === '1' || v === 'true') return true;
  if (v === false || v === 0 || v === '0' || v === 'false') return false;
  throw new RecordError(`${field} is not a boolean: ${shown(v)}`, key);
}

/**
 * An enumeration's code out of the shapes eMAG sends it in: a bare code, `{value, description}`,
 * `{id, name}` (e.g. `reason_cancellation`), or a list of one of these (the first counts).
 */
export function enumValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? enumValue(v[0]) : null;
  if (v && typeof v === 'object') {
    if ('value' in v) return (v as { value: unknown }).value;
    if ('id' in v) return (v as { id: unknown }).id;
  }
  return v;
}

/**
 * A list field: a JSON list, a PHP array sent as an object (its values, in order), or none (absent,
 * null, '', `{}`) as `[]`. Anything else throws.
 */
export function list(v: unknown, field: string, key: string | null): unknown[] {
  if (v === null || v === undefined || v === '') return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'object') return Object.values(v as object);
  throw new RecordError(`${field} is not a list: ${shown(v)}`, key);
}

/** A field that may be one value or a list of them (`ean`, `part_number`): always a list, as `list`. */
export function oneOrMany(v: unknown, field: string, key: string | null): unknown[] {
  return v !== null && typeof v !== 'object' && v !== '' && v !== undefined ? [v] : list(v, field, key);
}

/** An object field; null when absent or sent as `[]` (eMAG's empty object); anything else throws. */
export function object(v: unknown, field: string, key: string | null): Record<string, unknown> | null {
  if (absent(v)) return null;
  if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new RecordError(`${field} is not an object`, key);
}

/** A whole record, which must be an object; `what` names it in the reason ("offer", "return request"). */
export function record(raw: unknown, what: string, key: string | null = null): Record<string, unknown> {
  const r = object(raw, what, key);
  if (r === null) throw new RecordError(`${what} is not an object`, key);
  return r;
}

/** A Bucharest local `YYYY-mm-dd HH:ii:ss` date as an ISO instant; null when absent; throws on anything else. */
export function localDate(v: unknown, field: string, key: string | null): string | null {
  if (absent(v)) return null;
  const d = fromEmagDate(v);
  if (!d) throw new RecordError(`${field} is not a date: ${shown(v)}`, key);
  return d.toISOString();
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


import { REFERENCE_TABLES, type ReferenceTable, replaceReference } from '../db/reference.ts';
import { fromEmagDate } from '../emag/dates.ts';
import { EmagError } from '../emag/errors.ts';
import { code, id, int, num, parseAll, RecordError, str } from '../emag/records.ts';
import type { StreamContext, StreamFn, StreamOutcome } from './run.ts';

/** A parsed reference row: the table's key and columns, plus the record as eMAG sent it. */
export type ReferenceRow = Record<string, unknown> & { raw: unknown };

/** A boolean from true/false, 1/0, "1"/"0", "true"/"false"; null when absent; throws on anything else. */
function bool(v: unknown, field: string, key: string | null): boolean | null {
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return null;
  if (v === true || v === 1 || v === '1' || v === 'true') return true;
  if (v === false || v === 0 || v === '0' || v === 'false') return false;
  throw new RecordError(`${field} is not a boolean: ${JSON.stringify(v).slice(0, 60)}`, key);
}

function object(raw: unknown, what: string): Record<string, unknown> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError(`${what} is not an object`, null);
  return raw as Record<string, unknown>;
}

/** Parses one `vat/read` record (`{vat_id, vat_rate, is_default}`, numbers possibly as strings). */
export function parseVatRate(raw: unknown): ReferenceRow {
  const r = object(raw, 'VAT rate');
  const key = str(r.vat_id);
  return { vat_id: id(r.vat_id, 'vat_id', key), vat_rate: num(r.vat_rate, 'vat_rate', key, 9999), is_default: bool(r.is_default, 'is_default', key), raw: r };
}

/** Parses one `handling_time/read` record: `{id}` (or `{value}`), or a bare number of days. */
export function parseHandlingTime(raw: unknown): ReferenceRow {
  const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  const r = isObject ? (raw as Record<string, unknown>) : null;
  const value = r ? (r.id ?? r.value ?? r.handling_time) : raw;
  const key = str(value);
  const days = int(value, 'handling_time', key);
  // 0 is valid (ships the same day); eMAG's range is 0..255.
  if (days === null || days < 0 || days > 255) throw new RecordError('handling_time is missing or outside 0..255', key);
  return { handling_time: days, raw };
}

/** Parses one `courier_accounts/read` record (§6.7). */
export function parseCourierAccount(raw: unknown): ReferenceRow {
  const r = object(raw, 'courier account');
  const key = str(r.account_id);
  let created: string | null = null;
  if (r.created !== null && r.created !== undefined && r.created !== '') {
    const d = fromEmagDate(r.created);
    if (!d) throw new RecordError(`created is not a YYYY-mm-dd HH:ii:ss date: ${JSON.stringify(r.created).slice(0, 60)}`, key);
    created = d.toISOString();
  }
  const props = r.courier_account_properties;
  // A list, `[]`, a keyed object, a comma-separated string or a single number: always a list of codes.
  const rawProps = Array.isArray(props) ? props : props && typeof props === 'object' ? Object.values(props) : typeof props === 'string' ? props.split(',') : props == null ? [] : [props];
  const properties = rawProps.map((p) => int(typeof p === 'string' ? p.trim() : p, 'courier_account_properties', key)).filter((p) => p !== null);
  return {
    account_id: id(r.account_id, 'account_id', key),
    account_display_name: str(r.account_display_name),
    courier_account_type: code(r.courier_account_type, 'courier_account_type', key),
    courier_name: str(r.courier_name),
    courier_account_properties: properties,
    created,
    status: code(r.status, 'status', key),
    pickup_country_code: str(r.pickup_country_code),
    raw: r,
  };
}

/** One reference resource: where it is read, how a record parses, where it is stored. */
interface ReferenceSource {
  resource: keyof typeof REFERENCE_TABLES;
  parse: (raw: unknown) => ReferenceRow;
  /**
   * Whether an empty answer may empty the table. A seller without courier accounts is normal; a
   * platform without VAT rates or handling times is not, so that answer is taken for a glitch.
   */
  allowEmpty: boolean;
}

const SOURCES: readonly ReferenceSource[] = [
  { resource: 'vat', parse: parseVatRate, allowEmpty: false },
  { resource: 'handling_time', parse: parseHandlingTime, allowEmpty: false },
  { resource: 'courier_accounts', parse: parseCourierAccount, allowEmpty: true },
];

/** Errors no other resource of the run can avoid: stop at once instead of spending requests. */
const FATAL_KINDS: ReadonlySet<string> = new Set(['auth', 'ip_not_whitelisted']);

/** Runs the reference stream: each resource refreshed on its own, so one failing keeps the others fresh. */
export function referenceStream(): StreamFn {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { run, signal, log } = ctx;
    const counters = run.counters;
    counters.pages_total = SOURCES.length;
    await run.progress();
    let failure: unknown = null;
    const notes: string[] = [];

    for (const source of SOURCES) {
      if (signal.aborted) return { note: `cancelled after ${counters.pages_done} of ${SOURCES.length} resources` };
      try {
        const note = await refresh(ctx, source, REFERENCE_TABLES[source.resource]);
        if (note) notes.push(note);
      } catch (err) {
        if (signal.aborted) throw err;
        log.warn({ resource: source.resource, err: (err as Error).message }, 'reference resource not refreshed; its previous rows stay');
        failure ??= err;
        if (err instanceof EmagError && FATAL_KINDS.has(err.kind)) break;
      }
      await run.progress();
    }
    // The resources that did refresh are committed; the run still fails so the failure is seen.
    if (failure !== null) throw failure;
    if (notes.length > 0) return { status: 'partial', note: notes.join('; ') };
    return { note: `${SOURCES.length} resources refreshed` };
  };
}

/** Reads one resource and replaces the account's rows with it; returns a note when it kept the old set. */
async function refresh(ctx: StreamContext, source: ReferenceSource, table: ReferenceTable): Promise<string | null> {
  const { sql, client, account, run, signal, log } = ctx;
  const counters = run.counters;
  const results = await client.read<unknown>(source.resource, {}, signal);
  // eMAG sends lists, but PHP-keyed objects and `[]` for "empty object" happen too.
  const items = Array.isArray(results) ? results : results && typeof results === 'object' ? Object.values(results) : null;
  if (items === null) {
    throw new EmagError('invalid_response', `results of ${source.resource}/read is not a list`, account.name, source.resource, 'read');
  }
  const { rows, bad } = parseAll<ReferenceRow>(items, source.parse);
  const keepOld = rows.length === 0 && !source.allowEmpty;
  const counts = await sql.begin(async (tx) => {
    await run.quarantine(tx, bad);
    if (keepOld) return null;
    // A set with unparseable members is incomplete: update what parsed, delete nothing.
    return replaceReference(tx, table, account.name, rows, bad.length === 0);
  });
  counters.pages_done++;
  counters.items_seen += items.length;
  if (counts === null) {
    log.warn({ resource: source.resource, items: items.length }, 'reference answer had no usable rows; the previous rows are kept');
    return `${source.resource}: no usable rows, previous kept`;
  }
  counters.items_inserted += counts.inserted;
  counters.items_updated += counts.updated;
  counters.items_unchanged += counts.unchanged;
  counters.items_deleted += counts.deleted;
  return null;
}

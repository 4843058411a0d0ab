/**
 * The reference stream: VAT rates, handling times and courier accounts, each read whole and
 * replacing the account's set (src/db/reference.ts), each refreshed on its own.
 */
import { REFERENCE_TABLES, type ReferenceTable, replaceReference } from '../db/reference.ts';
import { EmagError } from '../emag/errors.ts';
import { readList } from '../emag/pages.ts';
import { parseCourierAccount, parseHandlingTime, parseVatRate, type ReferenceRow } from '../emag/reference-records.ts';
import type { StreamContext, StreamFn, StreamOutcome } from './run.ts';

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
  const { client, account, run, signal, log } = ctx;
  const counters = run.counters;
  // eMAG sends lists, but PHP-keyed objects happen too (readList takes both).
  const items = await readList(client, source.resource, {}, signal);
  const { counts } = await run.store(items, source.parse, async (tx, rows) => {
    if (rows.length === 0 && !source.allowEmpty) return null;
    // A set with unparseable members is incomplete: update what parsed, delete nothing.
    return replaceReference(tx, table, account.name, rows, rows.length === items.length);
  });
  counters.pages_done++;
  if (counts === null) {
    counters.items_seen += items.length;
    log.warn({ resource: source.resource, items: items.length }, 'reference answer had no usable rows; the previous rows are kept');
    return `${source.resource}: no usable rows, previous kept`;
  }
  run.count(items.length, counts);
  return null;
}

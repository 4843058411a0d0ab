/**
 * The offers stream: pages through `product_offer/read` with several pages in flight (the rate
 * budget, not latency, sets the pace), writes what changed of each page in one transaction, and
 * soft-deletes what a completed full scan did not see.
 */
import { bytesHash, CopyRefused, dropScan, finishFullScan, holdsOffers, markSeen, NewOfferInserts, OfferCopy, type OfferHash, offersToWrite, type UpsertCounts, unseenOffers, writeOffers } from '../db/offers.ts';
import { latestRun } from '../db/runs.ts';
import { readOffersById } from '../emag/lookups.ts';
import { parseOffer } from '../emag/offer-record.ts';
import { pagesInFlight, readRecords, scanPages } from '../emag/pages.ts';
import { RecordError, type RejectedRecord } from '../emag/quirks.ts';
import { type RawRecord, recordValue } from '../emag/raw-records.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** Filters of a selective scan (any of product_offer/read's). A filtered scan never soft-deletes. */
export type OfferFilters = Partial<Record<'id' | 'status' | 'part_number' | 'part_number_key' | 'general_stock' | 'estimated_stock', string | number>>;

/**
 * After a complete scan: the offers the scan did not see are read once more by id before they are
 * soft-deleted, because offset paging skips an offer when others vanish from earlier pages mid-scan.
 * Returns how many were deleted.
 */
async function softDeleteMissing(ctx: StreamContext, scanRunId: number): Promise<number> {
  const { sql, client, account, signal } = ctx;
  const missing = await unseenOffers(sql, account.name, scanRunId);
  const still = await readOffersById(client, missing, signal);
  // Still on eMAG: kept. Their values are left to the next scan (reads by id carry some fields in
  // another shape than scans do).
  return finishFullScan(sql, account.name, scanRunId, missing.filter((id) => !still.has(id)));
}

/** What a scan's pages are stored against. */
interface ScanTarget {
  /** The full scan's run id, whose seen ids decide what is soft-deleted; null for any other scan. */
  scanRunId: number | null;
  /**
   * The mirror held no offer of the account (not even deleted) when the scan began: a first sync,
   * whose pages are inserted without asking the mirror which of them it lacks. Only this scan
   * writes the account's offers (its lease), so a COPY is refused only for an id that an earlier
   * page of the scan already brought, or that two of its pages share (offset paging repeats
   * offers) — each of its pages is then merged.
   */
  mirrorWasEmpty: boolean;
  /** Where a page of new offers is inserted. */
  inserts: NewOfferInserts;
}

/**
 * Stores one page of offers as eMAG sent them. Each record's bytes are hashed, the mirror names the
 * ones whose hash it does not hold, and only those are parsed and written; the rest cost a hash.
 * Records whose id could not be read without parsing are parsed too: the parser says what is wrong.
 * A page that repeats an id is written with its last copy.
 */
async function storePage(ctx: StreamContext, records: RawRecord[], { scanRunId, mirrorWasEmpty, inserts }: ScanTarget): Promise<UpsertCounts> {
  const { sql, account, run } = ctx;
  const hashes = records.map((r) => bytesHash(r.bytes));
  const known: OfferHash[] = [];
  const last = new Map<number, number>();
  records.forEach((r, i) => {
    if (r.id === null) return;
    known.push({ id: r.id, hash: hashes[i] });
    last.set(r.id, i);
  });
  // Written offers are seen by their last_seen_at; on an empty mirror every offer is written.
  const write = mirrorWasEmpty ? { ids: new Set(last.keys()), allNew: true } : await offersToWrite(sql, account.name, known, scanRunId);
  const offers = new OfferCopy(account.name);
  const bad: RejectedRecord[] = [];
  const badIds: number[] = [];
  const setAside = (r: RawRecord, rejected: RejectedRecord) => {
    bad.push(rejected);
    if (r.id !== null) badIds.push(r.id);
  };
  records.forEach((r, i) => {
    if (r.id !== null && (!write.ids.has(r.id) || last.get(r.id) !== i)) return;
    let value: unknown;
    try {
      value = recordValue(r);
    } catch (err) {
      // One record that is not JSON among good ones: set aside with its text, not the whole page.
      setAside(r, { key: r.id === null ? null : String(r.id), reason: `record is not valid JSON: ${(err as Error).message}`, raw: r.bytes.toString('utf8') });
      return;
    }
    try {
      offers.add(parseOffer(value), hashes[i], r.bytes);
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      setAside(r, { key: err.key, reason: err.message, raw: value });
    }
  });
  const skipped = records.length - offers.size - bad.length;
  if (offers.size === 0 && bad.length === 0) return { inserted: 0, updated: 0, unchanged: skipped };
  if (write.allNew && bad.length === 0) {
    try {
      return { inserted: await inserts.insert(offers), updated: 0, unchanged: skipped };
    } catch (err) {
      // Another writer added one of them meanwhile, or PostgreSQL refused a value: the merge below
      // takes the first; the second fails the page, as it would have.
      if (!(err instanceof CopyRefused)) throw err;
    }
  }
  const c = await sql.begin(async (tx) => {
    await run.quarantine(tx, bad);
    // Set aside, not gone: a completed scan must not soft-delete them.
    if (scanRunId !== null) await markSeen(tx, scanRunId, badIds);
    return writeOffers(tx, offers);
  });
  return { ...c, unchanged: c.unchanged + skipped };
}

/** Runs an offers scan; `filters` makes it selective. */
export function offersStream(filters: OfferFilters = {}) {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, client, account, run, signal, log } = ctx;
    const selective = Object.keys(filters).length > 0;
    const counters = run.counters;

    let startPage = 1;
    if (ctx.mode === 'incremental') {
      // Resume where the last unfinished offers run committed its contiguous prefix of pages.
      const last = await latestRun(sql, account.name, 'offers', ['succeeded', 'partial', 'failed', 'cancelled', 'interrupted']);
      const page = (last?.checkpoint as { page?: number } | null)?.page;
      if (last && last.status !== 'succeeded' && typeof page === 'number' && page > 0) startPage = page + 1;
    }

    const cap = account.maxPages > 0 ? startPage - 1 + account.maxPages : Number.POSITIVE_INFINITY;
    await run.progress({ page: startPage - 1 });

    // Only a full, unfiltered scan from page 1 may decide what no longer exists.
    const scanRunId = ctx.mode === 'full' && !selective && startPage === 1 ? run.id : null;
    const target: ScanTarget = { scanRunId, mirrorWasEmpty: !(await holdsOffers(sql, account.name)), inserts: new NewOfferInserts(sql) };
    const committed = new Set<number>();
    let prefix = startPage - 1;
    let result: { exhausted: boolean; capped: boolean };
    try {
      result = await scanPages({
        client,
        reader: readRecords,
        resource: 'product_offer',
        filters,
        signal,
        firstPage: startPage,
        lastAllowed: cap,
        width: pagesInFlight(account.otherRps),
        onCount: (c) => {
          counters.pages_total = Math.max(counters.pages_total ?? 0, Math.min(Math.max(c.pages, startPage - 1), cap));
        },
        onPage: async (records, page) => {
          const counts = await storePage(ctx, records, target);
          counters.pages_done++;
          run.count(records.length, counts);
          if (counters.pages_total !== null && page > counters.pages_total) counters.pages_total = page;
          // The checkpoint is the contiguous prefix of committed pages: pages finish in any order.
          committed.add(page);
          while (committed.has(prefix + 1)) committed.delete(++prefix);
          await run.progress({ page: prefix });
        },
      });
    } catch (err) {
      // Committed pages stay; the scan is incomplete, so nothing is soft-deleted.
      if (scanRunId !== null) await dropScan(sql, scanRunId);
      throw err;
    }
    const { exhausted, capped } = result;
    if (signal.aborted) {
      if (scanRunId !== null) await dropScan(sql, scanRunId);
      return { note: `cancelled after ${counters.pages_done} pages` };
    }
    if (scanRunId !== null && exhausted && !capped) {
      // A first sync wrote every offer the mirror holds: none can be missing (a pass that would read
      // them all twice).
      if (target.mirrorWasEmpty) await dropScan(sql, scanRunId);
      else counters.items_deleted = await softDeleteMissing(ctx, scanRunId);
      await run.progress();
      return { note: 'complete scan' };
    }
    if (scanRunId !== null) await dropScan(sql, scanRunId);
    if (capped) log.warn({ maxPages: account.maxPages }, 'scan stopped at EMAG_<ACCOUNT>_MAX_PAGES; nothing was soft-deleted');
    return { note: capped ? 'capped by max pages' : selective ? 'selective scan' : 'incremental scan' };
  };
}

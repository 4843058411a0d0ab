/**
 * The offers stream: pages through `product_offer/read` with several pages in flight (the rate
 * budget, not latency, sets the pace), upserts each page in one transaction, and soft-deletes what a
 * completed full scan did not see.
 */
import { dropScan, finishFullScan, unseenOffers, upsertOffers } from '../db/offers.ts';
import { latestRun } from '../db/runs.ts';
import { readOffersById } from '../emag/lookups.ts';
import { parseOffer } from '../emag/offer-record.ts';
import { pagesInFlight, scanPages } from '../emag/pages.ts';
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
    const committed = new Set<number>();
    let prefix = startPage - 1;
    let result: { exhausted: boolean; capped: boolean };
    try {
      result = await scanPages({
        client,
        resource: 'product_offer',
        filters,
        signal,
        firstPage: startPage,
        lastAllowed: cap,
        width: pagesInFlight(account.otherRps),
        onCount: (c) => {
          counters.pages_total = Math.max(counters.pages_total ?? 0, Math.min(Math.max(c.pages, startPage - 1), cap));
        },
        onPage: async (items, page) => {
          const { counts } = await run.store(items, parseOffer, (tx, rows) => upsertOffers(tx, account.name, rows, scanRunId));
          counters.pages_done++;
          run.count(items.length, counts);
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
      counters.items_deleted = await softDeleteMissing(ctx, scanRunId);
      await run.progress();
      return { note: 'complete scan' };
    }
    if (scanRunId !== null) await dropScan(sql, scanRunId);
    if (capped) log.warn({ maxPages: account.maxPages }, 'scan stopped at EMAG_<ACCOUNT>_MAX_PAGES; nothing was soft-deleted');
    return { note: capped ? 'capped by max pages' : selective ? 'selective scan' : 'incremental scan' };
  };
}

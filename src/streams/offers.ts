/**
 * The offers stream: pages through `product_offer/read` with several pages in flight (the rate
 * budget, not latency, sets the pace), upserts each page in one transaction, and soft-deletes what a
 * completed full scan did not see.
 */
import { dropScan, finishFullScan, upsertOffers } from '../db/offers.ts';
import { latestRun } from '../db/runs.ts';
import { EmagError } from '../emag/errors.ts';
import { parseAll, parseOffer } from '../emag/records.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** eMAG's page size ceiling. */
export const PAGE_SIZE = 100;

/** Filters of a selective scan (any of product_offer/read's). A filtered scan never soft-deletes. */
export type OfferFilters = Partial<Record<'id' | 'status' | 'part_number' | 'part_number_key' | 'general_stock' | 'estimated_stock', string | number>>;


/** Runs an offers scan. `filters` makes it selective. */
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

    const { pages } = await client.count('product_offer', filters, signal);
    const cap = account.maxPages > 0 ? startPage - 1 + account.maxPages : Number.POSITIVE_INFINITY;
    counters.pages_total = Math.min(Math.max(pages, startPage - 1), cap);
    await run.progress({ page: startPage - 1 });

    // Only a full, unfiltered scan from page 1 may decide what no longer exists.
    const scanRunId = ctx.mode === 'full' && !selective && startPage === 1 ? run.id : null;
    let lastPage = Math.min(Math.max(pages, startPage), cap);
    let nextPage = startPage;
    let endSeen = false;
    let capped = false;
    let failure: unknown = null;
    const committed = new Set<number>();
    let prefix = startPage - 1;

    const worker = async () => {
      while (!endSeen && failure === null && !signal.aborted && nextPage <= lastPage) {
        const page = nextPage++;
        let items: unknown[];
        try {
          const results = await client.read<unknown>('product_offer', { ...filters, currentPage: page, itemsPerPage: PAGE_SIZE }, signal);
          if (!Array.isArray(results)) {
            throw new EmagError('invalid_response', `results of page ${page} is not a list`, account.name, 'product_offer', 'read');
          }
          items = results;
        } catch (err) {
          if (!signal.aborted) failure ??= err;
          return;
        }
        if (items.length < PAGE_SIZE) endSeen = true;
        else if (page === lastPage) {
          // The count may be stale: a full last page means there may be more.
          if (lastPage < cap) lastPage++;
          else capped = true;
        }
        const { rows, bad } = parseAll(items, parseOffer);
        let counts: Awaited<ReturnType<typeof upsertOffers>>;
        try {
          counts = await sql.begin(async (tx) => {
            await run.quarantine(tx, bad);
            return upsertOffers(tx, account.name, rows, scanRunId);
          });
        } catch (err) {
          failure ??= err;
          return;
        }
        counters.pages_done++;
        counters.items_seen += items.length;
        counters.items_inserted += counts.inserted;
        counters.items_updated += counts.updated;
        counters.items_unchanged += counts.unchanged;
        if (counters.pages_total !== null && page > counters.pages_total) counters.pages_total = page;
        committed.add(page);
        while (committed.has(prefix + 1)) committed.delete(++prefix);
        await run.progress({ page: prefix });
      }
    };

    // Enough pages in flight to keep the budget busy at up to ~2 s latency; the budget paces them.
    const inFlight = Math.max(2, Math.ceil(account.otherRps * 2));
    await Promise.all(Array.from({ length: inFlight }, worker));

    if (failure !== null) {
      // Committed pages stay; the scan is incomplete, so nothing is soft-deleted.
      if (scanRunId !== null) await dropScan(sql, scanRunId);
      throw failure;
    }
    if (signal.aborted) {
      if (scanRunId !== null) await dropScan(sql, scanRunId);
      return { note: `cancelled after ${counters.pages_done} pages` };
    }
    const complete = endSeen && !capped;
    if (scanRunId !== null && complete) {
      counters.items_deleted = await finishFullScan(sql, account.name, scanRunId);
      await run.progress();
      return { note: 'complete scan' };
    }
    if (scanRunId !== null) await dropScan(sql, scanRunId);
    if (capped) log.warn({ maxPages: account.maxPages }, 'scan stopped at EMAG_<ACCOUNT>_MAX_PAGES; nothing was soft-deleted');
    return { note: capped ? 'capped by max pages' : selective ? 'selective scan' : 'incremental scan' };
  };
}

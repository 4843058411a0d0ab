/**
 * The offers stream: pages through `product_offer/read` with several pages in flight (the rate
 * budget, not latency, sets the pace), upserts each page in one transaction, and soft-deletes what a
 * completed full scan did not see.
 */
import { dropScan, finishFullScan, markSeen, unseenOffers, upsertOffers } from '../db/offers.ts';
import { latestRun } from '../db/runs.ts';
import { EmagError } from '../emag/errors.ts';
import type { EmagClient } from '../emag/client.ts';
import { type OfferRow, parseAll, parseOffer } from '../emag/records.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** eMAG's page size ceiling. */
export const PAGE_SIZE = 100;

/** Filters of a selective scan (any of product_offer/read's). A filtered scan never soft-deletes. */
export type OfferFilters = Partial<Record<'id' | 'status' | 'part_number' | 'part_number_key' | 'general_stock' | 'estimated_stock', string | number>>;


/** Runs an offers scan. `filters` makes it selective. */
/**
 * Reads offers by id: 100 ids in one `id` filter where eMAG takes a list (the doc does not say it
 * does), else one request per id. Records that cannot be parsed are left out.
 */
export async function readOffersById(client: EmagClient, ids: number[], signal?: AbortSignal): Promise<Map<number, OfferRow>> {
  const found = new Map<number, OfferRow>();
  const one = async (id: number) => {
    for (const row of parseAll(asList(await client.read<unknown>('product_offer', { id, currentPage: 1, itemsPerPage: 1 }, signal)), parseOffer).rows) {
      if (row.id === id) found.set(id, row);
    }
  };
  for (let i = 0; i < ids.length; i += PAGE_SIZE) {
    const chunk = ids.slice(i, i + PAGE_SIZE);
    const asked = new Set(chunk);
    let rows: OfferRow[];
    try {
      rows = parseAll(asList(await client.read<unknown>('product_offer', { id: chunk, currentPage: 1, itemsPerPage: PAGE_SIZE }, signal)), parseOffer).rows;
    } catch (err) {
      if (!(err instanceof EmagError) || err.kind !== 'rejected' || chunk.length === 1) throw err;
      for (const id of chunk) await one(id);
      continue;
    }
    // Offers we did not ask for mean the list filter was ignored: ask one by one instead.
    if (rows.some((r) => !asked.has(r.id))) {
      for (const id of chunk) await one(id);
      continue;
    }
    for (const row of rows) found.set(row.id, row);
  }
  return found;
}

function asList(results: unknown): unknown[] {
  return Array.isArray(results) ? results : [];
}

/**
 * After a complete scan: the offers the scan did not see are read once more by id before they are
 * soft-deleted, because offset paging skips an offer when others vanish from earlier pages mid-scan.
 * Returns how many were deleted.
 */
async function softDeleteMissing(ctx: StreamContext, scanRunId: number): Promise<number> {
  const { sql, client, account, signal } = ctx;
  const missing = await unseenOffers(sql, account.name, scanRunId);
  const still = await readOffersById(client, missing, signal);
  // Still on eMAG: counted as seen. Their values are left to the next scan (reads by id carry
  // some fields in another shape than scans do).
  if (still.size > 0) await markSeen(sql, scanRunId, [...still.keys()]);
  return finishFullScan(sql, account.name, scanRunId);
}

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
    // The count goes out with the first page rather than before it: at 1 s latency, waiting for it
    // would cost a second of budget.
    let total: { items: number; pages: number } | null = null;
    let lastPage = Math.min(startPage, cap);
    let failure: unknown = null;
    const counted = client.count('product_offer', filters, signal).then(
      (c) => {
        total = c;
        lastPage = Math.max(lastPage, Math.min(Math.max(c.pages, startPage), cap));
        counters.pages_total = Math.max(counters.pages_total ?? 0, Math.min(Math.max(c.pages, startPage - 1), cap));
      },
      (err) => {
        if (!signal.aborted) failure ??= err;
      },
    );
    let nextPage = startPage;
    /** A page shorter than asked was seen, or the count's last page was full and the count says that is all. */
    let exhausted = false;
    let capped = false;
    const committed = new Set<number>();
    let prefix = startPage - 1;

    const worker = async () => {
      while (!exhausted && failure === null && !signal.aborted) {
        if (nextPage > lastPage) {
          if (total === null) {
            await counted;
            continue;
          }
          break;
        }
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
        if (items.length < PAGE_SIZE) exhausted = true;
        else if (page === lastPage) {
          await counted;
          const t = total as { items: number } | null;
          if (t !== null && page === lastPage && page * PAGE_SIZE >= t.items) exhausted = true;
          // A full last page beyond what the count announced: the catalog grew, read on.
          else if (page === lastPage && lastPage < cap) lastPage++;
          else if (page === lastPage) capped = true;
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
    await counted;

    if (failure !== null) {
      // Committed pages stay; the scan is incomplete, so nothing is soft-deleted.
      if (scanRunId !== null) await dropScan(sql, scanRunId);
      throw failure;
    }
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

/**
 * The orders stream: reads `order/read` by `modifiedAfter`/`modifiedBefore` windows of at most 30 days
 * (eMAG rejects wider), from a cursor minus a lookback overlap, with several pages of a window in
 * flight so the orders budget, not latency, sets the pace. A window's cursor is committed once all
 * its pages are stored and a count check says none was missed; else the window is read again.
 */
import { getCheckpoint, setCheckpoint } from '../db/checkpoints.ts';
import { upsertOrders } from '../db/orders.ts';
import { type DateWindow, splitWindows, toEmagDate } from '../emag/dates.ts';
import { EmagError } from '../emag/errors.ts';
import { parseOrder } from '../emag/order-record.ts';
import { inPool, PAGE_SIZE, pagesInFlight, readList } from '../emag/pages.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** How far back a `full` orders run re-reads, whatever the cursor says (the nightly wide re-scan). */
export const RESCAN_DAYS = 3;
/** Re-reads of one window when its count says paging shifted while we read it. */
const WINDOW_ATTEMPTS = 3;

/** The orders cursor: every order modified up to `until` is committed. */
interface OrdersCursor {
  until: string;
}

/** An order's id as read, for the paging guard and the window's tally (quarantined records count: they were in the window). */
function orderKey(item: unknown): number | undefined {
  const id = Number((item as { id?: unknown })?.id);
  return Number.isInteger(id) ? id : undefined;
}

/**
 * Reads every page of one window (`body`) with several in flight, handing each to `onPage` as it
 * arrives, and returns the keys of every order read. As a sequential read would, it goes on until a
 * short page: a full page always lets the next one be read. The window's count, asked once page 1
 * comes back full (a window of one page costs no count), lets the pool read ahead to the count's
 * last page; a full page there is followed by one more, which is how a window that grew is read to
 * its end. The guard against paging that does not advance checks pages in page order, whatever order
 * they arrive in, so the page it names is the one a sequential read would have named.
 */
async function readWindowPages(ctx: StreamContext, body: Record<string, unknown>, onPage: (items: unknown[]) => Promise<void>): Promise<Set<number>> {
  const { client, account, signal } = ctx;
  const keys = new Set<number>();
  /** The highest page that may be asked for (raised by the count and by full pages), and the first short page. */
  let last = 1;
  let end = Number.POSITIVE_INFINITY;
  let nextPage = 1;
  /** Pages asked for whose answer has not been looked at yet: each may raise `last`. */
  let unanswered = 0;
  let counted: Promise<void> | null = null;
  let counting = false;
  /** Set on the first failure (a page, the count, the guard) so that no one waits for pages any more. */
  let failed = false;
  /** The keys of answered pages the guard has not reached yet (it goes in page order), and whether each page was full. */
  const answered = new Map<number, { keys: Array<number | undefined>; full: boolean }>();
  let checked = 0;
  let pastShort = false;
  // Workers with nothing to ask for wait here until an answer or the count changes what is left.
  let wake = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const bump = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };

  const next = async (): Promise<number | undefined> => {
    for (;;) {
      if (failed || signal.aborted || nextPage > end) return undefined;
      if (nextPage <= last) {
        unanswered++;
        return nextPage++;
      }
      // Nothing left to raise `last`: the window is read.
      if (unanswered === 0 && !counting) return undefined;
      await changed;
    }
  };

  /** Moves the guard over every answered page it can reach; throws on a full page of nothing new. */
  const guard = () => {
    while (answered.has(checked + 1)) {
      const page = ++checked;
      const { keys: pageKeys, full } = answered.get(page) as { keys: Array<number | undefined>; full: boolean };
      answered.delete(page);
      const before = keys.size;
      for (const key of pageKeys) if (key !== undefined) keys.add(key);
      // Pages past the first short one are read only because they were in flight; a sequential read never asked for them.
      if (full && !pastShort && keys.size === before) {
        throw new EmagError('invalid_response', `page ${page} of order/read repeated records already read: paging is not advancing`, client.account, 'order', 'read');
      }
      if (!full) pastShort = true;
    }
  };

  /** Asks the window's count, once: it tells the pool how far it may read ahead. */
  const askCount = () => {
    counting = true;
    counted = client
      .count('order', body, signal)
      .then(
        (c) => {
          // From the items, not noOfPages: that one is in whatever page size the count was asked with.
          last = Math.max(last, Math.ceil(c.items / PAGE_SIZE));
        },
        (err) => {
          failed = true;
          throw err;
        },
      )
      .finally(() => {
        counting = false;
        bump();
      });
    // A failed count is thrown once the pool has ended; it must not go unhandled meanwhile.
    counted.catch(() => {});
  };

  const read = async (page: number) => {
    try {
      let items: unknown[];
      try {
        items = await readList(client, 'order', { ...body, currentPage: page, itemsPerPage: PAGE_SIZE }, signal, page);
        // Only the keys wait for the guard: a page stuck in retries must not hold the pages after it in memory.
        answered.set(page, { keys: items.map(orderKey), full: items.length >= PAGE_SIZE });
        guard();
        if (items.length < PAGE_SIZE) end = Math.min(end, page);
        else last = Math.max(last, page + 1);
        if (page === 1 && items.length >= PAGE_SIZE) askCount();
      } finally {
        unanswered--;
        bump();
      }
      await onPage(items);
    } catch (err) {
      failed = true;
      throw err;
    }
  };

  try {
    await inPool(pagesInFlight(account.ordersRps), signal, next, read);
  } finally {
    await (counted as Promise<void> | null)?.catch(() => {});
  }
  signal.throwIfAborted();
  // A failed count ends the read like a failed page: the pool stopped handing out pages for it.
  if (counted !== null) await counted;
  return keys;
}

/**
 * Reads every page of one window, storing each, then moves the cursor past it. Returns false (cursor
 * left before the window) when eMAG's count still says the window holds more than was read.
 */
async function readWindow(ctx: StreamContext, w: DateWindow, filter: Record<string, unknown>, cursor: OrdersCursor): Promise<boolean> {
  const { client, account, run, signal } = ctx;
  const body = { ...filter, modifiedAfter: toEmagDate(w.from), modifiedBefore: toEmagDate(w.to) };
  for (let attempt = 1; ; attempt++) {
    const seen = await readWindowPages(ctx, body, async (items) => {
      const { counts } = await run.store(items, parseOrder, (tx, rows) => upsertOrders(tx, account.name, rows));
      run.count(items.length, counts);
      run.counters.pages_done++;
      await run.progress(cursor);
    });
    // Offset paging shifts while orders leave or enter the window as we read it. eMAG's count of the
    // window, taken afterwards, catches a read that came out short; the lookback overlap and the
    // nightly re-scan catch the rest.
    const { items: expected } = await client.count('order', body, signal);
    if (expected <= seen.size) break;
    if (attempt >= WINDOW_ATTEMPTS) {
      ctx.log.warn({ window: body, expected, seen: seen.size }, 'orders window still short after re-reads; the cursor stays before it');
      return false;
    }
    ctx.log.info({ window: body, expected, seen: seen.size }, 'orders window changed while read; reading it again');
  }
  // Never backwards: a full re-scan reads windows the cursor has already passed.
  if (w.to > new Date(cursor.until)) cursor.until = w.to.toISOString();
  await ctx.sql.begin((tx) => setCheckpoint(tx, account.name, 'orders', cursor));
  await run.progress(cursor);
  return true;
}

/** Runs the orders stream: `incremental` from the cursor, `full` also re-reads the last RESCAN_DAYS days. */
export function ordersStream() {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, config, account, run, signal } = ctx;
    const saved = await getCheckpoint<OrdersCursor>(sql, account.name, 'orders');
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const lookbackMs = config.ordersLookbackMinutes * 60_000;
    let from = saved ? new Date(new Date(saved.until).getTime() - lookbackMs) : config.ordersStartDate;
    if (ctx.mode === 'full' && saved) from = new Date(Math.min(from.getTime(), now.getTime() - RESCAN_DAYS * 86_400_000));
    const windows = splitWindows(from, now);
    run.counters.pages_total = null;
    const cursor: OrdersCursor = { until: saved?.until ?? from.toISOString() };
    // FBE accounts must ask for type 2: without `type`, eMAG answers only seller-fulfilled orders.
    const filter = { type: account.orderType };
    for (const w of windows) {
      if (signal.aborted) break;
      // A window that stays short ends the run: later windows would move the cursor past it.
      if (!(await readWindow(ctx, w, filter, cursor))) {
        return { status: 'partial', note: `window from ${w.from.toISOString()} is still short after ${WINDOW_ATTEMPTS} reads; the next run reads it again` };
      }
    }
    return { note: `${windows.length} window(s) from ${from.toISOString()}` };
  };
}

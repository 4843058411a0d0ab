/**
 * The orders stream: reads `order/read` by `modifiedAfter`/`modifiedBefore` windows of at most 30 days
 * (eMAG rejects wider), from a cursor minus a lookback overlap, with several pages of a window in
 * flight so the orders budget, not latency, sets the pace. A window's cursor is committed once all
 * its pages are stored and a count check says none was missed; else the window is read again.
 * Two windows are read at once, so the next one's pages keep the budget busy while the last pages
 * of one are stored and counted; the cursor still passes the windows in order.
 */
import { getCheckpoint, setCheckpoint } from '../db/checkpoints.ts';
import { upsertOrders } from '../db/orders.ts';
import { type DateWindow, splitWindows, toEmagDate } from '../emag/dates.ts';
import { parseOrder } from '../emag/order-record.ts';
import { linkedAbort } from '../linked-abort.ts';
import { pagesInFlight, readPagesPooled } from '../emag/pages.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** How far back a `full` orders run re-reads, whatever the cursor says (the nightly wide re-scan). */
export const RESCAN_DAYS = 3;
/** Re-reads of one window when its count says paging shifted while we read it. */
const WINDOW_ATTEMPTS = 3;
/**
 * Windows read at once. At a window's end its last stores, its count check and the next window's
 * first page (alone until it comes back full) each left the budget idle; measured, a slow store
 * there held the whole backfill for 0.5–3 s. A second window in flight fills those gaps.
 */
const WINDOWS_IN_FLIGHT = 2;

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
 * Reads and stores every page of one window. Returns false when eMAG's count still says the window
 * holds more than was read, after WINDOW_ATTEMPTS reads: the cursor must then stay before it.
 */
async function readWindow(ctx: StreamContext, w: DateWindow, filter: Record<string, unknown>, cursor: OrdersCursor, signal: AbortSignal): Promise<boolean> {
  const { client, account, run } = ctx;
  const body = { ...filter, modifiedAfter: toEmagDate(w.from), modifiedBefore: toEmagDate(w.to) };
  for (let attempt = 1; ; attempt++) {
    const seen = await readPagesPooled({
      client,
      resource: 'order',
      body,
      signal,
      width: pagesInFlight(account.ordersRps),
      keyOf: orderKey,
      onPage: async (items) => {
        const { counts } = await run.store(items, parseOrder, (tx, rows) => upsertOrders(tx, account.name, rows));
        run.count(items.length, counts);
        run.counters.pages_done++;
        await run.progress(cursor);
      },
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
  return true;
}

/** Moves the cursor past a window read in full. */
async function commitWindow(ctx: StreamContext, w: DateWindow, cursor: OrdersCursor): Promise<void> {
  // Never backwards: a full re-scan reads windows the cursor has already passed.
  if (w.to > new Date(cursor.until)) cursor.until = w.to.toISOString();
  await ctx.sql.begin((tx) => setCheckpoint(tx, ctx.account.name, 'orders', cursor));
  await ctx.run.progress(cursor);
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
    // The windows' own signal: a window that fails or stays short stops the one read beside it.
    // Each window keeps up to pagesInFlight requests waiting for the budget, each listening.
    const own = linkedAbort(signal, 64 * WINDOWS_IN_FLIGHT);
    const reads: Promise<boolean>[] = [];
    const startNext = () => {
      const read = readWindow(ctx, windows[reads.length], filter, cursor, own.signal);
      // Looked at in window order: one failing before its turn must not count as unhandled meanwhile.
      read.catch(() => {});
      reads.push(read);
    };
    try {
      for (let i = 0; i < windows.length; i++) {
        while (reads.length < Math.min(windows.length, i + WINDOWS_IN_FLIGHT) && !own.signal.aborted) startNext();
        if (reads.length <= i) break;
        // A window that stays short ends the run: later windows would move the cursor past it.
        if (!(await reads[i])) {
          return { status: 'partial', note: `window from ${windows[i].from.toISOString()} is still short after ${WINDOW_ATTEMPTS} reads; the next run reads it again` };
        }
        await commitWindow(ctx, windows[i], cursor);
      }
    } finally {
      // What was read beside a window that ended the run is stored but not committed: the next run reads it again.
      if (!own.signal.aborted) own.controller.abort(new Error('orders run ended'));
      own.unlink();
      await Promise.allSettled(reads);
    }
    return { note: `${windows.length} window(s) from ${from.toISOString()}` };
  };
}

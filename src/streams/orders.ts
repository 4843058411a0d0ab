/**
 * The orders stream: reads `order/read` by `modifiedAfter`/`modifiedBefore` windows of at most 30 days
 * (eMAG rejects wider), from a cursor minus a lookback overlap, with several pages of a window in
 * flight so the orders budget, not latency, sets the pace. A window's cursor is committed once all
 * its pages are stored and a count check says none was missed; else the window is read again.
 */
import { getCheckpoint, setCheckpoint } from '../db/checkpoints.ts';
import { upsertOrders } from '../db/orders.ts';
import { type DateWindow, splitWindows, toEmagDate } from '../emag/dates.ts';
import { parseOrder } from '../emag/order-record.ts';
import { pagesInFlight, readPagesPooled } from '../emag/pages.ts';
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
 * Reads every page of one window, storing each, then moves the cursor past it. Returns false (cursor
 * left before the window) when eMAG's count still says the window holds more than was read.
 */
async function readWindow(ctx: StreamContext, w: DateWindow, filter: Record<string, unknown>, cursor: OrdersCursor): Promise<boolean> {
  const { client, account, run, signal } = ctx;
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

/**
 * The callbacks stream: drains an account's queued eMAG callbacks, reading exactly the record each
 * one names under the account's budget — a new order is read, stored and (when new and
 * auto-acknowledge is on) acknowledged through the acknowledgement ledger, so exactly once; a
 * cancellation re-reads the order; a return re-reads that return; an AWB change re-reads the AWB and
 * its order. It is poked the moment a callback is queued, and also runs on a schedule, which
 * re-reads AWBs still on their way until they are delivered or returned.
 *
 * Reads are stored under the no-stale-overwrite rule (a read older than the stored record is not
 * applied), so a slow poll and a callback's read can race safely.
 */
import { awbsToRecheck, orderOfAwb, upsertAwbs } from '../db/awbs.ts';
import { type QueuedCallback, claimCallbacks, completeCallback, releaseCallback } from '../db/callbacks.ts';
import { mirroredOrder, upsertOrders } from '../db/orders.ts';
import { upsertRmas } from '../db/rmas.ts';
import { parseAwb } from '../emag/awb-record.ts';
import { readOrder, readRma } from '../emag/lookups.ts';
import { parseOrder } from '../emag/order-record.ts';
import { readList } from '../emag/pages.ts';
import { parseRma } from '../emag/rma-record.ts';
import { coerceError } from '../errors.ts';
import { acknowledgeOrder } from '../outbox/acknowledge.ts';
import type { StreamContext, StreamFn, StreamOutcome } from './run.ts';

/** Rows claimed at a time. */
const CLAIM = 50;
/** Claims per run, so one run ends and shows its figures even under a steady stream of callbacks. */
const MAX_CLAIMS = 40;
/** Reads in flight at once: enough to keep up with the budget whatever eMAG's latency. */
const CONCURRENCY = 6;
/** A row whose read failed this often is dropped: the scheduled poll reads the record anyway. */
const MAX_ATTEMPTS = 5;
/** An AWB on its way is re-read when its status is older than this. */
const AWB_RECHECK_MS = 30 * 60_000;
/** AWBs re-read per run. */
const AWB_RECHECK_LIMIT = 20;

/** When this process started: rows claimed by an earlier process (a crash) are claimed again. */
const PROCESS_STARTED = new Date();

/** Runs `work` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Reads one order of the account's type and stores it, counted in the run; returns its status in
 * the mirror afterwards (the stored one when the read was stale), or null when eMAG does not know it.
 */
async function readAndStoreOrder(ctx: StreamContext, orderId: number): Promise<number | null> {
  const order = await readOrder(ctx.client, orderId, ctx.account.orderType, ctx.signal);
  if (!order) return null;
  const { counts } = await ctx.run.store([order], parseOrder, (tx, rows) => upsertOrders(tx, ctx.account.name, rows));
  ctx.run.count(1, counts);
  return (await mirroredOrder(ctx.sql, ctx.account.name, orderId))?.status ?? null;
}

/** Reads one return by emag_id and stores it, counted in the run. */
async function readAndStoreReturn(ctx: StreamContext, emagId: number): Promise<void> {
  const rma = await readRma(ctx.client, emagId, ctx.account.orderType, ctx.signal);
  if (!rma) return;
  const { counts } = await ctx.run.store([rma], parseRma, (tx, rows) => upsertRmas(tx, ctx.account.name, rows));
  ctx.run.count(1, counts);
}

/** Reads one AWB by its emag_id and stores it; null when eMAG does not answer for it. */
async function readAwb(ctx: StreamContext, emagId: number): Promise<ReturnType<typeof parseAwb> | null> {
  const results = await readList(ctx.client, 'awb', { emag_id: emagId }, ctx.signal);
  const awb = results.length > 0 ? parseAwb(results[0]) : null;
  if (awb) await upsertAwbs(ctx.sql, ctx.account.name, [awb]);
  return awb;
}

/** Reads what one queued callback names, and acknowledges a new order. */
async function handle(ctx: StreamContext, row: QueuedCallback): Promise<void> {
  const { sql, account, config } = ctx;
  switch (row.event) {
    case 'order': {
      const status = await readAndStoreOrder(ctx, row.target_id);
      if (status === 1 && config.autoAcknowledge && account.orderType === 3) {
        const ack = await acknowledgeOrder(ctx, row.target_id);
        if (ack.state === 'failed') ctx.log.warn({ orderId: row.target_id, error: ack.error }, 'callback: eMAG refused the acknowledgement');
      }
      return;
    }
    case 'cancellation':
      await readAndStoreOrder(ctx, row.target_id);
      return;
    case 'return':
      await readAndStoreReturn(ctx, row.target_id);
      return;
    case 'awb': {
      let orderId = row.target_id > 0 ? row.target_id : null;
      const awbId = row.awb_id ?? (row.target_id < 0 ? -row.target_id : null);
      if (awbId !== null) {
        orderId ??= await orderOfAwb(sql, account.name, awbId);
        const awb = await readAwb(ctx, awbId);
        orderId ??= awb?.order_id ?? null;
      }
      if (orderId !== null) await readAndStoreOrder(ctx, orderId);
      return;
    }
  }
}

/** Re-reads AWBs still on their way whose status was last read a while ago. */
async function recheckAwbs(ctx: StreamContext): Promise<number> {
  const { sql, account, signal } = ctx;
  const ids = await awbsToRecheck(sql, account.name, new Date(Date.now() - AWB_RECHECK_MS), AWB_RECHECK_LIMIT);
  for (const id of ids) {
    if (signal.aborted) break;
    const awb = await readAwb(ctx, id);
    // An AWB eMAG no longer answers for is marked read, so it does not crowd out the others.
    if (!awb) await upsertAwbs(sql, account.name, [{ emag_id: id, order_id: null, rma_id: null, reservation_id: null, awb_number: null, awb_barcode: null, courier_account_id: null, courier_name: null, status_code: null, status_name: null, raw: null }]);
  }
  return ids.length;
}

/** The callbacks stream. */
export function callbacksStream(opts: { claimant?: string } = {}): StreamFn {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, account, run, signal, log } = ctx;
    const claimant = opts.claimant ?? `pid-${process.pid}`;
    let handled = 0;
    let failed = 0;
    for (let round = 0; round < MAX_CLAIMS && !signal.aborted; round++) {
      const rows = await claimCallbacks(sql, account.name, claimant, CLAIM, PROCESS_STARTED);
      if (rows.length === 0) break;
      await pool(rows, CONCURRENCY, async (row) => {
        if (signal.aborted) {
          await releaseCallback(sql, row.id, 'not read: the run was cancelled', null).catch(() => {});
          return;
        }
        try {
          await handle(ctx, row);
          await completeCallback(sql, row);
          handled++;
        } catch (err) {
          const message = coerceError(err).message;
          const dropped = await releaseCallback(sql, row.id, message, signal.aborted ? null : MAX_ATTEMPTS);
          if (signal.aborted) return;
          failed++;
          run.counters.items_failed++;
          log.warn({ event: row.event, id: row.target_id, attempts: row.attempts, dropped, err: message }, 'callback: the read failed');
        }
      });
      run.counters.pages_done++;
      await run.progress();
    }
    const rechecked = signal.aborted ? 0 : await recheckAwbs(ctx);
    return { note: `${handled} callback(s) read, ${failed} failed${rechecked ? `, ${rechecked} AWB(s) re-read` : ''}` };
  };
}

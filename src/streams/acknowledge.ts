/**
 * The acknowledge stream: new (status 1) seller-fulfilled orders are acknowledged once each, then
 * re-read, because eMAG may edit or cancel an order until it is acknowledged. Each acknowledgement is
 * recorded as `sending` before the call; after a crash, the order is read to learn whether it went
 * through, so no order is ever acknowledged twice.
 */
import { ackState, markAckEnded, markAckSending, ordersToAcknowledge } from '../db/orders.ts';
import { EmagError } from '../emag/errors.ts';
import { readOrder, storeOrders } from './orders.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** Seller-fulfilled orders: the only ones a seller acknowledges. */
const SELLER_FULFILLED = 3;

/** How one acknowledgement ended. */
export type AckResult = { state: 'done' | 'skipped' } | { state: 'failed'; error: string };

/** Reads an order from eMAG, stores it in the mirror (without counting it) and returns its status. */
async function currentStatus(ctx: StreamContext, orderId: number): Promise<number | null> {
  const order = await readOrder(ctx.client, orderId, SELLER_FULFILLED, ctx.signal);
  await storeOrders(ctx, order ? [order] : [], false);
  return order ? Number((order as { status?: unknown }).status) : null;
}

/**
 * Acknowledges one order through the `emag_order_acks` ledger, so that this stream and the commands
 * outbox (a cancellation acknowledges first) never acknowledge it twice. Re-reads the order after.
 */
export async function acknowledgeOrder(ctx: StreamContext, orderId: number): Promise<AckResult> {
  const { sql, account, client, signal } = ctx;
  const prior = await ackState(sql, account.name, orderId);
  if (prior === 'done') return { state: 'done' };
  if (prior === 'sending') {
    // A previous attempt's outcome is unknown: read before deciding to send again.
    const status = await currentStatus(ctx, orderId);
    if (status !== 1) {
      const state = status === 0 || status === null ? 'skipped' : 'done';
      await markAckEnded(sql, account.name, orderId, state);
      return { state };
    }
  }
  await markAckSending(sql, account.name, orderId);
  try {
    await client.call('order', `acknowledge/${orderId}`, {}, { idempotent: false, signal });
  } catch (err) {
    if (!(err instanceof EmagError) || err.kind !== 'rejected') throw err;
    // Refused (e.g. cancelled meanwhile): store what the order is now.
    const cancelled = (await currentStatus(ctx, orderId)) === 0;
    await markAckEnded(sql, account.name, orderId, cancelled ? 'skipped' : 'failed', err.message);
    return cancelled ? { state: 'skipped' } : { state: 'failed', error: err.message };
  }
  await markAckEnded(sql, account.name, orderId, 'done');
  // eMAG may have edited the order before it was acknowledged: mirror what it is now.
  await currentStatus(ctx, orderId);
  return { state: 'done' };
}

/** Runs the acknowledge stream. */
export function acknowledgeStream() {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, config, account, run, signal, log } = ctx;
    if (!config.autoAcknowledge) return { note: 'EMAG_AUTO_ACKNOWLEDGE=false' };
    if (account.orderType !== SELLER_FULFILLED) return { note: 'fulfilled by eMAG: nothing to acknowledge' };
    const candidates = await ordersToAcknowledge(sql, account.name);
    run.counters.pages_total = candidates.length;
    for (const order of candidates) {
      if (signal.aborted) break;
      run.counters.items_seen++;
      const result = await acknowledgeOrder(ctx, order.id);
      if (result.state === 'done') run.counters.items_updated++;
      if (result.state === 'failed') {
        run.counters.items_failed++;
        log.warn({ orderId: order.id, error: result.error }, 'eMAG refused the acknowledgement');
      }
      run.counters.pages_done++;
      await run.progress();
    }
    return { note: `${run.counters.items_updated} acknowledged` };
  };
}

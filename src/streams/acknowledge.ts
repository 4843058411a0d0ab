/**
 * The acknowledge stream: new (status 1) seller-fulfilled orders are acknowledged once each, then
 * re-read, because eMAG may edit or cancel an order until it is acknowledged. Each acknowledgement is
 * recorded as `sending` before the call; after a crash, the order is read to learn whether it went
 * through, so no order is ever acknowledged twice.
 */
import { markAckEnded, markAckSending, ordersToAcknowledge } from '../db/orders.ts';
import { EmagError } from '../emag/errors.ts';
import { readOrder, storeOrders } from './orders.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** Seller-fulfilled orders: the only ones a seller acknowledges. */
const SELLER_FULFILLED = 3;

/** Runs the acknowledge stream. */
export function acknowledgeStream() {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, config, account, client, run, signal, log } = ctx;
    if (!config.autoAcknowledge) return { note: 'EMAG_AUTO_ACKNOWLEDGE=false' };
    if (account.orderType !== SELLER_FULFILLED) return { note: 'fulfilled by eMAG: nothing to acknowledge' };
    const candidates = await ordersToAcknowledge(sql, account.name);
    run.counters.pages_total = candidates.length;
    for (const order of candidates) {
      if (signal.aborted) break;
      run.counters.items_seen++;
      if (order.ack_state === 'sending') {
        // A previous attempt's outcome is unknown: read before deciding to send again.
        const current = await readOrder(client, order.id, SELLER_FULFILLED, signal);
        await storeOrders(ctx, current ? [current] : [], false);
        const status = Number((current as { status?: unknown } | null)?.status);
        if (status !== 1) {
          await markAckEnded(sql, account.name, order.id, status === 0 || !current ? 'skipped' : 'done');
          run.counters.items_updated++;
          continue;
        }
      }
      await markAckSending(sql, account.name, order.id);
      try {
        await client.call('order', `acknowledge/${order.id}`, {}, { idempotent: false, signal });
      } catch (err) {
        if (!(err instanceof EmagError) || err.kind !== 'rejected') throw err;
        // Refused (e.g. cancelled meanwhile): store what the order is now, and move on.
        const current = await readOrder(client, order.id, SELLER_FULFILLED, signal);
        await storeOrders(ctx, current ? [current] : [], false);
        const cancelled = Number((current as { status?: unknown } | null)?.status) === 0;
        await markAckEnded(sql, account.name, order.id, cancelled ? 'skipped' : 'failed', err.message);
        if (!cancelled) {
          run.counters.items_failed++;
          log.warn({ orderId: order.id, error: err.message }, 'eMAG refused the acknowledgement');
        }
        continue;
      }
      await markAckEnded(sql, account.name, order.id, 'done');
      // eMAG may have edited the order before it was acknowledged: mirror what it is now.
      const current = await readOrder(client, order.id, SELLER_FULFILLED, signal);
      await storeOrders(ctx, current ? [current] : [], false);
      run.counters.items_updated++;
      run.counters.pages_done++;
      await run.progress();
    }
    return { note: `${run.counters.items_updated} acknowledged` };
  };
}

/**
 * The acknowledge stream: new (status 1) seller-fulfilled orders are acknowledged once each, then
 * re-read, because eMAG may edit or cancel an order until it is acknowledged. The ledger that
 * makes each acknowledgement happen once is the outbox's (src/outbox/acknowledge.ts), since an
 * order cancellation acknowledges first too.
 */
import { ordersToAcknowledge } from '../db/orders.ts';
import { acknowledgeOrder, SELLER_FULFILLED } from '../outbox/acknowledge.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

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

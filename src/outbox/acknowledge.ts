/**
 * Acknowledging an order through the `emag_order_acks` ledger, so that the acknowledge stream and
 * the outbox (a cancellation acknowledges first) never acknowledge it twice. Each acknowledgement
 * is recorded as `sending` before the call; after a crash, the order is read to learn whether it
 * went through. eMAG may edit an order until it is acknowledged, so it is re-read after.
 */
import { ackState, markAckEnded, markAckSending, upsertOrders } from '../db/orders.ts';
import { EmagError } from '../emag/errors.ts';
import { readOrder } from '../emag/lookups.ts';
import { parseOrder } from '../emag/order-record.ts';
import type { OutboxContext } from './context.ts';

/** Seller-fulfilled orders: the only ones a seller acknowledges or changes. */
export const SELLER_FULFILLED = 3;

/** How one acknowledgement ended. */
export type AckResult = { state: 'done' | 'skipped' } | { state: 'failed'; error: string };

/** Reads an order from eMAG and stores it in the mirror; null when eMAG does not return it. */
export async function refreshOrder(ctx: OutboxContext, orderId: number, type = SELLER_FULFILLED): Promise<Record<string, unknown> | null> {
  const order = (await readOrder(ctx.client, orderId, type, ctx.signal)) as Record<string, unknown> | null;
  if (order) await ctx.run.store([order], parseOrder, (tx, rows) => upsertOrders(tx, ctx.account.name, rows));
  return order;
}

/** The order's status on eMAG now (stored in the mirror too), or null. */
async function currentStatus(ctx: OutboxContext, orderId: number): Promise<number | null> {
  const order = await refreshOrder(ctx, orderId);
  return order ? Number(order.status) : null;
}

/**
 * Acknowledges one order (once, through the ledger) and re-reads it. The acknowledge stream, the
 * callbacks drain and the outbox may reach one order at the same moment; an account is synced by one
 * process only, so joining the attempt in flight makes it once.
 */
export function acknowledgeOrder(ctx: OutboxContext, orderId: number): Promise<AckResult> {
  const key = `${ctx.account.name}/${orderId}`;
  const running = inFlight.get(key);
  if (running) return running;
  const attempt = acknowledgeOnce(ctx, orderId).finally(() => inFlight.delete(key));
  inFlight.set(key, attempt);
  return attempt;
}

/** Acknowledgements in flight in this process, by account/order. */
const inFlight = new Map<string, Promise<AckResult>>();

async function acknowledgeOnce(ctx: OutboxContext, orderId: number): Promise<AckResult> {
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
    // eMAG's answer when the order is acknowledged already (an earlier call whose answer was lost, or
    // another integration): done, never retried — a retry loop on it would never end.
    if (/already in progress/i.test([err.message, ...err.messages].join(' '))) {
      await markAckEnded(sql, account.name, orderId, 'done');
      await currentStatus(ctx, orderId);
      return { state: 'done' };
    }
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

/**
 * Sending validated commands to eMAG and learning what happened. Offer and stock writes set absolute
 * values, so they may be sent again; order, invoice and return writes are not sent again blindly:
 * the target is read first, and an unknown outcome is settled by reading before any retry.
 */
import type { CommandOutcome, CommandRow } from '../db/commands.ts';
import { insertConflict, markSent } from '../db/commands.ts';
import { applyOfferChange, mirrorOffers } from '../db/offers.ts';
import { upsertRmas } from '../db/rmas.ts';
import { EmagError } from '../emag/errors.ts';
import { readOffersById, readRma } from '../emag/lookups.ts';
import { parseRma } from '../emag/rma-record.ts';
import { orderMoveAllowed } from '../emag/rules.ts';
import { acknowledgeOrder, refreshOrder } from './acknowledge.ts';
import { currentValue, decide, sameValue, type TargetValues } from './conflicts.ts';
import type { OutboxContext } from './context.ts';
import type { ValidCommand } from './validate.ts';

/** eMAG's limit of entities per save. */
export const SAVE_BATCH = 50;

type Valid<K extends ValidCommand['kind']> = Extract<ValidCommand, { kind: K }>;

/** A refusal is final; anything else (timeouts, 5xx after retries, network) leaves the outcome unknown. */
function refused(err: unknown): err is EmagError {
  return err instanceof EmagError && (err.kind === 'rejected' || err.kind === 'auth' || err.kind === 'ip_not_whitelisted');
}

function message(err: EmagError): string {
  return err.messages.length > 0 ? err.messages.join(' ') : err.message;
}

/** What each offer/stock command wants to set, as comparable numbers. */
function targetOf(v: Valid<'stock_update'> | Valid<'offer_update'>): TargetValues {
  return v.kind === 'stock_update' ? { stock: v.stock } : (v.fields as TargetValues);
}

/**
 * Applies the account's conflict strategy to offer and stock commands, and settles those already on
 * eMAG. Returns the commands to send and the outcomes of the others (done, conflicts, offers missing).
 */
export async function screenConflicts(
  ctx: OutboxContext,
  items: Array<{ cmd: CommandRow; v: Valid<'stock_update'> | Valid<'offer_update'> }>,
): Promise<{ send: typeof items; outcomes: Map<number, CommandOutcome> }> {
  const outcomes = new Map<number, CommandOutcome>();
  const strategy = ctx.account.conflictStrategy;
  const screened = (i: (typeof items)[number]) => !i.cmd.force && strategy !== 'local_priority';
  // A command sent before (a run cut short, a process killed mid-batch) may be on eMAG already,
  // whatever the strategy: read before sending it again, so nothing is sent twice.
  const checked = items.filter((i) => screened(i) || i.cmd.sent_at !== null);
  if (checked.length === 0) return { send: items, outcomes };
  const ids = [...new Set(checked.map((i) => i.v.id))];
  // Not written to the mirror: reads by id carry GPSR fields in another shape than scans, so the
  // stored record would flip between the two. The next scan brings the values.
  const offers = await readOffersById(ctx.client, ids, ctx.signal);
  const mirror = await mirrorOffers(ctx.sql, ctx.account.name, ids);
  const send: typeof items = [];
  for (const item of items) {
    if (!checked.includes(item)) {
      send.push(item);
      continue;
    }
    const offer = offers.get(item.v.id);
    if (!offer) {
      outcomes.set(item.cmd.id, { status: 'failed', error: `offer ${item.v.id} does not exist on eMAG` });
      continue;
    }
    const target = targetOf(item.v);
    // Already what the command asks (e.g. sent before an earlier run was cut short): nothing to send.
    if (Object.entries(target).every(([f, v]) => sameValue(v, currentValue(offer, f)))) {
      outcomes.set(item.cmd.id, { status: 'done', result: { ...target, note: 'already on eMAG' } });
      continue;
    }
    if (!screened(item)) {
      send.push(item);
      continue;
    }
    // When eMAG changed: when the mirror learned its current values, or now if the mirror has not yet.
    const known = mirror.get(item.v.id);
    const mirrorHasIt = known !== undefined && Object.keys(target).every((f) => sameValue(known.values[f], currentValue(offer, f)));
    const d = decide({
      strategy,
      target,
      seen: item.v.expected ?? item.cmd.baseline,
      offer,
      createdAt: item.cmd.created_at,
      emagChangedAt: mirrorHasIt ? known.updatedAt : new Date(),
    });
    if (d.action === 'send') {
      send.push(item);
      continue;
    }
    const result = { strategy, local: target, emag: d.emag, seen: d.seen };
    if (d.park) {
      await insertConflict(ctx.sql, { commandId: item.cmd.id, account: ctx.account.name, offerId: item.v.id, local: target, emag: d.emag, baseline: d.seen });
      outcomes.set(item.cmd.id, { status: 'conflict', error: `${d.reason}; parked for a person (emag-sync conflicts list)`, result });
    } else {
      outcomes.set(item.cmd.id, { status: 'conflict', error: `${d.reason}; eMAG's value kept (${strategy})`, result });
    }
  }
  return { send, outcomes };
}

/** `PATCH offer_stock/{id}`; the mirror takes the new stock when eMAG accepts it. */
export async function sendStock(ctx: OutboxContext, cmd: CommandRow, v: Valid<'stock_update'>): Promise<CommandOutcome> {
  await markSent(ctx.sql, [cmd.id]);
  try {
    await ctx.client.call('offer_stock', String(v.id), { stock: v.stock }, { method: 'PATCH', idempotent: true, signal: ctx.signal });
  } catch (err) {
    if (refused(err)) return { status: 'failed', error: message(err) };
    throw err;
  }
  await applyOfferChange(ctx.sql, ctx.account.name, v.id, { stock: v.stock });
  return { status: 'done', result: { stock: v.stock } };
}

/**
 * `offer/save` in batches of at most 50. A batch eMAG refuses is split in halves until the refused
 * entity stands alone, so one bad offer does not hold back the others. Each outcome is settled as
 * soon as it is known, so a later failure cannot lose what eMAG already accepted.
 */
export async function sendOfferBatch(
  ctx: OutboxContext,
  items: Array<{ cmd: CommandRow; v: Valid<'offer_update'> }>,
  settle: (cmd: CommandRow, outcome: CommandOutcome) => Promise<void>,
): Promise<void> {
  const send = async (batch: typeof items): Promise<void> => {
    if (batch.length === 0) return;
    await markSent(ctx.sql, batch.map((i) => i.cmd.id));
    try {
      await ctx.client.call('offer', 'save', batch.map((i) => ({ id: i.v.id, ...i.v.fields })), { idempotent: true, signal: ctx.signal });
    } catch (err) {
      if (!refused(err)) throw err;
      if (batch.length === 1) return settle(batch[0].cmd, { status: 'failed', error: message(err) });
      const half = Math.ceil(batch.length / 2);
      await send(batch.slice(0, half));
      await send(batch.slice(half));
      return;
    }
    for (const i of batch) {
      await applyOfferChange(ctx.sql, ctx.account.name, i.v.id, i.v.fields as Record<string, number>);
      await settle(i.cmd, { status: 'done', result: i.v.fields });
    }
  };
  for (let i = 0; i < items.length; i += SAVE_BATCH) await send(items.slice(i, i + SAVE_BATCH));
}

/**
 * Sends a write whose repetition would do harm, settling an unknown outcome by reading: `applied`
 * tells from eMAG's current state whether the write took effect.
 */
async function sendOnce(ctx: OutboxContext, cmd: CommandRow, send: () => Promise<unknown>, applied: () => Promise<boolean>): Promise<CommandOutcome | null> {
  await markSent(ctx.sql, [cmd.id]);
  try {
    await send();
    return null;
  } catch (err) {
    if (refused(err)) return { status: 'failed', error: message(err) };
    if (ctx.signal.aborted) throw err;
    // Timed out or failed after it may have reached eMAG: read before anything is sent again.
    try {
      if (await applied()) return null;
    } catch {
      return { status: 'pending', error: `outcome unknown (${(err as Error).message}); eMAG is read again before any resend` };
    }
    return { status: 'pending', error: `not applied (${(err as Error).message}); will try again` };
  }
}

/** Cancels or moves an order: read it, acknowledge it first if still new, then `order/save` the order as read, changed. */
export async function sendOrderChange(ctx: OutboxContext, cmd: CommandRow, v: Valid<'order_cancel'> | Valid<'order_status'>): Promise<CommandOutcome> {
  const target = v.kind === 'order_cancel' ? 0 : v.status;
  let order = await refreshOrder(ctx, v.orderId);
  if (!order) return { status: 'failed', error: `order ${v.orderId} was not found on eMAG` };
  if (Number(order.status) === target) return { status: 'done', result: { status: target, note: 'already in that status on eMAG' } };
  if (Number(order.status) === 1) {
    // New orders move only through acknowledge (1 → 2), also the first step of a cancellation; through
    // the acknowledge ledger, so the acknowledge stream does not send it a second time.
    const ack = await acknowledgeOrder(ctx, v.orderId);
    if (ack.state === 'failed') return { status: 'failed', error: `acknowledging first failed: ${ack.error}` };
    order = await refreshOrder(ctx, v.orderId);
    if (!order) return { status: 'failed', error: `order ${v.orderId} vanished after acknowledging` };
    if (Number(order.status) === target) return { status: 'done', result: { status: target } };
  }
  const from = Number(order.status);
  if (!orderMoveAllowed(from, target)) return { status: 'failed', error: `order ${v.orderId} is in status ${from} on eMAG and cannot move to ${target}` };
  const changed = { ...order, status: target, ...(v.kind === 'order_cancel' ? { reason_cancellation: v.reason } : {}) };
  const outcome = await sendOnce(
    ctx,
    cmd,
    () => ctx.client.call('order', 'save', [changed], { idempotent: false, signal: ctx.signal }),
    async () => Number((await refreshOrder(ctx, v.orderId))?.status) === target,
  );
  if (outcome) return outcome;
  await refreshOrder(ctx, v.orderId);
  return { status: 'done', result: { status: target, ...(v.kind === 'order_cancel' ? { reason: v.reason } : {}) } };
}

/** Attaches an invoice (or other document) to an order, once: an attachment with the same URL means done. */
export async function sendAttachment(ctx: OutboxContext, cmd: CommandRow, v: Valid<'invoice_attach'>): Promise<CommandOutcome> {
  const hasIt = async () => {
    const order = await refreshOrder(ctx, v.orderId, v.orderType);
    const attachments = Array.isArray(order?.attachments) ? (order.attachments as Array<{ url?: unknown }>) : [];
    return attachments.some((a) => a?.url === v.url);
  };
  if (await hasIt()) return { status: 'done', result: { url: v.url, note: 'already attached' } };
  const outcome = await sendOnce(
    ctx,
    cmd,
    () => ctx.client.call('order', 'attachments/save', [{ order_id: v.orderId, order_type: v.orderType, name: v.name, url: v.url, type: v.type }], { idempotent: false, signal: ctx.signal }),
    hasIt,
  );
  if (outcome) return outcome;
  await refreshOrder(ctx, v.orderId, v.orderType);
  return { status: 'done', result: { url: v.url, type: v.type } };
}

/** Changes a return's status with `rma/save`, reading it before and after. */
export async function sendRmaStatus(ctx: OutboxContext, cmd: CommandRow, v: Valid<'rma_status'>): Promise<CommandOutcome> {
  const current = async () => {
    const raw = await readRma(ctx.client, v.emagId, ctx.account.orderType, ctx.signal);
    if (!raw) return null;
    // Parsed outside the store: a return that cannot be parsed must stop the command, not read as missing.
    const rma = parseRma(raw);
    await ctx.sql.begin((tx) => upsertRmas(tx, ctx.account.name, [rma]));
    return rma;
  };
  const before = await current();
  if (!before) return { status: 'failed', error: `return ${v.emagId} was not found on eMAG` };
  if (before.request_status === v.requestStatus) return { status: 'done', result: { request_status: v.requestStatus, note: 'already in that status on eMAG' } };
  const outcome = await sendOnce(
    ctx,
    cmd,
    () => ctx.client.call('rma', 'save', [{ emag_id: v.emagId, request_status: v.requestStatus }], { idempotent: false, signal: ctx.signal }),
    async () => (await current())?.request_status === v.requestStatus,
  );
  if (outcome) return outcome;
  await current();
  return { status: 'done', result: { request_status: v.requestStatus } };
}

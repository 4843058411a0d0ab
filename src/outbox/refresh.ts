/**
 * Reading a command's target from eMAG into the mirror when the mirror does not have it yet (it
 * arrived after the last run): the order by id, or the return by emag_id.
 */
import { upsertRmas } from '../db/rmas.ts';
import { readRma } from '../emag/lookups.ts';
import { parseRma } from '../emag/rma-record.ts';
import { refreshOrder } from './acknowledge.ts';
import type { OutboxContext } from './context.ts';

/** Reads the order or return from eMAG and stores it; false when eMAG does not know it. */
export async function fetchTarget(ctx: OutboxContext, target: 'order' | 'return', id: number): Promise<boolean> {
  if (target === 'order') return (await refreshOrder(ctx, id, ctx.account.orderType)) !== null;
  const raw = await readRma(ctx.client, id, ctx.account.orderType, ctx.signal);
  if (!raw) return false;
  await ctx.run.store([raw], parseRma, (tx, rows) => upsertRmas(tx, ctx.account.name, rows));
  return true;
}

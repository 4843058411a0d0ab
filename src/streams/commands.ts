/**
 * The commands stream: drains an account's outbox. Claims pending commands with FOR UPDATE SKIP
 * LOCKED (safe with several daemons), validates each (invalid ones fail and never reach eMAG),
 * applies the conflict strategy to offer and stock changes, sends them under the account's budget,
 * and writes every outcome back on its row.
 */
import { type CommandOutcome, type CommandRow, claimCommands, failUnknownAccounts, finishCommand } from '../db/commands.ts';
import { coerceError } from '../errors.ts';
import { sendAwb } from '../outbox/awb.ts';
import { screenConflicts, sendAttachment, sendOfferBatch, sendOrderChange, sendRmaStatus, sendStock } from '../outbox/execute.ts';
import { fetchTarget } from '../outbox/refresh.ts';
import { InvalidCommand, NotMirrored, type ValidCommand, validateCommand } from '../outbox/validate.ts';
import type { StreamContext, StreamOutcome } from './run.ts';

/** Commands claimed at a time. */
const CLAIM = 200;
/** Claims per run, so one run ends and shows its figures even when the ERP never stops writing. */
const MAX_CLAIMS = 25;

/** When this process started: commands left `running` by an earlier process are stale and re-checked. */
const PROCESS_STARTED = new Date();

type Item<K extends ValidCommand['kind']> = { cmd: CommandRow; v: Extract<ValidCommand, { kind: K }> };

/**
 * Validates a command; when its order or return is not mirrored yet (it arrived after the last
 * run), reads it from eMAG by id first. Fails only when eMAG does not know it either.
 */
async function validateMirroring(ctx: StreamContext, cmd: CommandRow): Promise<ValidCommand> {
  try {
    return await validateCommand(ctx.sql, cmd);
  } catch (err) {
    if (!(err instanceof NotMirrored)) throw err;
    if (!(await fetchTarget(ctx, err.target, err.id))) throw new InvalidCommand(`${err.message}, and eMAG does not know it either`);
    try {
      return await validateCommand(ctx.sql, cmd);
    } catch (again) {
      if (again instanceof NotMirrored) throw new InvalidCommand(`${again.message}: eMAG's record could not be stored (see emag_quarantine)`);
      throw again;
    }
  }
}

/** Drains the account's outbox once. */
export function commandsStream(opts: { claimant?: string } = {}) {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, account, run, signal, log } = ctx;
    const claimant = opts.claimant ?? `pid-${process.pid}`;
    await failUnknownAccounts(sql, ctx.config.accounts.map((a) => a.name));
    const tally = { done: 0, failed: 0, conflict: 0, pending: 0 };

    const finish = async (cmd: CommandRow, outcome: CommandOutcome) => {
      const status = await finishCommand(sql, cmd.id, outcome);
      tally[status === 'cancelled' ? 'failed' : status]++;
      if (status === 'done') run.counters.items_updated++;
      if (status === 'failed') log.warn({ commandId: cmd.id, kind: cmd.kind, error: 'error' in outcome ? outcome.error : null }, 'command failed');
    };

    for (let round = 0; round < MAX_CLAIMS && !signal.aborted; round++) {
      // Claimed before we owned the account: by a previous owner (perhaps killed mid-batch) — stale.
      const claimed = await claimCommands(sql, account.name, claimant, CLAIM, ctx.ownedSince ?? PROCESS_STARTED);
      if (claimed.length === 0) break;
      run.counters.items_seen += claimed.length;
      run.counters.pages_done++;

      const stock: Item<'stock_update'>[] = [];
      const offers: Item<'offer_update'>[] = [];
      const others: Array<{ cmd: CommandRow; v: ValidCommand }> = [];
      for (const cmd of claimed) {
        try {
          const v = await validateMirroring(ctx, cmd);
          if (v.kind === 'stock_update') stock.push({ cmd, v });
          else if (v.kind === 'offer_update') offers.push({ cmd, v });
          else others.push({ cmd, v });
        } catch (err) {
          if (!(err instanceof InvalidCommand)) throw err;
          await finish(cmd, { status: 'failed', error: `invalid command: ${err.message}` });
        }
      }

      // Anything that fails from here on leaves unfinished commands pending, never lost.
      const unfinished = new Set(claimed.filter((c) => [...stock, ...offers, ...others].some((i) => i.cmd === c)));
      const settle = async (cmd: CommandRow, outcome: CommandOutcome) => {
        unfinished.delete(cmd);
        await finish(cmd, outcome);
      };
      try {
        const screened = await screenConflicts(ctx, [...stock, ...offers]);
        for (const [id, outcome] of screened.outcomes) await settle(claimed.find((c) => c.id === id)!, outcome);
        for (const item of screened.send) {
          if (item.v.kind !== 'stock_update' || signal.aborted) continue;
          await settle(item.cmd, await sendStock(ctx, item.cmd, item.v));
        }
        const batch = screened.send.filter((i): i is Item<'offer_update'> => i.v.kind === 'offer_update');
        await sendOfferBatch(ctx, batch, settle);
        for (const { cmd, v } of others) {
          if (signal.aborted) break;
          if (v.kind === 'order_cancel' || v.kind === 'order_status') await settle(cmd, await sendOrderChange(ctx, cmd, v));
          else if (v.kind === 'invoice_attach') await settle(cmd, await sendAttachment(ctx, cmd, v));
          else if (v.kind === 'rma_status') await settle(cmd, await sendRmaStatus(ctx, cmd, v));
          else if (v.kind === 'awb_create') await settle(cmd, await sendAwb(ctx, cmd, v.awb));
        }
      } catch (err) {
        // eMAG unreachable, rate limited beyond retries, or the daemon stopping: back to the queue.
        const reason = coerceError(err).message;
        for (const cmd of unfinished) await finish(cmd, { status: 'pending', error: `not settled yet: ${reason}` });
        unfinished.clear();
        if (!signal.aborted) throw err;
      }
      for (const cmd of unfinished) await finish(cmd, { status: 'pending', error: 'not sent: the run was cancelled' });
      await run.progress();
    }
    run.counters.items_failed = tally.failed;
    // Commands eMAG refused or that were invalid are the ERP's to fix, not a failure of this run.
    return { status: 'succeeded', note: `${tally.done} done, ${tally.failed} failed, ${tally.conflict} conflict, ${tally.pending} back to pending` };
  };
}

/**
 * The SQL that owns `emag_commands` and `emag_conflicts`: claiming with FOR UPDATE SKIP LOCKED (safe
 * with several daemons), recording outcomes, and the conflicts a person resolves.
 */
import type { Db, Sql } from './connect.ts';

/** The command kinds the daemon executes. */
export const COMMAND_KINDS = ['stock_update', 'offer_update', 'order_cancel', 'order_status', 'invoice_attach', 'rma_status'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** A row of emag_commands. */
export interface CommandRow {
  id: number;
  account: string;
  kind: string;
  payload: unknown;
  status: string;
  attempts: number;
  baseline: Record<string, unknown> | null;
  force: boolean;
  sent_at: Date | null;
  created_at: Date;
  error: string | null;
  result: unknown;
}

/** How a command ended. */
export type CommandOutcome =
  | { status: 'done'; result?: unknown }
  | { status: 'failed' | 'conflict' | 'cancelled'; error: string; result?: unknown }
  /** Back in the queue. `unsure`: it may have reached eMAG, so the next attempt reads before sending. */
  | { status: 'pending'; error: string; unsure?: boolean };

function toRow(r: CommandRow): CommandRow {
  return { ...r, id: Number(r.id) };
}

/**
 * Claims up to `limit` pending commands of an account, oldest first, and running ones left by a
 * crash (`stale`: claimed before this daemon's start), which must be checked before any resend.
 */
export async function claimCommands(sql: Sql, account: string, claimant: string, limit: number, staleBefore: Date): Promise<CommandRow[]> {
  const rows = await sql<CommandRow[]>`
    update emag_commands c set status = 'running', attempts = c.attempts + 1, claimed_by = ${claimant},
      claimed_at = now(), updated_at = now()
    where c.id in (
      select id from emag_commands
      where account = ${account}
        and (status = 'pending' or (status = 'running' and claimed_at < ${staleBefore}))
      order by id
      for update skip locked
      limit ${limit})
    returning c.*`;
  return rows.map(toRow).sort((a, b) => a.id - b.id);
}

/** Commands of accounts this daemon does not know: failed at once, with the reason. */
export async function failUnknownAccounts(sql: Sql, known: string[]): Promise<number> {
  const r = await sql`
    update emag_commands set status = 'failed', error = ${`unknown account (configured: ${known.join(', ')})`},
      updated_at = now(), done_at = now()
    where status = 'pending' and not (account = any(${sql.array(known)}::text[]))`;
  return r.count;
}

/** Marks a claimed command as about to be sent (committed before the request goes out). */
export async function markSent(db: Db, ids: number[]): Promise<void> {
  await db`update emag_commands set sent_at = now(), updated_at = now() where id = any(${db.array(ids)}::bigint[])`;
}

/** Records how a command ended. `pending` puts it back for a later drain (e.g. eMAG unreachable). */
export async function finishCommand(db: Db, id: number, outcome: CommandOutcome): Promise<void> {
  const error = 'error' in outcome ? outcome.error : null;
  const result = 'result' in outcome && outcome.result !== undefined ? db.json(outcome.result as never) : null;
  const final = outcome.status !== 'pending';
  await db`
    update emag_commands set status = ${outcome.status}, error = ${error}, result = ${result},
      sent_at = case when ${outcome.status === 'pending' && !('unsure' in outcome && outcome.unsure)} then null else sent_at end,
      updated_at = now(), done_at = ${final ? db`now()` : null}
    where id = ${id}`;
}

/** Pending, failed and conflicting commands per account and kind (for status and metrics). */
export async function commandCounts(db: Db): Promise<Array<{ account: string; kind: string; status: string; n: number }>> {
  const rows = await db<{ account: string; kind: string; status: string; n: string }[]>`
    select account, kind, status, count(*) as n from emag_commands
    where status in ('pending', 'running', 'failed', 'conflict') group by account, kind, status`;
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** A parked conflict. */
export interface ConflictRow {
  id: number;
  command_id: number;
  account: string;
  offer_id: number;
  local: Record<string, unknown>;
  emag: Record<string, unknown>;
  status: string;
  resolution: string | null;
  created_at: Date;
}

/** Parks a conflict for a person. */
export async function insertConflict(db: Db, c: { commandId: number; account: string; offerId: number; local: unknown; emag: unknown; baseline: unknown }): Promise<void> {
  await db`
    insert into emag_conflicts (command_id, account, offer_id, local, emag, baseline)
    values (${c.commandId}, ${c.account}, ${c.offerId}, ${db.json(c.local as never)}, ${db.json(c.emag as never)}, ${db.json((c.baseline ?? null) as never)})`;
}

/** Conflicts, open ones first. */
export async function listConflicts(db: Db, all = false): Promise<ConflictRow[]> {
  const rows = await db<ConflictRow[]>`
    select * from emag_conflicts ${all ? db`` : db`where status = 'open'`} order by status, id`;
  return rows.map((r) => ({ ...r, id: Number(r.id), command_id: Number(r.command_id), offer_id: Number(r.offer_id) }));
}

/**
 * Resolves a conflict: `local` sends the command anyway (back to pending, no further conflict check),
 * `emag` keeps eMAG's value and cancels the command. Returns false when there is no such open conflict.
 */
export async function resolveConflict(sql: Sql, id: number, keep: 'local' | 'emag'): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [c] = await tx<{ command_id: string }[]>`
      update emag_conflicts set status = 'resolved', resolution = ${keep}, resolved_at = now()
      where id = ${id} and status = 'open' returning command_id`;
    if (!c) return false;
    if (keep === 'local') {
      await tx`update emag_commands set status = 'pending', error = null, force = true,
        sent_at = null, updated_at = now(), done_at = null where id = ${c.command_id}`;
    } else {
      await tx`update emag_commands set status = 'cancelled', error = 'conflict resolved: eMAG value kept',
        updated_at = now(), done_at = now() where id = ${c.command_id}`;
    }
    return true;
  });
}

/**
 * The SQL that owns `emag_commands` and `emag_conflicts`: claiming with FOR UPDATE SKIP LOCKED (safe
 * with several daemons), recording outcomes, and the conflicts a person resolves.
 */
import type { Db, Sql } from './connect.ts';

/** The command kinds the daemon executes. */
export const COMMAND_KINDS = ['stock_update', 'offer_update', 'order_cancel', 'order_status', 'invoice_attach', 'rma_status', 'awb_create'] as const;
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
  /** Back in the queue, to be tried again after a backoff. */
  | { status: 'pending'; error: string };

/** A command that was sent this many times and still could not be settled fails. */
export const MAX_ATTEMPTS = 5;

function toRow(r: CommandRow): CommandRow {
  return { ...r, id: Number(r.id) };
}

/**
 * Claims up to `limit` pending commands of an account, oldest first, and running ones left by a
 * crash (`stale`: claimed before this daemon's start), which must be checked before any resend.
 */
export async function claimCommands(sql: Sql, account: string, claimant: string, limit: number, staleBefore: Date): Promise<CommandRow[]> {
  const rows = await sql<CommandRow[]>`
    update emag_commands c set status = 'running', claimed_by = ${claimant},
      claimed_at = now(), updated_at = now()
    where c.id in (
      select id from emag_commands
      where account = ${account}
        and ((status = 'pending' and (not_before is null or not_before <= now()))
          or (status = 'running' and claimed_at < ${staleBefore}))
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

/** Marks claimed commands as about to be sent (committed before the request goes out), counting the attempt. */
export async function markSent(db: Db, ids: number[]): Promise<void> {
  await db`update emag_commands set sent_at = now(), attempts = attempts + 1, updated_at = now() where id = any(${db.array(ids)}::bigint[])`;
}

/**
 * Records how a command ended and returns the status it was left in. `pending` puts it back after a
 * backoff (15 s doubling per send, at most 10 min); one that was already sent MAX_ATTEMPTS times fails.
 */
export async function finishCommand(db: Db, id: number, outcome: CommandOutcome): Promise<CommandOutcome['status']> {
  const error = 'error' in outcome ? outcome.error : null;
  const result = 'result' in outcome && outcome.result !== undefined ? db.json(outcome.result as never) : null;
  const pending = outcome.status === 'pending';
  const [row] = await db<{ status: CommandOutcome['status'] }[]>`
    update emag_commands set
      status = case when ${pending} and attempts >= ${MAX_ATTEMPTS} then 'failed' else ${outcome.status} end,
      error = case when ${pending} and attempts >= ${MAX_ATTEMPTS} then 'gave up after ' || attempts || ' sends: ' || ${error}::text else ${error}::text end,
      result = ${result},
      not_before = case when ${pending} then now() + make_interval(secs => least(600, 15 * power(2, greatest(attempts, 1) - 1))) end,
      updated_at = now(),
      done_at = case when ${pending} and attempts < ${MAX_ATTEMPTS} then null else now() end
    where id = ${id}
    returning status`;
  return row.status;
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
        not_before = null, updated_at = now(), done_at = null where id = ${c.command_id}`;
    } else {
      await tx`update emag_commands set status = 'cancelled', error = 'conflict resolved: eMAG value kept',
        updated_at = now(), done_at = now() where id = ${c.command_id}`;
    }
    return true;
  });
}

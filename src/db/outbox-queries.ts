/**
 * The console's reads and actions on `emag_commands`: the outbox list, and an operator's retry or
 * cancel of one command. Both actions change only a command in a state that allows it, in one
 * statement, so a command the daemon is sending at that moment is never touched.
 */
import type { Paging } from './catalog-queries.ts';
import type { Sql } from './connect.ts';

/** A command as the console lists it. */
export interface CommandListItem {
  id: number;
  account: string;
  kind: string;
  status: string;
  attempts: number;
  error: string | null;
  payload: unknown;
  created_at: Date;
  updated_at: Date;
  done_at: Date | null;
}

/** What the commands list may be narrowed to. */
export interface CommandFilter {
  account?: string;
  kind?: string;
  status?: string;
}

/** Commands matching the filter, newest first, with the total count. */
export async function listCommands(sql: Sql, f: CommandFilter, page: Paging): Promise<{ items: CommandListItem[]; total: number }> {
  const where = sql`where true
    ${f.account ? sql`and account = ${f.account}` : sql``}
    ${f.kind ? sql`and kind = ${f.kind}` : sql``}
    ${f.status ? sql`and status = ${f.status}` : sql``}`;
  const [rows, [{ total }]] = await Promise.all([
    sql<CommandListItem[]>`select id, account, kind, status, attempts, error, payload, created_at, updated_at, done_at
      from emag_commands ${where} order by id desc limit ${page.limit} offset ${page.offset}`,
    sql<{ total: number }[]>`select count(*)::int as total from emag_commands ${where}`,
  ]);
  return { items: rows.map((r) => ({ ...r, id: Number(r.id) })), total };
}

/** The status of a command, or null when there is none with that id. */
export async function commandStatus(sql: Sql, id: number): Promise<string | null> {
  const [row] = await sql<{ status: string }[]>`select status from emag_commands where id = ${id}`;
  return row?.status ?? null;
}

/**
 * Puts a failed command back in the queue with its attempts reset, and wakes the daemon; false when
 * it is not failed (any more).
 */
export async function retryCommand(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql<{ account: string }[]>`
    update emag_commands set status = 'pending', attempts = 0, error = null, not_before = null, claimed_by = null,
      claimed_at = null, updated_at = now(), done_at = null
    where id = ${id} and status = 'failed' returning account`;
  if (rows.length === 0) return false;
  await sql`select pg_notify('emag_commands', ${rows[0].account})`;
  return true;
}

/** Cancels a pending or failed command (an operator's decision); false when it is in another state. */
export async function cancelCommand(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql`
    update emag_commands set status = 'cancelled', error = 'cancelled by an operator', updated_at = now(), done_at = now()
    where id = ${id} and status in ('pending', 'failed') returning id`;
  return rows.length > 0;
}

/** The status of a parked conflict (`open`, `resolved`), or null when there is none with that id. */
export async function conflictStatus(sql: Sql, id: number): Promise<string | null> {
  const [row] = await sql<{ status: string }[]>`select status from emag_conflicts where id = ${id}`;
  return row?.status ?? null;
}

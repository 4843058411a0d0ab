/**
 * The SQL of retention: what the daily cleanup deletes for one account — old runs (keeping the
 * latest of each stream), old quarantined records, finished commands, the API call log and cleared
 * alerts — and the maintenance run row that records it.
 */
import type { Sql } from './connect.ts';

/** How long each kind of history is kept. */
export interface RetentionPolicy {
  /** Runs older than this many days go… @default 90 */
  runsDays: number;
  /** …except the latest this many of each stream. @default 50 */
  keepRunsPerStream: number;
  /** Quarantined records. @default 90 */
  quarantineDays: number;
  /** Done and cancelled commands (with their conflicts). @default 90 */
  commandsDays: number;
  /** The API call log and cleared alerts (EMAG_LOG_RETENTION_DAYS). @default 30 */
  logDays: number;
}

/** Rows deleted per table. */
export type Deleted = Record<string, number>;

/** The stream name of maintenance runs in `emag_sync_runs`. */
export const MAINTENANCE_STREAM = 'maintenance';

/**
 * Deletes one account's expired history, each table in its own statement (a long delete must not
 * hold every table at once). Alert history is pruned only once its table exists (migration 006).
 */
export async function pruneAccount(sql: Sql, account: string, p: RetentionPolicy): Promise<Deleted> {
  const deleted: Deleted = {};
  const runs = await sql`
    delete from emag_sync_runs r
    where r.account = ${account} and r.status <> 'running'
      and r.started_at < now() - make_interval(days => ${p.runsDays})
      and r.id not in (
        select id from (
          select id, row_number() over (partition by stream order by started_at desc, id desc) as n
          from emag_sync_runs where account = ${account}) latest
        where latest.n <= ${p.keepRunsPerStream})`;
  deleted.emag_sync_runs = runs.count;
  const quarantine = await sql`
    delete from emag_quarantine where account = ${account} and created_at < now() - make_interval(days => ${p.quarantineDays})`;
  deleted.emag_quarantine = quarantine.count;
  const commands = await sql`
    delete from emag_commands where account = ${account} and status in ('done', 'cancelled')
      and coalesce(done_at, updated_at) < now() - make_interval(days => ${p.commandsDays})`;
  deleted.emag_commands = commands.count;
  const calls = await sql`
    delete from emag_api_calls where account = ${account} and at < now() - make_interval(days => ${p.logDays})`;
  deleted.emag_api_calls = calls.count;
  // Alerts of no account (database down, …) go with whichever account's cleanup runs first.
  const cleared = await sql`
    delete from emag_alerts where (account = ${account} or account is null)
      and cleared_at < now() - make_interval(days => ${p.logDays})`;
  deleted.emag_alerts = cleared.count;
  return deleted;
}

/** When the account's last maintenance run started, or null. */
export async function lastMaintenance(sql: Sql, account: string): Promise<Date | null> {
  const [row] = await sql<{ at: Date }[]>`
    select max(started_at) as at from emag_sync_runs where account = ${account} and stream = ${MAINTENANCE_STREAM}`;
  return row?.at ?? null;
}

/** Records what a maintenance run deleted on its run row. */
export async function saveSummary(sql: Sql, runId: number, summary: { deleted: Deleted }): Promise<void> {
  await sql`update emag_sync_runs set summary = ${sql.json(summary)} where id = ${runId}`;
}

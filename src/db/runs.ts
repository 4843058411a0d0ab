/**
 * The SQL that owns `emag_sync_runs`: one row per run, updated as pages commit.
 */
import type { Sql } from './connect.ts';

/** How a run was started. */
export type RunTrigger = 'schedule' | 'manual' | 'cli' | 'failover';
/** Where a run ended (or `running`). */
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled' | 'interrupted';

/** The live figures of a run. */
export interface RunCounters {
  pages_done: number;
  pages_total: number | null;
  items_seen: number;
  items_inserted: number;
  items_updated: number;
  items_unchanged: number;
  items_deleted: number;
  items_failed: number;
  /** Reads older (`modified`) than the stored record, not applied. */
  items_stale: number;
  api_requests: number;
  rate_limit_waits: number;
}

/** A row of emag_sync_runs. */
export interface RunRow extends RunCounters {
  id: number;
  account: string;
  stream: string;
  mode: string;
  trigger: RunTrigger;
  status: RunStatus;
  started_at: Date;
  finished_at: Date | null;
  heartbeat_at: Date;
  checkpoint: unknown;
  error: string | null;
  error_kind: string | null;
}

/** Zeroed counters. */
export function emptyCounters(): RunCounters {
  return {
    pages_done: 0,
    pages_total: null,
    items_seen: 0,
    items_inserted: 0,
    items_updated: 0,
    items_unchanged: 0,
    items_deleted: 0,
    items_failed: 0,
    items_stale: 0,
    api_requests: 0,
    rate_limit_waits: 0,
  };
}

/** Inserts a `running` row and returns its id. */
export async function createRun(sql: Sql, r: { account: string; stream: string; mode: string; trigger: RunTrigger; instance?: string | null }): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    insert into emag_sync_runs (account, stream, mode, trigger, instance) values (${r.account}, ${r.stream}, ${r.mode}, ${r.trigger}, ${r.instance ?? null})
    returning id`;
  return Number(row.id);
}

/** Writes the live counters (and the checkpoint, when given) of a running run. */
export async function saveProgress(sql: Sql, id: number, c: RunCounters, checkpoint?: unknown): Promise<void> {
  await sql`
    update emag_sync_runs set
      pages_done = ${c.pages_done}, pages_total = ${c.pages_total}, items_seen = ${c.items_seen},
      items_inserted = ${c.items_inserted}, items_updated = ${c.items_updated}, items_unchanged = ${c.items_unchanged},
      items_deleted = ${c.items_deleted}, items_failed = ${c.items_failed}, items_stale = ${c.items_stale}, api_requests = ${c.api_requests},
      rate_limit_waits = ${c.rate_limit_waits}, heartbeat_at = now(),
      checkpoint = coalesce(${checkpoint === undefined ? null : sql.json(checkpoint as never)}::jsonb, checkpoint)
    where id = ${id}`;
}

/** Closes a run with its final status and figures. */
export async function finishRun(sql: Sql, id: number, status: RunStatus, c: RunCounters, error: string | null, errorKind: string | null = null): Promise<void> {
  await saveProgress(sql, id, c);
  // Only a run still running: another instance may have marked it interrupted during a lease handover.
  await sql`update emag_sync_runs set status = ${status}, finished_at = now(), error = ${error}, error_kind = ${errorKind}
    where id = ${id} and status = 'running'`;
}

/** Marks an account's runs left `running` (by a crash) as `interrupted`; returns how many. Call with the account's lease held. */
export async function markInterrupted(sql: Sql, account: string): Promise<number> {
  const rows = await sql`
    update emag_sync_runs set status = 'interrupted', finished_at = now(),
      error = coalesce(error, 'the daemon stopped while this run was running')
    where account = ${account} and status = 'running' returning id`;
  await sql`delete from emag_offer_scan_seen s where s.run_id in (select id from emag_sync_runs where account = ${account} and status <> 'running')`;
  return rows.length;
}

/** The latest run of an account's stream with the given statuses. */
export async function latestRun(sql: Sql, account: string, stream: string, statuses: RunStatus[]): Promise<RunRow | null> {
  const [row] = await sql<RunRow[]>`
    select * from emag_sync_runs where account = ${account} and stream = ${stream} and status in ${sql(statuses)}
    order by started_at desc, id desc limit 1`;
  return row ? { ...row, id: Number(row.id) } : null;
}

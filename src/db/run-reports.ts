/**
 * The read-only SQL over `emag_sync_runs` that the status server reports from: each account stream's
 * latest runs, the runs in progress, and run history. Every query walks an index, so the answers stay
 * fast as the table grows.
 */
import type { Sql } from './connect.ts';
import type { RunRow, RunStatus, RunTrigger } from './runs.ts';

/** An account and one of its streams. */
export interface StreamKey {
  account: string;
  stream: string;
}

/** What the database knows about one account stream. */
export interface StreamState extends StreamKey {
  /** The latest finished run (any end status). */
  lastRun: { status: RunStatus; startedAt: Date; finishedAt: Date | null; error: string | null; errorKind: string | null } | null;
  /** When the latest succeeded or partial run finished. */
  lastSuccessAt: Date | null;
  /** The latest failed run. */
  lastFailure: { at: Date; message: string } | null;
  /** Failed runs started in the last hour. */
  failuresLastHour: number;
  /** Records quarantined in the last hour. */
  quarantinedLastHour: number;
}

/** A run in progress with its live counters (saved as each page commits). */
export interface RunningRun extends StreamKey {
  id: number;
  mode: string;
  trigger: RunTrigger;
  startedAt: Date;
  heartbeatAt: Date;
  pagesDone: number;
  pagesTotal: number | null;
  itemsSeen: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
  apiRequests: number;
  /** Requests that waited for the rate budget. */
  rateLimitWaits: number;
}

/** A run as the history lists it (without its checkpoint). */
export interface RunSummary extends Omit<RunningRun, 'heartbeatAt'> {
  status: RunStatus;
  finishedAt: Date | null;
  error: string | null;
}

const RUN_COLUMNS = `id, account, stream, mode, trigger, status, started_at, finished_at, heartbeat_at, pages_done, pages_total,
  items_seen, items_inserted, items_updated, items_unchanged, items_deleted, items_failed, api_requests, rate_limit_waits, error`;

/** A run row as selected by RUN_COLUMNS (bigint ids arrive as strings). */
type RunRowLite = Omit<RunRow, 'id' | 'checkpoint' | 'error_kind'> & { id: string };

/** The latest finished, succeeded and failed run of each given account stream, one lateral index probe each. */
export async function loadStreamStates(sql: Sql, keys: StreamKey[]): Promise<StreamState[]> {
  if (keys.length === 0) return [];
  const rows = await sql<
    {
      account: string;
      stream: string;
      last_status: RunStatus | null;
      last_started_at: Date | null;
      last_finished_at: Date | null;
      last_error: string | null;
      last_error_kind: string | null;
      last_success_at: Date | null;
      last_failure_at: Date | null;
      last_failure_error: string | null;
      failures_last_hour: number;
      quarantined_last_hour: number;
    }[]
  >`
    select k.account, k.stream,
      l.status as last_status, l.started_at as last_started_at, l.finished_at as last_finished_at, l.error as last_error, l.error_kind as last_error_kind,
      s.finished_at as last_success_at,
      f.at as last_failure_at, f.error as last_failure_error,
      (select count(*)::int from emag_sync_runs r
        where r.account = k.account and r.stream = k.stream and r.started_at > now() - interval '1 hour' and r.status = 'failed') as failures_last_hour,
      (select count(*)::int from emag_quarantine q
        where q.account = k.account and q.stream = k.stream and q.created_at > now() - interval '1 hour') as quarantined_last_hour
    from unnest(${keys.map((k) => k.account)}::text[], ${keys.map((k) => k.stream)}::text[]) as k(account, stream)
    left join lateral (
      select status, started_at, finished_at, error, error_kind from emag_sync_runs r
      where r.account = k.account and r.stream = k.stream and r.status <> 'running'
      order by r.started_at desc, r.id desc limit 1) l on true
    left join lateral (
      select finished_at from emag_sync_runs r
      where r.account = k.account and r.stream = k.stream and r.status in ('succeeded', 'partial')
      order by r.started_at desc, r.id desc limit 1) s on true
    left join lateral (
      select coalesce(finished_at, started_at) as at, error from emag_sync_runs r
      where r.account = k.account and r.stream = k.stream and r.status = 'failed'
      order by r.started_at desc, r.id desc limit 1) f on true`;
  return rows.map((r) => ({
    account: r.account,
    stream: r.stream,
    lastRun: r.last_status && r.last_started_at ? { status: r.last_status, startedAt: r.last_started_at, finishedAt: r.last_finished_at, error: r.last_error, errorKind: r.last_error_kind } : null,
    lastSuccessAt: r.last_success_at,
    lastFailure: r.last_failure_at ? { at: r.last_failure_at, message: r.last_failure_error ?? 'failed without a message' } : null,
    failuresLastHour: r.failures_last_hour,
    quarantinedLastHour: r.quarantined_last_hour,
  }));
}

/** Runs with status `running` (the partial index makes this cheap), oldest first. */
export async function loadRunningRuns(sql: Sql): Promise<RunningRun[]> {
  const rows = await sql.unsafe<RunRowLite[]>(`select ${RUN_COLUMNS} from emag_sync_runs where status = 'running' order by started_at, id`);
  return rows.map(toRunning);
}

/** What the run history may be narrowed to; `before` pages on: the runs listed after that run id. */
export interface RunFilter {
  account?: string;
  stream?: string;
  status?: RunStatus;
  before?: number;
  limit: number;
}

/** Recent runs, newest first (by start, then id), filtered; keyset paging with `before`. */
export async function loadRuns(sql: Sql, filter: RunFilter): Promise<RunSummary[]> {
  const rows = await sql<RunRowLite[]>`
    select ${sql.unsafe(RUN_COLUMNS)} from emag_sync_runs
    where true ${filter.account ? sql`and account = ${filter.account}` : sql``} ${filter.stream ? sql`and stream = ${filter.stream}` : sql``}
      ${filter.status ? sql`and status = ${filter.status}` : sql``}
      ${filter.before !== undefined ? sql`and (started_at, id) < (select started_at, id from emag_sync_runs where id = ${filter.before})` : sql``}
    order by started_at desc, id desc limit ${filter.limit}`;
  return rows.map(toSummary);
}

/** One run, or null. */
export async function loadRun(sql: Sql, id: number): Promise<RunSummary | null> {
  const [row] = await sql<RunRowLite[]>`select ${sql.unsafe(RUN_COLUMNS)} from emag_sync_runs where id = ${id}`;
  return row ? toSummary(row) : null;
}

function toSummary(r: RunRowLite): RunSummary {
  const { heartbeatAt: _, ...run } = toRunning(r);
  return { ...run, status: r.status, finishedAt: r.finished_at, error: r.error };
}

function toRunning(r: RunRowLite): RunningRun {
  return {
    id: Number(r.id),
    account: r.account,
    stream: r.stream,
    mode: r.mode,
    trigger: r.trigger,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    pagesDone: r.pages_done,
    pagesTotal: r.pages_total,
    itemsSeen: r.items_seen,
    inserted: r.items_inserted,
    updated: r.items_updated,
    unchanged: r.items_unchanged,
    deleted: r.items_deleted,
    failed: r.items_failed,
    apiRequests: r.api_requests,
    rateLimitWaits: r.rate_limit_waits,
  };
}

/**
 * The SQL that owns `emag_alerts` (alert history and the engine's state), and the read-only queries
 * the alert rules take their facts from. Each fact query is one grouped pass over an indexed range.
 */
import type { Sql } from './connect.ts';

/** Severity of an alert: critical needs a person now, warning soon. */
export type AlertSeverity = 'warning' | 'critical';
/** How a notification ended (null while it is being delivered). */
export type NotifyResult = 'delivered' | 'undelivered' | 'no_webhook';

/** A row of emag_alerts. */
export interface AlertRow {
  id: string;
  key: string;
  type: string;
  account: string | null;
  stream: string | null;
  severity: AlertSeverity;
  message: string;
  action: string;
  started_at: Date;
  cleared_at: Date | null;
  notified_at: Date | null;
  notify_result: NotifyResult | null;
  resolved_notified_at: Date | null;
  resolved_notify_result: NotifyResult | null;
  notify_error: string | null;
}

/** What a new active alert is written with. */
export type NewAlert = Pick<AlertRow, 'id' | 'key' | 'type' | 'account' | 'stream' | 'severity' | 'message' | 'action' | 'started_at'> & {
  cleared_at?: Date | null;
};

/**
 * Inserts an active alert; false when another instance already has one active for the key (its
 * row is the truth then, and that instance notifies).
 */
export async function insertAlert(sql: Sql, a: NewAlert): Promise<boolean> {
  const rows = await sql`
    insert into emag_alerts (id, key, type, account, stream, severity, message, action, started_at, cleared_at)
    values (${a.id}, ${a.key}, ${a.type}, ${a.account}, ${a.stream}, ${a.severity}, ${a.message}, ${a.action}, ${a.started_at}, ${a.cleared_at ?? null})
    on conflict do nothing returning id`;
  return rows.length === 1;
}

/** Updates what an active alert says (severity may rise or fall while it lasts). */
export async function updateAlert(sql: Sql, id: string, a: Pick<AlertRow, 'severity' | 'message' | 'action'>): Promise<void> {
  await sql`update emag_alerts set severity = ${a.severity}, message = ${a.message}, action = ${a.action} where id = ${id} and cleared_at is null`;
}

/** Marks an alert cleared; false when it already was (another instance cleared it). */
export async function clearAlert(sql: Sql, id: string, at: Date): Promise<boolean> {
  const rows = await sql`update emag_alerts set cleared_at = ${at} where id = ${id} and cleared_at is null returning id`;
  return rows.length === 1;
}

/** Records how the firing (`resolved` false) or resolved notification of an alert ended. */
export async function recordNotification(sql: Sql, id: string, resolved: boolean, result: NotifyResult, error: string | null): Promise<void> {
  const at = result === 'delivered' ? new Date() : null;
  if (resolved) {
    await sql`update emag_alerts set resolved_notified_at = ${at}, resolved_notify_result = ${result}, notify_error = ${error} where id = ${id}`;
  } else {
    await sql`update emag_alerts set notified_at = ${at}, notify_result = ${result}, notify_error = ${error} where id = ${id}`;
  }
}

/** The active alerts (the engine's state at start). */
export async function activeAlerts(sql: Sql): Promise<AlertRow[]> {
  return sql<AlertRow[]>`select * from emag_alerts where cleared_at is null order by started_at, id`;
}

/** Alerts whose firing or resolved notification was not finished (delivery resumes after a restart). */
export async function undeliveredAlerts(sql: Sql): Promise<AlertRow[]> {
  return sql<AlertRow[]>`
    select * from emag_alerts
    where notify_result is null or (cleared_at is not null and resolved_notify_result is null)
    order by started_at, id`;
}

/** History, newest first: `state` active (not cleared) or cleared; `since` = active at or after that moment. */
export async function listAlerts(sql: Sql, filter: { state?: 'active' | 'cleared'; since?: Date; limit: number }): Promise<AlertRow[]> {
  return sql<AlertRow[]>`
    select * from emag_alerts
    where true
      ${filter.state === 'active' ? sql`and cleared_at is null` : filter.state === 'cleared' ? sql`and cleared_at is not null` : sql``}
      ${filter.since ? sql`and (cleared_at is null or cleared_at >= ${filter.since})` : sql``}
    order by started_at desc, id desc limit ${filter.limit}`;
}

/** Alerts active at some moment of the last hour, by severity. */
export async function alertsLastHour(sql: Sql): Promise<Record<AlertSeverity, number>> {
  const rows = await sql<{ severity: AlertSeverity; n: number }[]>`
    select severity, count(*)::int as n from emag_alerts
    where cleared_at is null or cleared_at > now() - interval '1 hour'
    group by severity`;
  const counts: Record<AlertSeverity, number> = { warning: 0, critical: 0 };
  for (const r of rows) counts[r.severity] = r.n;
  return counts;
}

// --- The facts the rules read --------------------------------------------------------------------

/** The latest finished runs of one account stream, newest first, and its last success. */
export interface StreamRuns {
  account: string;
  stream: string;
  /** Up to `n` latest finished runs. */
  runs: Array<{ status: string; errorKind: string | null; finishedAt: Date | null }>;
  lastSuccessAt: Date | null;
}

/** The `n` latest finished runs of each account stream, and its last success (one index probe each). */
export async function streamRuns(sql: Sql, keys: Array<{ account: string; stream: string }>, n: number): Promise<StreamRuns[]> {
  if (keys.length === 0) return [];
  const rows = await sql<{ account: string; stream: string; runs: Array<{ status: string; error_kind: string | null; finished_at: string | null }> | null; last_success_at: Date | null }[]>`
    select k.account, k.stream,
      (select json_agg(json_build_object('status', r.status, 'error_kind', r.error_kind, 'finished_at', r.finished_at) order by r.started_at desc, r.id desc)
         from (select status, error_kind, finished_at, started_at, id from emag_sync_runs r
               where r.account = k.account and r.stream = k.stream and r.status <> 'running'
               order by r.started_at desc, r.id desc limit ${n}) r) as runs,
      (select finished_at from emag_sync_runs r
        where r.account = k.account and r.stream = k.stream and r.status in ('succeeded', 'partial')
        order by r.started_at desc, r.id desc limit 1) as last_success_at
    from unnest(${keys.map((k) => k.account)}::text[], ${keys.map((k) => k.stream)}::text[]) as k(account, stream)`;
  return rows.map((r) => ({
    account: r.account,
    stream: r.stream,
    runs: (r.runs ?? []).map((x) => ({ status: x.status, errorKind: x.error_kind, finishedAt: x.finished_at ? new Date(x.finished_at) : null })),
    lastSuccessAt: r.last_success_at,
  }));
}

/** One account's eMAG calls in the window. */
export interface CallWindow {
  calls: number;
  failed: number;
  rateLimited: number;
  p95Ms: number | null;
}

/** Each account's calls, failed calls, 429s and p95 duration in the last `minutes`. */
export async function callWindows(sql: Sql, minutes: number): Promise<Map<string, CallWindow>> {
  const rows = await sql<{ account: string; calls: number; failed: number; rate_limited: number; p95_ms: number | null }[]>`
    select account, count(*)::int as calls,
      count(*) filter (where error is not null or status = 0 or status >= 400)::int as failed,
      count(*) filter (where status = 429)::int as rate_limited,
      percentile_cont(0.95) within group (order by duration_ms)::float8 as p95_ms
    from emag_api_calls where at > now() - make_interval(secs => ${minutes * 60}) group by account`;
  return new Map(rows.map((r) => [r.account, { calls: r.calls, failed: r.failed, rateLimited: r.rate_limited, p95Ms: r.p95_ms }]));
}

/** New seller-fulfilled orders placed more than `minutes` ago and still not acknowledged, per account. */
export async function lateUnacknowledged(sql: Sql, minutes: number): Promise<Map<string, number>> {
  const rows = await sql<{ account: string; n: number }[]>`
    select account, count(*)::int as n from emag_orders
    where status = 1 and type = 3 and acknowledged_at is null and date < now() - make_interval(secs => ${minutes * 60})
    group by account`;
  return new Map(rows.map((r) => [r.account, r.n]));
}

/** Per account: commands failed in the last hour, commands pending longer than `minutes`, open conflicts. */
export async function outboxTrouble(sql: Sql, minutes: number): Promise<Map<string, { failedLastHour: number; pendingLong: number; conflicts: number }>> {
  const rows = await sql<{ account: string; failed: number; pending: number; conflicts: number }[]>`
    select account, sum(failed)::int as failed, sum(pending)::int as pending, sum(conflicts)::int as conflicts from (
      select account,
        count(*) filter (where status = 'failed' and coalesce(done_at, updated_at) > now() - interval '1 hour') as failed,
        count(*) filter (where status in ('pending', 'running') and created_at < now() - make_interval(secs => ${minutes * 60})) as pending,
        0 as conflicts
      from emag_commands where status in ('failed', 'pending', 'running') group by account
      union all
      select account, 0, 0, count(*) from emag_conflicts where status = 'open' group by account
    ) t group by account`;
  return new Map(rows.map((r) => [r.account, { failedLastHour: r.failed, pendingLong: r.pending, conflicts: r.conflicts }]));
}

/**
 * GET /api/status: the scheduler, each account with its streams (last success, last error, next run,
 * live progress of a running run), the last hour's errors, alerts and a health score. Built from
 * the cached snapshot and the configuration's names only: no credentials or base URLs appear.
 */
import type { AccountConfig } from '../../config.ts';
import { type AlertBody, alertBody } from '../alerts.ts';
import type { StatusContext } from '../context.ts';
import { judgeAccount, type StreamVerdict } from '../freshness.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';
import type { AccountWork, StatusSnapshot } from '../snapshot.ts';
import type { RunningRun } from '../../db/run-reports.ts';

/** An account's state in one word; `unknown` when the database could not be read. */
export type AccountStatus = 'ok' | 'syncing' | 'failing' | 'stale' | 'disabled' | 'not_owned' | 'unknown';

/** A running run's live figures, as JSON (dates as ISO strings). */
export type RunProgress = Omit<RunningRun, 'id' | 'account' | 'stream' | 'startedAt' | 'heartbeatAt'> & {
  runId: number;
  startedAt: string;
  heartbeatAt: string;
  /** Pages done of pages total, 0–100 with one decimal; null while the total is unknown. */
  percent: number | null;
};

/** One stream of an account. */
export interface StreamStatus {
  stream: string;
  lastSuccess: string | null;
  lastRunStatus: string | null;
  lastError: { at: string; message: string } | null;
  nextRun: string | null;
  stale: boolean;
  running: RunProgress | null;
}

/** One account. */
export interface AccountStatusBody {
  name: string;
  enabled: boolean;
  owned: boolean;
  /** The id of the instance that owns the account (null: nobody, or a one-off `sync` command). */
  owner: string | null;
  status: AccountStatus;
  lastSync: string | null;
  nextSync: string | null;
  streams: StreamStatus[];
  /** Seller-fulfilled orders still new and not acknowledged; null when unknown. */
  unacknowledgedOrders: number | null;
  /** The commands outbox: waiting, failed and conflicting commands, in all and by kind; null when unknown. */
  commands: AccountWork['commands'] | null;
}

/** The whole /api/status document. */
export interface StatusBody {
  service: 'emag-sync';
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  scheduler: { running: boolean; scheduledSync: boolean; activeRuns: number };
  database: { where: string; embedded: boolean; ok: boolean; latencyMs: number };
  accounts: AccountStatusBody[];
  /** errors and warnings: critical and warning alerts active at some moment of the last hour (from emag_alerts). */
  recent: { errorsLastHour: number; warningsLastHour: number; failedRunsLastHour: number; apiErrorsLastHour: number; apiCallsLastHour: number; rateLimitedLastHour: number; quarantinedLastHour: number };
  /** The alert engine's active alerts. */
  alerts: AlertBody[];
  /** From the active alerts: 100 − 30 per critical − 10 per warning, floored at 0; 0 without a database. */
  healthScore: number;
  /** Whether the control routes are on (EMAG_SYNC_ADMIN_TOKEN is set); never the token itself. */
  controls: boolean;
}

/** Answers GET /api/status from the cached snapshot. */
export function statusRoute(ctx: RouteContext): Handler {
  return async () => json(200, buildStatus(ctx, await ctx.snapshots.status()));
}

/** Builds the status document from a snapshot. */
export function buildStatus(ctx: StatusContext, snapshot: StatusSnapshot): StatusBody {
  const uptimeSeconds = Math.round((snapshot.takenAt.getTime() - ctx.startedAt.getTime()) / 1000);
  const owned = new Set(ctx.ownedAccounts());
  const accounts = ctx.config.accounts.map((account) => {
    const streams = judgeAccount(account, snapshot, uptimeSeconds);
    return accountStatus(ctx, account, owned.has(account.name), streams, snapshot.running, snapshot.work);
  });
  const lastHour = ctx.alerts.lastHour();
  const states = [...(snapshot.states?.values() ?? [])];
  const activity = [...(snapshot.activity?.values() ?? [])];
  const failedRuns = states.reduce((n, s) => n + s.failuresLastHour, 0);
  const apiErrors = activity.reduce((n, a) => n + a.apiErrors, 0);
  return {
    service: 'emag-sync',
    version: ctx.version,
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds,
    scheduler: { running: ctx.scheduler.running, scheduledSync: ctx.config.enableScheduledSync, activeRuns: ctx.scheduler.activeRuns().length },
    database: { where: ctx.database.where, embedded: ctx.database.embedded, ok: snapshot.database.ok, latencyMs: snapshot.database.latencyMs },
    accounts,
    recent: {
      errorsLastHour: lastHour.critical,
      warningsLastHour: lastHour.warning,
      failedRunsLastHour: failedRuns,
      apiErrorsLastHour: apiErrors,
      apiCallsLastHour: activity.reduce((n, a) => n + a.apiCalls, 0),
      rateLimitedLastHour: activity.reduce((n, a) => n + a.rateLimited, 0),
      quarantinedLastHour: states.reduce((n, s) => n + s.quarantinedLastHour, 0),
    },
    alerts: ctx.alerts.active().map(alertBody),
    healthScore: ctx.alerts.healthScore(),
    controls: ctx.config.adminToken !== null,
  };
}

function accountStatus(
  ctx: StatusContext,
  account: AccountConfig,
  owned: boolean,
  verdicts: StreamVerdict[],
  running: RunningRun[],
  work: StatusSnapshot['work'],
): AccountStatusBody {
  const streams = verdicts.map((v): StreamStatus => {
    const run = running.find((r) => r.account === account.name && r.stream === v.stream) ?? null;
    const next = ctx.scheduler.nextRun(account.name, v.stream);
    return {
      stream: v.stream,
      lastSuccess: v.state?.lastSuccessAt?.toISOString() ?? null,
      lastRunStatus: v.state?.lastRun?.status ?? null,
      lastError: v.state?.lastFailure ? { at: v.state.lastFailure.at.toISOString(), message: v.state.lastFailure.message } : null,
      nextRun: next?.toISOString() ?? null,
      stale: v.stale,
      running: run ? progress(run) : null,
    };
  });
  const syncing = streams.some((s) => s.running) || ctx.scheduler.activeRuns().some((r) => r.account === account.name);
  const status: AccountStatus = !account.enabled
    ? 'disabled'
    : !owned
      ? 'not_owned'
      : verdicts.some((v) => !v.known)
        ? 'unknown'
        : verdicts.some((v) => v.failing)
          ? 'failing'
          : syncing
            ? 'syncing'
            : verdicts.some((v) => v.stale)
              ? 'stale'
              : 'ok';
  return {
    name: account.name,
    enabled: account.enabled,
    owned,
    owner: ctx.accountOwners?.().get(account.name) ?? null,
    status,
    lastSync: latest(streams.map((s) => s.lastSuccess)),
    nextSync: earliest(streams.map((s) => s.nextRun)),
    streams,
    unacknowledgedOrders: work ? (work.get(account.name)?.unacknowledgedOrders ?? 0) : null,
    commands: work ? (work.get(account.name)?.commands ?? { pending: 0, failed: 0, conflict: 0, byKind: {} }) : null,
  };
}

function progress(r: RunningRun): RunProgress {
  const { id, account: _account, stream: _stream, startedAt, heartbeatAt, ...figures } = r;
  return {
    runId: id,
    ...figures,
    startedAt: startedAt.toISOString(),
    heartbeatAt: heartbeatAt.toISOString(),
    percent: r.pagesTotal ? Math.min(100, Math.round((r.pagesDone / r.pagesTotal) * 1000) / 10) : null,
  };
}

// ISO-8601 UTC strings of one format sort as the instants they name.
function latest(times: (string | null)[]): string | null {
  return times.reduce<string | null>((a, t) => (t && (!a || t > a) ? t : a), null);
}

function earliest(times: (string | null)[]): string | null {
  return times.reduce<string | null>((a, t) => (t && (!a || t < a) ? t : a), null);
}

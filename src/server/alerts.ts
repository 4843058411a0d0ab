/**
 * Active alerts and the 0–100 health score, computed from the same snapshot and verdicts as /health,
 * each with the action a person should take.
 */
import type { StatusContext } from './context.ts';
import { duration, type StreamVerdict } from './freshness.ts';
import type { StatusSnapshot } from './snapshot.ts';

/** What an alert is about. */
export type AlertType =
  | 'database_unavailable'
  | 'scheduler_stopped'
  | 'sync_failing'
  | 'stale_data'
  | 'high_error_rate'
  | 'rate_limit_pressure'
  | 'slow_responses'
  | 'records_quarantined'
  | 'unacknowledged_orders'
  | 'commands_need_attention';

/** How urgent: critical needs a person now, warning soon, info when convenient. */
export type Severity = 'critical' | 'warning' | 'info';

/** One active alert. */
export interface Alert {
  type: AlertType;
  severity: Severity;
  account?: string;
  stream?: string;
  message: string;
  action: string;
}

/** More than this share of failed eMAG calls in the last hour (with at least MIN_CALLS calls) is high. */
const ERROR_RATE = 0.1;
const MIN_CALLS = 20;
/** eMAG answering slower than this at p95 slows every sync down. */
const SLOW_P95_MS = 5000;
/** Score lost per alert of each severity. */
const PENALTY: Record<Severity, number> = { critical: 40, warning: 15, info: 5 };

/** The alerts of the moment; `verdicts` are the enabled accounts' stream verdicts. */
export function computeAlerts(ctx: StatusContext, snapshot: StatusSnapshot, verdicts: Map<string, StreamVerdict[]>): Alert[] {
  const alerts: Alert[] = [];
  if (!snapshot.database.ok) {
    alerts.push({
      type: 'database_unavailable',
      severity: 'critical',
      message: `The database (${ctx.database.where}) does not answer: ${snapshot.database.error}.`,
      action: 'Check that PostgreSQL is running and reachable; syncs cannot store anything until it is back.',
    });
  }
  if (ctx.config.enableScheduledSync && !ctx.scheduler.running) {
    alerts.push({ type: 'scheduler_stopped', severity: 'warning', message: 'The scheduler is not running: no scheduled syncs happen.', action: 'Restart the daemon (systemctl restart emag-sync) and check its log.' });
  }
  for (const [account, streams] of verdicts) {
    for (const v of streams) alerts.push(...streamAlerts(account, v));
    const work = snapshot.work?.get(account);
    const acknowledging = ctx.config.autoAcknowledge && ctx.config.accounts.find((a) => a.name === account)?.syncTypes.includes('acknowledge');
    if (work && work.unacknowledgedOrders > 0 && !acknowledging) {
      alerts.push({
        type: 'unacknowledged_orders',
        severity: 'warning',
        account,
        message: `${work.unacknowledgedOrders} new order(s) of ${account} are not acknowledged; eMAG keeps re-sending them and the customer waits.`,
        action: 'Acknowledge them in the ERP or the eMAG panel, or turn on EMAG_AUTO_ACKNOWLEDGE with the acknowledge stream.',
      });
    }
    if (work && (work.commands.conflict > 0 || work.commands.failed > 0)) {
      alerts.push({
        type: 'commands_need_attention',
        severity: 'info',
        account,
        message: `${account}: ${work.commands.failed} failed and ${work.commands.conflict} conflicting command(s) in emag_commands.`,
        action: 'Read their error column; resolve parked conflicts with "emag-sync conflicts list" and "emag-sync conflicts resolve <id> --keep local|emag".',
      });
    }
    const activity = snapshot.activity?.get(account);
    if (activity && activity.apiCalls >= MIN_CALLS && activity.apiErrors / activity.apiCalls > ERROR_RATE) {
      alerts.push({
        type: 'high_error_rate',
        account,
        severity: 'warning',
        message: `${activity.apiErrors} of ${activity.apiCalls} eMAG calls of ${account} failed in the last hour.`,
        action: 'Look at the failing calls in emag_api_calls and the daemon log; eMAG may be having trouble.',
      });
    }
    if (activity && activity.rateLimited > 0) {
      alerts.push({
        type: 'rate_limit_pressure',
        account,
        severity: 'warning',
        message: `eMAG answered HTTP 429 ${activity.rateLimited} times for ${account} in the last hour.`,
        action: `Another client may share the account's limit: lower EMAG_${account.toUpperCase()}_ORDERS_RPS / _OTHER_RPS or stop the other client.`,
      });
    }
    if (activity?.p95Ms != null && activity.p95Ms > SLOW_P95_MS) {
      alerts.push({
        type: 'slow_responses',
        account,
        severity: 'warning',
        message: `eMAG calls of ${account} took ${Math.round(activity.p95Ms)} ms at p95 in the last hour.`,
        action: 'Usually on eMAG’s side; if it lasts, check this server’s network and EMAG_API_TIMEOUT.',
      });
    }
    const quarantined = streams.reduce((n, v) => n + (v.state?.quarantinedLastHour ?? 0), 0);
    if (quarantined > 0) {
      alerts.push({
        type: 'records_quarantined',
        account,
        severity: 'info',
        message: `${quarantined} records of ${account} could not be stored in the last hour and were quarantined.`,
        action: 'Read the reasons in emag_quarantine; the other records were synced.',
      });
    }
  }
  return alerts;
}

function streamAlerts(account: string, v: StreamVerdict): Alert[] {
  const alerts: Alert[] = [];
  if (v.failing) {
    const error = v.state?.lastRun?.error ?? 'no message';
    alerts.push({
      type: 'sync_failing',
      account,
      stream: v.stream,
      // Retrying does not fix credentials or the IP whitelist: a person must act.
      severity: v.failureKind ? 'critical' : 'warning',
      message: `The last ${v.stream} run of ${account} failed: ${error}`,
      action:
        v.failureKind === 'auth'
          ? `Check EMAG_${account.toUpperCase()}_USERNAME / _PASSWORD and the account's API rights.`
          : v.failureKind === 'ip_not_whitelisted'
            ? "Add this server's public IP to the API whitelist in the eMAG seller portal."
            : `See GET /api/runs?account=${account}&stream=${v.stream} and the daemon log; failed runs are retried automatically.`,
    });
  }
  if (v.stale) {
    alerts.push({
      type: 'stale_data',
      account,
      stream: v.stream,
      severity: 'warning',
      message: `${account}/${v.stream} data is stale: ${v.message} (expected every ${duration(v.periodSeconds)}).`,
      action: `Check that a daemon owns ${account} (GET /api/status: owned) and that its scheduler runs; read its log for errors.`,
    });
  }
  return alerts;
}

/** 100 with nothing wrong, 0 without a database; each alert costs by its severity. */
export function healthScore(alerts: Alert[]): number {
  if (alerts.some((a) => a.type === 'database_unavailable')) return 0;
  return Math.max(0, 100 - alerts.reduce((n, a) => n + PENALTY[a.severity], 0));
}

/**
 * The alert rules: what is wrong right now, as a pure function of facts read from the database and
 * the thresholds of the configuration. Every rule is here; the engine (evaluate.ts) only decides
 * when a condition has held long enough to fire or clear.
 */
import type { AlertThresholds, Stream } from '../config.ts';
import type { AlertSeverity, CallWindow, StreamRuns } from '../db/alerts.ts';

/** Every alert type, as in the README's table. */
export const ALERT_TYPES = [
  'auth',
  'sync_failing',
  'stale',
  'unacknowledged_orders',
  'high_error_rate',
  'slow_responses',
  'rate_limit_pressure',
  'outbox_failing',
  'conflicts_waiting',
  'account_unowned',
  'database',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

/** A condition that holds now; it becomes an alert once it held for two evaluations. */
export interface Condition {
  /** type/account/stream: the identity of the alert across evaluations and restarts. */
  key: string;
  type: AlertType;
  severity: AlertSeverity;
  account: string | null;
  stream: string | null;
  /** What is wrong, for people; never secrets or customer data. */
  message: string;
  /** What a person should do. */
  action: string;
}

/** What the rules know of one enabled account. */
export interface AccountFacts {
  name: string;
  /** The streams it syncs, each with its expected period and latest runs. */
  streams: Array<Omit<StreamRuns, 'account' | 'stream'> & { stream: Stream; periodSeconds: number }>;
  /** Its eMAG calls in the API window; null without any. */
  calls: CallWindow | null;
  /** New orders older than the threshold and not acknowledged. */
  lateUnacknowledged: number;
  outbox: { failedLastHour: number; pendingLong: number; conflicts: number };
  /** How long no instance has held its lease; null while one does. */
  unownedSeconds: number | null;
}

/** Everything one evaluation knows. */
export interface Facts {
  now: Date;
  /** Since when this daemon runs: a stream never synced is judged by that. */
  upSince: Date;
  database: { ok: boolean; error: string | null };
  /** Null when the database could not be read: only the database rule can judge then. */
  accounts: AccountFacts[] | null;
}

/** Below these many calls in the window, a share of failures or a p95 says nothing. */
const MIN_CALLS_ERROR_RATE = 20;
const MIN_CALLS_LATENCY = 5;
/** Streams not named in the issue's table are stale no sooner than this (commands run every 30 s). */
const MIN_STALE_SECONDS = 30 * 60;
/** Stale data turns critical at this many times its threshold. */
const CRITICAL_STALE_FACTOR = 3;

/** The conditions that hold, given the facts. */
export function evaluateRules(facts: Facts, t: AlertThresholds): Condition[] {
  const out: Condition[] = [];
  if (!facts.database.ok) {
    out.push(condition('database', 'critical', null, null, `The database does not answer${facts.database.error ? ` (${facts.database.error})` : ''}; nothing can be synced or stored.`, 'Check that PostgreSQL is running and reachable from this server (DATABASE_URL); syncs resume by themselves once it answers.'));
  }
  for (const a of facts.accounts ?? []) out.push(...accountConditions(a, facts, t));
  return out;
}

function accountConditions(a: AccountFacts, facts: Facts, t: AlertThresholds): Condition[] {
  const out: Condition[] = [];
  const up = `EMAG_${a.name.toUpperCase()}`;
  const refused = a.streams
    .filter((s) => s.runs[0]?.status === 'failed' && (s.runs[0].errorKind === 'auth' || s.runs[0].errorKind === 'ip_not_whitelisted'))
    .sort((x, y) => (y.runs[0].finishedAt?.getTime() ?? 0) - (x.runs[0].finishedAt?.getTime() ?? 0))[0];
  if (refused) {
    out.push(
      refused.runs[0].errorKind === 'ip_not_whitelisted'
        ? condition('auth', 'critical', a.name, null, `eMAG refuses this server's IP for account ${a.name} ("Invalid vendor ip"): nothing of ${a.name} is synced.`, `Whitelist this server's public IP in the eMAG seller settings (API settings, IP whitelist) of account ${a.name}.`)
        : condition('auth', 'critical', a.name, null, `eMAG refuses the credentials of account ${a.name} ("You are not allowed to use this API"): nothing of ${a.name} is synced.`, `Fix the credentials: set ${up}_USERNAME / ${up}_PASSWORD to an API user of this seller account (with API rights), then restart emag-sync.`),
    );
  }
  for (const s of a.streams) {
    const failed = s.runs.length >= t.failedRuns && s.runs.slice(0, t.failedRuns).every((r) => r.status === 'failed');
    const kind = s.runs[0]?.errorKind ?? 'unknown';
    // Refused credentials or IP have their own alert: the same cause is told once.
    if (failed && kind !== 'auth' && kind !== 'ip_not_whitelisted') {
      out.push(condition('sync_failing', 'critical', a.name, s.stream, `The last ${t.failedRuns} ${s.stream} runs of ${a.name} failed; the last error kind is "${kind}".`, `${ERROR_KIND_ACTION[kind] ?? 'Read the daemon log'}; see GET /api/runs?account=${a.name}&stream=${s.stream}. Failed runs are retried automatically.`));
    }
    const limit = staleSeconds(s.stream, s.periodSeconds, t);
    const age = (facts.now.getTime() - (s.lastSuccessAt ?? facts.upSince).getTime()) / 1000;
    if (age > limit) {
      const what = s.lastSuccessAt ? `last synced ${minutes(age)} ago` : `never synced in the ${minutes(age)} this daemon runs`;
      out.push(condition('stale', age > CRITICAL_STALE_FACTOR * limit ? 'critical' : 'warning', a.name, s.stream, `${a.name}/${s.stream} data is stale: ${what} (threshold ${minutes(limit)}).`, `Check that a daemon owns ${a.name} and its scheduler runs (GET /api/status), and why its ${s.stream} runs do not succeed (GET /api/runs?account=${a.name}&stream=${s.stream}).`));
    }
  }
  if (a.lateUnacknowledged > 0) {
    out.push(condition('unacknowledged_orders', 'critical', a.name, null, `${a.lateUnacknowledged} new order(s) of ${a.name} older than ${minutes(t.unacknowledgedMinutes * 60)} are not acknowledged; eMAG keeps re-sending them for 48 h and the customer waits.`, `Turn on EMAG_AUTO_ACKNOWLEDGE with the acknowledge stream in ${up}_SYNC_TYPES, or acknowledge them in the ERP or the eMAG panel.`));
  }
  const c = a.calls;
  if (c && c.calls >= MIN_CALLS_ERROR_RATE && (c.failed / c.calls) * 100 > t.errorRatePercent) {
    out.push(condition('high_error_rate', 'warning', a.name, null, `${c.failed} of ${c.calls} eMAG calls of ${a.name} failed in the last ${minutes(t.apiWindowMinutes * 60)}.`, 'Look at the failing calls in emag_api_calls and the daemon log; eMAG may be having trouble. Failed reads are retried.'));
  }
  if (c && c.calls >= MIN_CALLS_LATENCY && c.p95Ms !== null && c.p95Ms > t.slowP95Seconds * 1000) {
    out.push(condition('slow_responses', 'warning', a.name, null, `eMAG answered ${a.name}'s calls in ${(c.p95Ms / 1000).toFixed(1)} s at p95 over the last ${minutes(t.apiWindowMinutes * 60)}.`, "Usually on eMAG's side; if it lasts, check this server's network and EMAG_API_TIMEOUT."));
  }
  if (c && c.rateLimited > 0) {
    out.push(condition('rate_limit_pressure', 'warning', a.name, null, `eMAG answered HTTP 429 to ${c.rateLimited} call(s) of ${a.name} in the last ${minutes(t.apiWindowMinutes * 60)}.`, `Another client may share the account's limit: stop it, or lower ${up}_ORDERS_RPS / ${up}_OTHER_RPS.`));
  }
  if (a.outbox.failedLastHour > 0 || a.outbox.pendingLong > 0) {
    const parts = [a.outbox.failedLastHour > 0 ? `${a.outbox.failedLastHour} failed in the last hour` : null, a.outbox.pendingLong > 0 ? `${a.outbox.pendingLong} pending longer than ${minutes(t.outboxPendingMinutes * 60)}` : null];
    out.push(condition('outbox_failing', 'warning', a.name, null, `Outbox commands of ${a.name}: ${parts.filter(Boolean).join(', ')}.`, `Read the error column of emag_commands for account ${a.name}; pending ones wait for the commands stream (is it in ${up}_SYNC_TYPES and succeeding?).`));
  }
  if (a.outbox.conflicts > 0) {
    out.push(condition('conflicts_waiting', 'warning', a.name, null, `${a.outbox.conflicts} offer change(s) of ${a.name} are parked for a person (conflict strategy manual).`, 'emag-sync conflicts list, then emag-sync conflicts resolve <id> --keep local|emag.'));
  }
  if (a.unownedSeconds !== null && a.unownedSeconds >= t.unownedMinutes * 60) {
    out.push(condition('account_unowned', 'critical', a.name, null, `No emag-sync instance has synced ${a.name} for ${minutes(a.unownedSeconds)}: its lease is not held.`, 'Start an emag-sync daemon with this account enabled, or check why the running ones cannot take its lease (their logs).'));
  }
  return out;
}

/** Per last error kind of a failing stream: where to look. */
const ERROR_KIND_ACTION: Record<string, string> = {
  server: 'eMAG answers 5xx: usually on its side, wait or ask eMAG support',
  network: "eMAG cannot be reached: check this server's network, DNS and proxy",
  timeout: 'eMAG does not answer in time: check the network, or raise EMAG_API_TIMEOUT',
  rate_limited: 'eMAG answers 429: another client may share the limit, or lower the account RPS',
  invalid_response: 'eMAG answers something that is not its API (a proxy or maintenance page)',
  rejected: 'eMAG refuses the request: read its message in the run error',
};

/** The issue's thresholds: orders and returns fixed, offers and the others by their interval. */
function staleSeconds(stream: Stream, periodSeconds: number, t: AlertThresholds): number {
  if (stream === 'orders') return t.staleOrdersMinutes * 60;
  if (stream === 'rma') return t.staleReturnsMinutes * 60;
  if (stream === 'offers') return t.staleIntervals * periodSeconds;
  return Math.max(t.staleIntervals * periodSeconds, MIN_STALE_SECONDS);
}

function condition(type: AlertType, severity: AlertSeverity, account: string | null, stream: string | null, message: string, action: string): Condition {
  return { key: `${type}/${account ?? ''}/${stream ?? ''}`, type, severity, account, stream, message, action };
}

function minutes(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

/** Score lost per active alert. */
const PENALTY: Record<AlertSeverity, number> = { critical: 30, warning: 10 };

/**
 * The 0–100 health score: 100 − 30 per critical and − 10 per warning alert, floored at 0, and 0
 * while the database alert is active (nothing can be synced then).
 */
export function healthScore(alerts: ReadonlyArray<{ type: string; severity: AlertSeverity }>): number {
  if (alerts.some((a) => a.type === 'database')) return 0;
  return Math.max(0, 100 - alerts.reduce((n, a) => n + PENALTY[a.severity], 0));
}

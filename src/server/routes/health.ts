/**
 * GET /health in the "Health Check Response Format for HTTP APIs" (draft-inadarei-api-health-check):
 * the database, the scheduler, and each enabled account's freshness and last run. 200 for pass and
 * warn, 503 for fail, so load balancers and systemd watchdogs act only when the daemon is unusable.
 */
import type { StatusContext } from '../context.ts';
import { judgeAccount, type StreamVerdict } from '../freshness.ts';
import { json, type Reply } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';
import type { HealthSnapshot } from '../snapshot.ts';

/** pass < warn < fail. */
export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One entry of a check (the draft's "check" object). */
export interface HealthCheck {
  componentId?: string;
  componentType?: 'datastore' | 'component' | 'system';
  status: HealthStatus;
  observedValue?: unknown;
  observedUnit?: string;
  time: string;
  output?: string;
  affectedEndpoints?: string[];
}

/** The whole health document. */
export interface HealthBody {
  status: HealthStatus;
  version: string;
  serviceId: 'emag-sync';
  description: string;
  checks: Record<string, HealthCheck[]>;
}

/** A database answer slower than this is worth a warning: syncs will feel it too. */
const SLOW_DATABASE_MS = 500;

/** Answers GET /health from the cached snapshot, so a burst of probes costs one query per second. */
export function healthRoute(ctx: RouteContext): Handler {
  // The answer is built once per snapshot: under a burst of probes each request costs only the write
  // (the scheduler's state in it is then up to a snapshot old, which is fine for a probe).
  let last: { snapshot: HealthSnapshot; reply: Reply } | null = null;
  return async () => {
    const snapshot = await ctx.snapshots.health();
    if (last?.snapshot !== snapshot) {
      const health = buildHealth(ctx, snapshot);
      const reply = json(health.status === 'fail' ? 503 : 200, health, 'application/health+json');
      last = { snapshot, reply: { ...reply, body: Buffer.from(reply.body) } };
    }
    return last.reply;
  };
}

/** Builds the health document from a snapshot. */
export function buildHealth(ctx: StatusContext, snapshot: HealthSnapshot): HealthBody {
  const time = snapshot.takenAt.toISOString();
  const db = snapshot.database;
  const uptimeSeconds = (snapshot.takenAt.getTime() - ctx.startedAt.getTime()) / 1000;
  const checks: Record<string, HealthCheck[]> = {
    'database:connection': [
      {
        componentType: 'datastore',
        status: !db.ok ? 'fail' : db.latencyMs > SLOW_DATABASE_MS ? 'warn' : 'pass',
        observedValue: db.latencyMs,
        observedUnit: 'ms',
        time,
        ...(db.ok ? (db.latencyMs > SLOW_DATABASE_MS ? { output: `select 1 took ${db.latencyMs} ms` } : {}) : { output: `database unavailable: ${db.error}` }),
      },
    ],
    'scheduler:running': [schedulerCheck(ctx, time)],
    'alerts:healthScore': [alertsCheck(ctx, time)],
  };
  for (const account of ctx.config.accounts) {
    if (!account.enabled) continue;
    const verdicts = judgeAccount(account, snapshot, uptimeSeconds);
    if (verdicts.length === 0) continue;
    checks[`account:${account.name}:freshness`] = verdicts.map((v) => freshnessCheck(account.name, v, time));
    checks[`account:${account.name}:lastRun`] = verdicts.map((v) => lastRunCheck(account.name, v, time));
  }
  return {
    status: worst(Object.values(checks).flat().map((c) => c.status)),
    version: ctx.version,
    serviceId: 'emag-sync',
    description: 'emag-sync: mirrors eMAG Marketplace seller accounts into PostgreSQL',
    checks,
  };
}

function schedulerCheck(ctx: StatusContext, time: string): HealthCheck {
  const running = ctx.scheduler.running;
  const active = ctx.scheduler.activeRuns().length;
  if (!ctx.config.enableScheduledSync) {
    return { componentType: 'component', status: 'pass', observedValue: running, time, output: `scheduled sync is off (EMAG_ENABLE_SCHEDULED_SYNC=false); ${active} runs in progress` };
  }
  return running
    ? { componentType: 'component', status: 'pass', observedValue: true, time, output: `${active} runs in progress` }
    : { componentType: 'component', status: 'warn', observedValue: false, time, output: 'the scheduler is not running: no scheduled syncs happen' };
}

/** The health score of the active alerts: pass at 100, warn below (critical alerts need a person, not a restart). */
function alertsCheck(ctx: StatusContext, time: string): HealthCheck {
  const score = ctx.alerts.healthScore();
  const active = ctx.alerts.active();
  return {
    componentType: 'system',
    status: active.length === 0 ? 'pass' : 'warn',
    observedValue: score,
    observedUnit: 'score',
    time,
    ...(active.length === 0 ? {} : { output: active.map((a) => `${a.severity} ${a.type}${a.account ? ` (${a.account})` : ''}`).join(', '), affectedEndpoints: ['/api/alerts?state=active'] }),
  };
}

function freshnessCheck(account: string, v: StreamVerdict, time: string): HealthCheck {
  const status: HealthStatus = !v.known || v.stale ? 'warn' : 'pass';
  return {
    componentId: v.stream,
    componentType: 'component',
    status,
    observedValue: v.ageSeconds,
    observedUnit: 's',
    time,
    output: v.message,
    // The draft omits affectedEndpoints on pass; otherwise it says where a person looks next.
    ...(status === 'pass' ? {} : { affectedEndpoints: [runsEndpoint(account, v.stream)] }),
  };
}

function lastRunCheck(account: string, v: StreamVerdict, time: string): HealthCheck {
  const run = v.state?.lastRun ?? null;
  // A failed run is a warning, even for wrong credentials: the data already synced is still served.
  const status: HealthStatus = !v.known || v.failing ? 'warn' : 'pass';
  const hint = v.failureKind === 'auth' ? ' (check the account credentials)' : v.failureKind === 'ip_not_whitelisted' ? ' (whitelist this server IP in the eMAG seller portal)' : '';
  return {
    componentId: v.stream,
    componentType: 'component',
    status,
    observedValue: run?.status ?? null,
    time: run?.finishedAt?.toISOString() ?? time,
    ...(v.failing ? { output: `${run?.error ?? 'failed'}${hint}`, affectedEndpoints: [runsEndpoint(account, v.stream)] } : {}),
    ...(v.known ? {} : { output: v.message }),
  };
}

function runsEndpoint(account: string, stream: string): string {
  return `/api/runs?account=${account}&stream=${stream}`;
}

/** The overall status: the worst of the checks. */
export function worst(statuses: HealthStatus[]): HealthStatus {
  if (statuses.includes('fail')) return 'fail';
  if (statuses.includes('warn')) return 'warn';
  return 'pass';
}

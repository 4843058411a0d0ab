/**
 * One emag-sync instance syncing many accounts at once, as `emag-sync sync all --stream offers`
 * does, with its status server up: in a fresh process, so its RSS and event-loop lag are its own.
 * Argument: JSON `ScaleInput`. Prints `{"statusUrl", "startAt"}` once the server listens, starts
 * every account's full scan at `startAt`, and prints a `ScaleReport` when they have all ended.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import { openDatabase } from '../src/db/connect.ts';
import { VERSION } from '../src/daemon.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { type ActiveRun, spreadStart } from '../src/scheduler.ts';
import { startStatusServer } from '../src/server/server.ts';
import { benchConfig, benchDeps } from './sync-setup.ts';
import { timedFullScan } from './timed-scan.ts';

/** What the parent asks for. */
export interface ScaleInput {
  baseUrl: string;
  databaseUrl: string;
  accounts: string[];
  /** How long after listening the scans start (the parent starts its load meanwhile). */
  delayMs: number;
}

/** One account's run. */
export interface ScaleRun {
  account: string;
  status: string;
  error: string | null;
  seen: number;
  durationMs: number;
  /** From the last page's commit to the run marked finished. */
  afterLastPageMs: number;
}

/** What the instance reports. */
export interface ScaleReport {
  runs: ScaleRun[];
  /** From the first scan's start to the last one's end. */
  wallMs: number;
  rssBeforeMB: number;
  rssPeakMB: number;
  /** Event-loop delay over the scans, ms. */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** CPU time of this process over the scans. */
  cpuMs: number;
  /** Process warnings (MaxListenersExceededWarning and the like). */
  warnings: string[];
}

const MB = 1024 * 1024;
const input = JSON.parse(process.argv[2] ?? '{}') as ScaleInput;
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

const config = benchConfig(input.databaseUrl, Object.fromEntries(input.accounts.map((a) => [a, input.baseUrl])));
// One pool for the instance, sized from the account count and opened as the daemon opens it.
const db = await openDatabase(input.databaseUrl, '', createLogger('silent'), config.accounts.length);
const sql = db.sql;
const metrics = new Metrics({ version: VERSION });
const deps = await benchDeps(sql, config, 'emag', metrics);
const active: ActiveRun[] = [];
const server = await startStatusServer({
  sql,
  config,
  metrics,
  scheduler: { running: true, nextRun: () => null, activeRuns: () => [...active] },
  log: createLogger('silent'),
  startedAt: new Date(),
  version: VERSION,
  database: { where: 'bench PostgreSQL', embedded: false },
  ownedAccounts: () => config.accounts.map((a) => a.name),
  alerts: new AlertEngine({ sql, config, log: createLogger('silent') }),
});
const startAt = Date.now() + input.delayMs;
process.stdout.write(`${JSON.stringify({ statusUrl: server.url, startAt })}\n`);
await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));

const rssBefore = process.memoryUsage.rss();
let peak = rssBefore;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 20);
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const cpu = process.cpuUsage();
const started = performance.now();
const runs = await Promise.all(
  config.accounts.map(async (account, i): Promise<ScaleRun> => {
    // As `emag-sync sync all` starts them.
    await spreadStart(deps.budgets.get(account.name), i, config.accounts.length);
    active.push({ account: account.name, stream: 'offers', mode: 'full', trigger: 'cli', startedAt: new Date() });
    const { result, afterLastPageMs } = await timedFullScan(deps, account);
    active.splice(active.findIndex((a) => a.account === account.name), 1);
    return { account: account.name, status: result.status, error: result.error, seen: result.counters.items_seen, durationMs: result.durationMs, afterLastPageMs };
  }),
);
const wallMs = performance.now() - started;
const used = process.cpuUsage(cpu);
lag.disable();
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage.rss());
await server.close();
await db.close();

const report: ScaleReport = {
  runs,
  wallMs,
  rssBeforeMB: rssBefore / MB,
  rssPeakMB: peak / MB,
  loopP50Ms: lag.percentile(50) / 1e6,
  loopP99Ms: lag.percentile(99) / 1e6,
  loopMaxMs: lag.max / 1e6,
  cpuMs: (used.user + used.system) / 1000,
  warnings,
};
process.stdout.write(`${JSON.stringify(report)}\n`);

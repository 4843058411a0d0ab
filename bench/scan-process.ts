/**
 * Full offers scans with the limits lifted (one, or `runs` one after the other, as a daemon would),
 * in a fresh process: its RSS can be compared with another catalog size's, and its CPU is the
 * scans' alone (not the bench's, whose earlier sections leave a heap behind). Argument: JSON
 * `{baseUrl, databaseUrl, account, runs?, others?}`. Prints one JSON line, a report per scan: the
 * run's figures, the CPU time of this process, of the database's backends and of `others`, and the
 * process's RSS before, at its peak during, and after it.
 */
import { connectUrl } from '../src/db/connect.ts';
import { cpuMeter } from './cpu.ts';
import { benchConfig, benchDeps } from './sync-setup.ts';
import { timedFullScan } from './timed-scan.ts';

/** What the parent asks for. */
export interface ScanInput {
  baseUrl: string;
  databaseUrl: string;
  account: string;
  /** Full scans to run one after the other, as a daemon would (the first one on a cold process). @default 1 */
  runs?: number;
  /** Processes whose CPU time each scan also reports (the sandbox's). */
  others?: number[];
}

/** What the scan reports. */
export interface ScanReport {
  status: string;
  error: string | null;
  seen: number;
  inserted: number;
  unchanged: number;
  durationMs: number;
  /** From the last page's commit to the end of the run (the soft-delete pass). */
  afterLastPageMs: number;
  /** After imports and connecting, before the scan. */
  rssBeforeMB: number;
  /** Highest RSS sampled (every 20 ms) during the scan. */
  rssPeakMB: number;
  /** Right after the scan. */
  rssAfterMB: number;
  heapUsedAfterMB: number;
  /** CPU ms over the scan of this process, and of the PostgreSQL backends serving its database. */
  cpuSelfMs: number;
  cpuDatabaseMs: number;
  /** CPU ms over the scan of the `others` processes together. */
  cpuOthersMs: number;
}

const MB = 1024 * 1024;
const input = JSON.parse(process.argv[2] ?? '{}') as ScanInput;
const config = benchConfig(input.databaseUrl, { [input.account]: input.baseUrl });
const sql = connectUrl(input.databaseUrl);
const deps = await benchDeps(sql, config, 'lifted');
await sql`select 1`;

/** One scan, with the process's RSS and the CPU time spent here, in the database and in `others`. */
async function scan(): Promise<ScanReport> {
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const meter = await cpuMeter(sql, input.others ?? []);
  const { result, afterLastPageMs } = await timedFullScan(deps, config.accounts[0]);
  // Read before the pool closes: a backend that has ended is not counted.
  const cpu = await meter();
  clearInterval(sampler);
  const rssAfter = process.memoryUsage.rss();
  return {
    status: result.status,
    error: result.error,
    seen: result.counters.items_seen,
    inserted: result.counters.items_inserted,
    unchanged: result.counters.items_unchanged,
    durationMs: result.durationMs,
    afterLastPageMs,
    rssBeforeMB: rssBefore / MB,
    rssPeakMB: Math.max(peak, rssAfter) / MB,
    rssAfterMB: rssAfter / MB,
    heapUsedAfterMB: process.memoryUsage().heapUsed / MB,
    cpuSelfMs: cpu.selfMs,
    cpuDatabaseMs: cpu.databaseMs,
    cpuOthersMs: cpu.othersMs,
  };
}

const reports: ScanReport[] = [];
for (let i = 0; i < (input.runs ?? 1); i++) reports.push(await scan());
await sql.end({ timeout: 5 });
process.stdout.write(`${JSON.stringify(reports)}\n`);

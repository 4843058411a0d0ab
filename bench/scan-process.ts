/**
 * One full offers scan with the limits lifted, in a fresh process so its RSS can be compared with
 * another catalog size's. Argument: JSON `{baseUrl, databaseUrl, account}`. Prints one JSON line
 * with the run's figures and the process's RSS before, at its peak during, and after the scan.
 */
import { connectUrl } from '../src/db/connect.ts';
import { benchConfig, benchDeps } from './sync-setup.ts';
import { timedFullScan } from './timed-scan.ts';

/** What the parent asks for. */
export interface ScanInput {
  baseUrl: string;
  databaseUrl: string;
  account: string;
}

/** What the scan reports. */
export interface ScanReport {
  status: string;
  error: string | null;
  seen: number;
  inserted: number;
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
}

const MB = 1024 * 1024;
const input = JSON.parse(process.argv[2] ?? '{}') as ScanInput;
const config = benchConfig(input.databaseUrl, { [input.account]: input.baseUrl });
const sql = connectUrl(input.databaseUrl);
const deps = await benchDeps(sql, config, 'lifted');
await sql`select 1`;

const rssBefore = process.memoryUsage.rss();
let peak = rssBefore;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 20);
const { result, afterLastPageMs } = await timedFullScan(deps, config.accounts[0]);
clearInterval(sampler);
const rssAfter = process.memoryUsage.rss();
peak = Math.max(peak, rssAfter);
await sql.end({ timeout: 5 });

const report: ScanReport = {
  status: result.status,
  error: result.error,
  seen: result.counters.items_seen,
  inserted: result.counters.items_inserted,
  durationMs: result.durationMs,
  afterLastPageMs,
  rssBeforeMB: rssBefore / MB,
  rssPeakMB: peak / MB,
  rssAfterMB: rssAfter / MB,
  heapUsedAfterMB: process.memoryUsage().heapUsed / MB,
};
process.stdout.write(`${JSON.stringify(report)}\n`);

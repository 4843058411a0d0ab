/**
 * One measured job of the backup bench, in a fresh process so its peak RSS stands alone. Argument:
 * JSON `{mode, databaseUrl, dir}`: `idle` starts the daemon (nothing scheduled) and waits a moment;
 * `backup` writes a backup into `dir`; `export` writes the offers CSV into `dir`. Prints one JSON
 * line with the time and the process's peak RSS (the kernel's high-water mark).
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackup } from '../src/backup/create.ts';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/daemon.ts';
import { connectUrl } from '../src/db/connect.ts';
import { exportChunks } from '../src/db/export.ts';
import { createLogger } from '../src/log.ts';

/** What the parent asks for. */
export interface BackupJobInput {
  mode: 'idle' | 'backup' | 'export';
  databaseUrl: string;
  dir: string;
}

/** What the job reports. */
export interface BackupJobReport {
  mode: string;
  seconds: number;
  /** Peak resident set size of the whole process, MB. */
  peakRssMB: number;
  /** Bytes written (backup or CSV). */
  bytes: number;
  rows: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as BackupJobInput;
const started = performance.now();
let bytes = 0;
let rows = 0;
if (input.mode === 'idle') {
  const config = loadConfig({
    EMAG_ACCOUNTS: 'idle',
    EMAG_IDLE_USERNAME: 'u',
    EMAG_IDLE_PASSWORD: 'p',
    EMAG_IDLE_BASE_URL: 'http://127.0.0.1:9',
    DATABASE_URL: input.databaseUrl,
    EMAG_SYNC_PORT: '0',
    EMAG_ENABLE_SCHEDULED_SYNC: 'false',
  });
  const daemon = await startDaemon(config, createLogger('silent'));
  await fetch(`${daemon.server.url}/api/status`).then((r) => r.arrayBuffer());
  await new Promise((r) => setTimeout(r, 2000));
  await daemon.stop();
} else {
  const sql = connectUrl(input.databaseUrl, 2);
  if (input.mode === 'backup') {
    const made = await createBackup(sql, { dir: input.dir });
    bytes = made.size;
    rows = made.rows;
  } else {
    const out = createWriteStream(join(input.dir, 'offers.csv'));
    await pipeline(Readable.from(exportChunks(sql, { what: 'offers', format: 'csv' })), out);
    bytes = out.bytesWritten;
  }
  await sql.end({ timeout: 5 });
}
const report: BackupJobReport = {
  mode: input.mode,
  seconds: (performance.now() - started) / 1000,
  // ru_maxrss is in kilobytes on Linux.
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  bytes,
  rows,
};
process.stdout.write(`${JSON.stringify(report)}\n`);

/**
 * What the status server reads from the daemon around it. Only reads: the server never starts or
 * changes anything itself.
 */
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Scheduler } from '../scheduler.ts';

/** The daemon's parts the status server reports on. */
export interface StatusContext {
  sql: Sql;
  config: Config;
  metrics: Metrics;
  scheduler: Pick<Scheduler, 'running' | 'nextRun' | 'activeRuns'>;
  log: Logger;
  /** When the daemon started; "never synced" only counts as stale after the daemon had time to sync. */
  startedAt: Date;
  version: string;
  /** Where the database is, already without credentials. */
  database: { where: string; embedded: boolean };
  /** Accounts whose lease this daemon holds (others are synced by another instance). */
  ownedAccounts(): string[];
}

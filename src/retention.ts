/**
 * The daily retention cleanup: per owned account, on EMAG_RETENTION_SCHEDULE (~03:00) shifted by the
 * account's start offset, a `maintenance` run that deletes expired history and records what it
 * deleted. A daemon that restarts often still cleans up: an account without a maintenance run in
 * the last day gets one shortly after start.
 */
import { Cron } from 'croner';
import type { Config } from './config.ts';
import type { Sql } from './db/connect.ts';
import { lastMaintenance, MAINTENANCE_STREAM, type Deleted, pruneAccount, type RetentionPolicy, saveSummary } from './db/retention.ts';
import { createRun, emptyCounters, finishRun, type RunTrigger } from './db/runs.ts';
import { coerceError, scrubSecrets } from './errors.ts';
import type { Logger } from './log.ts';
import { startOffsetSeconds } from './scheduler.ts';

/** The last runs of each stream that retention always keeps. */
export const KEEP_RUNS_PER_STREAM = 50;
/** Quarantined records are kept this long (the fixed 90 days). */
export const QUARANTINE_DAYS = 90;
const DAY_MS = 86_400_000;
/** Delay of the catch-up cleanup after start, so it never competes with the first syncs. */
const CATCH_UP_DELAY_MS = 60_000;

/** The retention periods from the configuration. */
export function retentionPolicy(config: Config): RetentionPolicy {
  return {
    runsDays: config.runsRetentionDays,
    keepRunsPerStream: KEEP_RUNS_PER_STREAM,
    quarantineDays: QUARANTINE_DAYS,
    commandsDays: config.commandsRetentionDays,
    logDays: config.logRetentionDays,
  };
}

/** What one cleanup did. */
export interface RetentionResult {
  runId: number;
  deleted: Deleted;
}

/** Runs one account's cleanup as a `maintenance` run; a failure is recorded on the run and thrown. */
export async function runRetention(sql: Sql, config: Config, account: string, trigger: RunTrigger, log: Logger): Promise<RetentionResult> {
  const runId = await createRun(sql, { account, stream: MAINTENANCE_STREAM, mode: 'full', trigger });
  const counters = emptyCounters();
  try {
    const deleted = await pruneAccount(sql, account, retentionPolicy(config));
    counters.items_deleted = Object.values(deleted).reduce((a, b) => a + b, 0);
    await saveSummary(sql, runId, { deleted });
    await finishRun(sql, runId, 'succeeded', counters, null);
    log.info({ account, stream: MAINTENANCE_STREAM, runId, deleted }, `retention: ${counters.items_deleted} rows deleted`);
    return { runId, deleted };
  } catch (err) {
    const message = scrubSecrets(coerceError(err).message);
    await finishRun(sql, runId, 'failed', counters, message).catch(() => {});
    throw err;
  }
}

/** The daemon's retention jobs, one per owned account. */
export class RetentionSchedule {
  readonly #jobs: Cron[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  #running: Promise<unknown> = Promise.resolve();

  readonly #catchUpDelayMs: number;
  readonly #owns: (account: string) => boolean;

  /**
   * `catchUpDelayMs`: how long after start a due cleanup waits. @default 60000
   * `owns`: whether this instance owns an account now (accounts move between instances); a cleanup
   * of an account it does not own is skipped, its owner runs it. @default every account
   */
  constructor(
    private readonly sql: Sql,
    private readonly config: Config,
    private readonly log: Logger,
    opts: { catchUpDelayMs?: number; owns?: (account: string) => boolean } = {},
  ) {
    this.#catchUpDelayMs = opts.catchUpDelayMs ?? CATCH_UP_DELAY_MS;
    this.#owns = opts.owns ?? (() => true);
  }

  /** Schedules each account's cleanup, and a catch-up one where the last is over a day old. */
  async start(accounts: string[]): Promise<void> {
    for (const account of accounts) {
      const offset = startOffsetSeconds(account, MAINTENANCE_STREAM, DAY_MS / 1000);
      const fire = (trigger: RunTrigger) => {
        const timer = setTimeout(() => this.#run(account, trigger), offset * 1000);
        timer.unref();
        this.#timers.push(timer);
      };
      this.#jobs.push(new Cron(this.config.retentionSchedule, { protect: true }, () => fire('schedule')));
      const last = await lastMaintenance(this.sql, account).catch(() => null);
      if (!last || Date.now() - last.getTime() > DAY_MS) {
        const timer = setTimeout(() => this.#run(account, 'schedule'), this.#catchUpDelayMs + (offset % 30) * (this.#catchUpDelayMs / 60));
        timer.unref();
        this.#timers.push(timer);
      }
    }
  }

  #run(account: string, trigger: RunTrigger): void {
    if (!this.#owns(account)) return;
    // One cleanup at a time: they are cheap, and the database has syncs to serve.
    this.#running = this.#running.then(() =>
      runRetention(this.sql, this.config, account, trigger, this.log).catch((err) =>
        this.log.warn({ account, err: scrubSecrets(coerceError(err).message) }, 'retention cleanup failed'),
      ),
    );
  }

  /** Stops the jobs and waits for a cleanup in progress. */
  async stop(): Promise<void> {
    for (const job of this.#jobs) job.stop();
    for (const t of this.#timers) clearTimeout(t);
    await this.#running;
  }
}

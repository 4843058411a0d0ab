/**
 * The scheduler: one croner job per account and stream, never two runs of one account's stream at
 * once, a per-account offset so nothing fires at round times, and failover retries with backoff.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Cron } from 'croner';
import type { AccountConfig, Schedule, Stream } from './config.ts';
import type { AccountBudget } from './emag/budget.ts';
import { coerceError, scrubSecrets } from './errors.ts';
import type { RunTrigger } from './db/runs.ts';
import { type RunMode, type RunResult, executeRun, type StreamFn, type SyncDeps } from './streams/run.ts';
import { STREAMS_SPEC } from './streams/registry.ts';

/** A run in progress, as the status server shows it. */
export interface ActiveRun {
  account: string;
  stream: Stream;
  mode: RunMode;
  trigger: RunTrigger;
  startedAt: Date;
  /** The run's row, once it is written. */
  runId?: number;
}

/** Raised when a run is asked for that cannot start. */
export class RunRefusedError extends Error {
  override name = 'RunRefusedError';
}

/** The start offset never exceeds this share of the stream's period, so a short schedule keeps its rhythm. */
export const OFFSET_SHARE_OF_PERIOD = 0.1;

/**
 * Seconds to shift an account stream's jobs by, derived from its name so it is stable across restarts:
 * eMAG asks integrators not to start jobs at round times, and accounts should not fire together.
 * At least 1 s, under a tenth of the period (`periodSeconds`) and under 3 min, and never a whole
 * minute: 1–2 s for a stream every 30 s, 1–29 s every 5 min, 1–179 s hourly.
 */
export function startOffsetSeconds(account: string, stream: string, periodSeconds: number): number {
  const h = createHash('sha1').update(`${account}/${stream}`).digest().readUInt32BE(0);
  const ceiling = Math.max(2, Math.min(180, Math.floor(periodSeconds * OFFSET_SHARE_OF_PERIOD)));
  const offset = 1 + (h % (ceiling - 1)); // 1 .. ceiling - 1
  return offset % 60 === 0 ? offset + 1 : offset;
}

/** How long a wave of runs started together takes to ramp up, per run (see `spreadStart`). */
export const RAMP_MS_PER_RUN = 40;

/**
 * Waits for the `i`-th of `n` runs started together to take its turn, then restarts its account's
 * budget (whose first slot is then one spacing away). The turns share out one spacing, or
 * `n` × RAMP_MS_PER_RUN when that is longer (2 s for 50 accounts).
 * - Accounts started at one moment would otherwise send — and get their answers, and store them —
 *   in lock-step, all at once every spacing (every budget's first slot is one spacing after it was
 *   made): 50 accounts made bursts of 50 pages.
 * - A wave's first pages run on cold code paths (and warm the database's caches): started within
 *   one spacing, 50 accounts' first pages held the event loop for up to 40 ms, and /health with it
 *   (p99 22–35 ms); ramped up over 2 s, 11–14 ms.
 * No account's pace changes; the last starts n × RAMP_MS_PER_RUN late at most. An abort ends the wait at once.
 */
export async function spreadStart(budget: AccountBudget | undefined, i: number, n: number, signal?: AbortSignal): Promise<void> {
  if (!budget || n <= 1) return;
  await delay((Math.max(budget.other.spacingMs, n * RAMP_MS_PER_RUN) * i) / n, undefined, { signal }).catch(() => {});
  budget.restart();
}

/** The seconds between two slots of a schedule (for a cron expression, between its next two runs). */
export function periodSeconds(schedule: Schedule): number {
  if (schedule.kind === 'interval') return schedule.minutes * 60;
  const [a, b] = new Cron(schedule.expression, { paused: true }).nextRuns(2);
  return a && b ? (b.getTime() - a.getTime()) / 1000 : 24 * 3600;
}

/** Failover retry delay after `failures` consecutive failures: 30 s doubling, capped at 10 min. */
export function failoverDelayMs(failures: number, firstMs = 30_000): number {
  const base = Math.min(600_000, firstMs * 2 ** (failures - 1));
  return base / 2 + Math.random() * (base / 2);
}

/** When an account stream last succeeded (null: never), to decide whether it is due at once. */
export type LastSuccess = (account: string, stream: Stream) => Promise<Date | null>;

/** The job of one account stream. */
interface Job {
  account: AccountConfig;
  stream: Stream;
  /** Seconds after each slot the runs start (see startOffsetSeconds). */
  offset: number;
  cron: Cron;
  nightly: Cron | null;
  failures: number;
  retry: NodeJS.Timeout | null;
}

/** Schedules and runs syncs for the accounts this daemon owns. */
export class Scheduler {
  readonly #deps: SyncDeps;
  readonly #jobs = new Map<string, Job>();
  readonly #active = new Map<string, { run: ActiveRun; done: Promise<RunResult>; started: Promise<number>; abort: AbortController }>();
  #stopped = false;
  /** Account streams poked while running: they run again as soon as they finish. */
  readonly #again = new Set<string>();
  /** Accounts this scheduler may run, once `start` or `addAccount` was called; null: any (manual runs only). */
  #accounts: Set<string> | null = null;
  /** Whether scheduled (not only manual) runs happen. */
  running = false;

  readonly #failoverFirstMs: number;

  /** `failoverFirstMs`: the first failover delay (doubling from there). @default 30000 */
  constructor(deps: SyncDeps, opts: { failoverFirstMs?: number } = {}) {
    this.#deps = deps;
    this.#failoverFirstMs = opts.failoverFirstMs ?? 30_000;
  }

  /**
   * Creates the jobs and starts them. A stream that has not succeeded within its last period runs
   * shortly after start; the others keep their rhythm from their last success. From now on only the
   * accounts given here or to `addAccount` run (until `removeAccount`).
   */
  async start(accounts: AccountConfig[], lastSuccess: LastSuccess): Promise<void> {
    this.running = true;
    this.#accounts ??= new Set();
    for (const account of accounts) await this.addAccount(account, lastSuccess);
  }

  /** Schedules an account's streams (an account this instance just took over); a no-op for one already scheduled. */
  async addAccount(account: AccountConfig, lastSuccess: LastSuccess): Promise<void> {
    if (!account.enabled || this.#stopped) return;
    this.#accounts ??= new Set();
    if (this.#accounts.has(account.name)) return;
    this.#accounts.add(account.name);
    for (const stream of account.syncTypes) {
      const spec = STREAMS_SPEC[stream];
      const schedule = account.schedules[stream];
      const offset = startOffsetSeconds(account.name, stream, periodSeconds(schedule));
      const name = `${account.name}/${stream}`;
      const fire = (mode: RunMode) => () => this.#fire(account, stream, mode, 'schedule');
      const last = await lastSuccess(account.name, stream).catch(() => null);
      // Removed (or stopped) while we asked the database.
      if (this.#stopped || !this.#accounts.has(account.name)) return;
      let due: boolean;
      let cron: Cron;
      if (schedule.kind === 'cron') {
        cron = new Cron(schedule.expression, { name, protect: true }, () => {
          setTimeout(fire(spec.defaultMode), offset * 1000).unref();
        });
        const previous = cron.previousRuns(1)[0];
        due = !last || (previous !== undefined && last < previous);
      } else {
        const periodMs = schedule.minutes * 60_000;
        due = !last || Date.now() - last.getTime() >= periodMs;
        // Next slot: one period after the catch-up run (or the last success), shifted by the offset.
        const base = due || !last ? Date.now() : last.getTime();
        const startAt = new Date(Math.max(Date.now() + 1000, base + periodMs) + offset * 1000);
        cron = new Cron('* * * * * *', { name, interval: schedule.minutes * 60, startAt, protect: true }, fire(spec.defaultMode));
      }
      // The nightly wide pass (e.g. orders re-read over the last days), at ~02:00 plus the offset.
      const nightly = spec.nightlyFull
        ? new Cron(`${offset % 60} ${Math.floor(offset / 60) + 1} 2 * * *`, { name: `${name}/nightly`, protect: true }, fire('full'))
        : null;
      this.#jobs.set(key(account.name, stream), { account, stream, offset, cron, nightly, failures: 0, retry: null });
      // Catch-up runs a moment apart per stream, so accounts do not start in lock-step.
      if (due) setTimeout(fire(spec.defaultMode), 500 + (offset % 5) * 400).unref();
    }
  }

  /**
   * Stops scheduling an account (handed to another instance, or its lease was lost) and resolves when
   * its runs have ended. With `abort`, runs in flight are cancelled at once; without, they finish.
   */
  async removeAccount(account: string, opts: { abort?: Error } = {}): Promise<void> {
    this.#accounts?.delete(account);
    for (const [k, job] of this.#jobs) {
      if (job.account.name !== account) continue;
      job.cron.stop();
      job.nightly?.stop();
      if (job.retry) clearTimeout(job.retry);
      this.#jobs.delete(k);
      this.#again.delete(k);
    }
    const runs = [...this.#active.values()].filter((a) => a.run.account === account);
    if (opts.abort) for (const a of runs) a.abort.abort(opts.abort);
    await Promise.allSettled(runs.map((a) => a.done));
  }

  /** Whether no run of the account is in progress (a run boundary: the account may be handed over). */
  idle(account: string): boolean {
    return ![...this.#active.values()].some((a) => a.run.account === account);
  }

  /**
   * Starts a run now unless one of the same account stream is running. Resolves with its result;
   * rejects with RunRefusedError when it cannot start.
   */
  trigger(account: AccountConfig, stream: Stream, mode: RunMode, trigger: RunTrigger, fn?: StreamFn): Promise<RunResult> {
    const k = key(account.name, stream);
    if (this.#stopped) return Promise.reject(new RunRefusedError('the daemon is stopping'));
    if (this.#accounts && !this.#accounts.has(account.name)) return Promise.reject(new RunRefusedError(`account ${account.name} is not owned by this instance`));
    if (this.#active.has(k)) return Promise.reject(new RunRefusedError(`${account.name}/${stream} is already running`));
    const spec = STREAMS_SPEC[stream];
    const abort = new AbortController();
    const run: ActiveRun = { account: account.name, stream, mode, trigger, startedAt: new Date() };
    let started!: (runId: number) => void;
    const startedRun = new Promise<number>((resolve) => {
      started = resolve;
    });
    const deps: SyncDeps = {
      ...this.#deps,
      onRunEvent: (e) => {
        if (e.type === 'started') {
          run.runId = e.run.runId;
          started(e.run.runId);
        }
        this.#deps.onRunEvent?.(e);
      },
    };
    const done = executeRun(deps, account, stream, fn ?? spec.fn, { mode, trigger, signal: abort.signal })
      .then(
        (result) => {
          this.#afterRun(account, stream, result);
          return result;
        },
        (err) => {
          // The run could not even be recorded (the database is down): say so, the next slot tries again.
          this.#deps.log.error({ account: account.name, stream, err: scrubSecrets(coerceError(err).message) }, 'run could not start');
          throw err;
        },
      )
      .finally(() => {
        this.#active.delete(k);
        if (this.#again.delete(k) && !this.#stopped) this.#fire(account, stream, mode, trigger);
      });
    // A run that could not even write its row never starts: `started` rejects with its error.
    this.#active.set(k, { run, done, started: Promise.race([startedRun, done.then(() => startedRun)]), abort });
    return done;
  }

  /**
   * Starts a run nobody awaits (a slot, a poke, a follow-up, a failover). A refusal is logged, not
   * dropped: it is how an operator learns that a slot was skipped because the last run still goes on.
   * A run that could not start was already logged by `trigger`.
   */
  #fire(account: AccountConfig, stream: Stream, mode: RunMode, trigger: RunTrigger): void {
    this.trigger(account, stream, mode, trigger).catch((err) => {
      if (err instanceof RunRefusedError) this.#deps.log.info({ account: account.name, stream, trigger, reason: err.message }, 'run skipped');
    });
  }

  /**
   * Starts a run now (a manual sync) and resolves with its run id as soon as its row is written; the
   * run goes on. Rejects with RunRefusedError when it cannot start (already running, stopping). `fn`
   * replaces the stream's function (a selective scan).
   */
  async startNow(account: AccountConfig, stream: Stream, mode: RunMode, trigger: RunTrigger = 'manual', fn?: StreamFn): Promise<number> {
    const done = this.trigger(account, stream, mode, trigger, fn);
    const entry = this.#active.get(key(account.name, stream));
    if (!entry || entry.done !== done) {
      await done;
      throw new RunRefusedError(`${account.name}/${stream} did not start`);
    }
    // The run is the scheduler's now: an end without a row was logged by trigger.
    done.catch(() => {});
    return entry.started;
  }

  #afterRun(account: AccountConfig, stream: Stream, result: RunResult): void {
    if (result.status !== 'failed' && result.status !== 'cancelled' && !this.#stopped) {
      // Follow-up streams (acknowledge right after orders) run now, when the account syncs them.
      for (const next of STREAMS_SPEC[stream].followedBy ?? []) {
        if (account.syncTypes.includes(next)) this.#fire(account, next, STREAMS_SPEC[next].defaultMode, 'schedule');
      }
    }
    const job = this.#jobs.get(key(account.name, stream));
    if (!job) return;
    if (result.status !== 'failed') {
      job.failures = 0;
      return;
    }
    job.failures++;
    // Wrong credentials or a non-whitelisted IP are not fixed by retrying; the next slot will try again.
    const hopeless = result.errorKind === 'auth' || result.errorKind === 'ip_not_whitelisted';
    if (!this.#deps.config.autoFailover || hopeless || this.#stopped || job.retry) return;
    const delay = failoverDelayMs(job.failures, this.#failoverFirstMs);
    const next = job.cron.nextRun();
    if (next && next.getTime() - Date.now() < delay) return;
    this.#deps.log.warn({ account: account.name, stream, inSeconds: Math.round(delay / 1000), failures: job.failures }, 'failover: retrying the failed run');
    job.retry = setTimeout(() => {
      job.retry = null;
      this.#fire(account, stream, STREAMS_SPEC[stream].defaultMode, 'failover');
    }, delay);
    job.retry.unref();
  }

  /**
   * Asks for a run of an account stream soon (e.g. new outbox rows were NOTIFYed). A running one runs
   * again when it ends; several pokes in a row make one run.
   */
  poke(accountName: string, stream: Stream): void {
    const job = this.#jobs.get(key(accountName, stream));
    if (!job || this.#stopped) return;
    const k = key(accountName, stream);
    if (this.#active.has(k)) {
      this.#again.add(k);
      return;
    }
    this.#fire(job.account, stream, STREAMS_SPEC[stream].defaultMode, 'schedule');
  }

  /** When the account stream runs next, if it is scheduled. */
  nextRun(account: string, stream: Stream): Date | null {
    const job = this.#jobs.get(key(account, stream));
    if (!job) return null;
    const next = job.cron.nextRun();
    if (!next) return null;
    const schedule = job.account.schedules[stream];
    return schedule.kind === 'cron' ? new Date(next.getTime() + job.offset * 1000) : next;
  }

  /** Runs in progress. */
  activeRuns(): ActiveRun[] {
    return [...this.#active.values()].map((a) => a.run);
  }

  /** Cancels one running run; false when there was none. */
  cancel(account: string, stream: Stream): boolean {
    const a = this.#active.get(key(account, stream));
    if (!a) return false;
    a.abort.abort(new Error('cancelled'));
    return true;
  }

  /** Cancels the running run with this id (`reason` is recorded); false when this daemon runs no such run. */
  cancelRun(runId: number, reason: string): boolean {
    for (const a of this.#active.values()) {
      if (a.run.runId !== runId) continue;
      a.abort.abort(new Error(reason));
      return true;
    }
    return false;
  }

  /** Stops scheduling, cancels running runs (they checkpoint what they committed) and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.running = false;
    for (const job of this.#jobs.values()) {
      job.cron.stop();
      job.nightly?.stop();
      if (job.retry) clearTimeout(job.retry);
    }
    for (const a of this.#active.values()) a.abort.abort(new Error('the daemon is stopping'));
    await Promise.allSettled([...this.#active.values()].map((a) => a.done));
  }
}

function key(account: string, stream: string): string {
  return `${account}/${stream}`;
}

/**
 * A run's lifecycle: the `emag_sync_runs` row, live counters, the account's client, the final status,
 * metrics and the one log line per run. Streams only fetch and write; this file does the bookkeeping.
 */
import type { AccountConfig, Config, Stream } from '../config.ts';
import type { ApiCallLog } from '../db/api-calls.ts';
import type { Db, Sql, Tx } from '../db/connect.ts';
import { quarantine as storeQuarantine, type QuarantinedRecord } from '../db/quarantine.ts';
import { createRun, emptyCounters, finishRun, type RunCounters, type RunStatus, type RunTrigger, saveProgress } from '../db/runs.ts';
import type { AccountBudget } from '../emag/budget.ts';
import { EmagClient } from '../emag/client.ts';
import { EmagError } from '../emag/errors.ts';
import { parseAll } from '../emag/quirks.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import { linkedAbort } from '../linked-abort.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/** How a stream may be run. */
export type RunMode = 'full' | 'incremental';

/** What every run needs from the daemon around it. */
export interface SyncDeps {
  sql: Sql;
  config: Config;
  log: Logger;
  /** One budget per account, shared by all its runs. */
  budgets: Map<string, AccountBudget>;
  metrics?: Metrics;
  callLog?: ApiCallLog;
  /** Told when a run starts, commits progress and ends (the console's live view). Must not throw. */
  onRunEvent?: (event: RunEvent) => void;
  /** The daemon instance running the runs (recorded on each run); absent for one-off commands. */
  instanceId?: string;
  /** When this process took the account's lease (database clock); null or absent: when the process started. */
  ownedSince?: (account: string) => Date | null;
}

/** A run as it stands at an event. */
export interface RunSnapshot {
  runId: number;
  account: string;
  stream: Stream;
  mode: RunMode;
  trigger: RunTrigger;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  counters: RunCounters;
  error: string | null;
}

/** What `onRunEvent` gets: `progress` after each committed page's counters are saved. */
export interface RunEvent {
  type: 'started' | 'progress' | 'finished';
  run: RunSnapshot;
}

/** What a stream function gets. */
export interface StreamContext {
  sql: Sql;
  config: Config;
  account: AccountConfig;
  client: EmagClient;
  log: Logger;
  mode: RunMode;
  signal: AbortSignal;
  run: RunHandle;
  /** When this process took the account over (database clock), if it did: work claimed before is a previous owner's. */
  ownedSince: Date | null;
}

/** What a stream reports back beyond its counters. */
export interface StreamOutcome {
  /** `partial` when some records or pages could not be processed. @default derived from counters */
  status?: 'succeeded' | 'partial';
  /** A short note for the log line (e.g. "complete scan"). */
  note?: string;
}

/** A stream implementation. */
export type StreamFn = (ctx: StreamContext) => Promise<StreamOutcome>;

/**
 * How often at most a run's progress is written: a run with the limits lifted stores hundreds of
 * pages a second, and a row update (and commit) per page would cost more than the pages' own writes.
 * Live enough for the status server, whose snapshot is a second old anyway.
 */
const PROGRESS_EVERY_MS = 1000;

/** The live run, as a stream sees it. */
export class RunHandle {
  readonly counters: RunCounters = emptyCounters();
  #saving: Promise<void> = Promise.resolve();
  /** Progress not written yet (the latest counters, and the latest checkpoint given). */
  #pending: { counters: RunCounters; checkpoint: unknown } | null = null;
  #lastWrite = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly account: string,
    readonly stream: Stream,
    private readonly sql: Sql,
    private readonly metrics?: Metrics,
    private readonly onProgress?: (counters: RunCounters) => void,
  ) {}

  /**
   * Saves the counters (and a checkpoint) so progress is visible live: at once when the last write
   * is a second old, else once that second is up (with whatever is latest then); serialised, never
   * concurrent. Best effort: a failed write (a database blip) is left to the next one and to the
   * run's final record, and never fails the run or the writes after it.
   */
  progress(checkpoint?: unknown): Promise<void> {
    const snapshot = { ...this.counters };
    // Those listening in memory hear of every step; the database row is written at most once a second.
    this.onProgress?.(snapshot);
    this.#pending = { counters: snapshot, checkpoint: checkpoint === undefined ? this.#pending?.checkpoint : checkpoint };
    const wait = this.#lastWrite + PROGRESS_EVERY_MS - performance.now();
    if (wait <= 0 && this.#timer === null) return this.#write();
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      void this.#write();
    }, wait);
    // The run's end writes what is held back (settled); a pending write keeps no process alive.
    this.#timer.unref();
    return Promise.resolve();
  }

  #write(): Promise<void> {
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null) return this.#saving;
    this.#lastWrite = performance.now();
    this.#saving = this.#saving.then(() => saveProgress(this.sql, this.id, pending.counters, pending.checkpoint)).catch(() => {});
    return this.#saving;
  }

  /** Stores records that could not be parsed, with their reasons, and counts them as failed. */
  async quarantine(tx: Db, records: QuarantinedRecord[]): Promise<void> {
    if (records.length === 0) return;
    await storeQuarantine(tx, this.account, this.stream, this.id, records);
    this.counters.items_failed += records.length;
    this.metrics?.quarantined.inc({ account: this.account, stream: this.stream }, records.length);
  }

  /**
   * Parses records eMAG sent and, in one transaction, quarantines the ones that do not parse and
   * hands the rest to `write` (the upsert, and whatever must commit with it, like a cursor).
   */
  async store<T, C>(items: unknown[], parse: (raw: unknown) => T, write: (tx: Tx, rows: T[]) => Promise<C>): Promise<{ rows: T[]; counts: C }> {
    const { rows, bad } = parseAll(items, parse);
    const counts = (await this.sql.begin(async (tx) => {
      await this.quarantine(tx, bad);
      return write(tx, rows);
    })) as C;
    return { rows, counts };
  }

  /** Adds a stored page to the counters: `seen` records read, and what the write did with them. */
  count(seen: number, c: { inserted: number; updated: number; unchanged: number; deleted?: number; stale?: number }): void {
    this.counters.items_seen += seen;
    this.counters.items_inserted += c.inserted;
    this.counters.items_updated += c.updated;
    this.counters.items_unchanged += c.unchanged;
    this.counters.items_deleted += c.deleted ?? 0;
    // Reads older than the stored record, not applied (no stale overwrite).
    this.counters.items_stale += c.stale ?? 0;
  }

  /** Writes any progress still held back, and waits for every progress write. */
  settled(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    return this.#write();
  }
}

/** The end of a run, as the CLI and scheduler see it. */
export interface RunResult {
  runId: number;
  account: string;
  stream: Stream;
  status: RunStatus;
  counters: RunCounters;
  durationMs: number;
  error: string | null;
  /** The error's kind when it was an eMAG error (auth, rate_limited, …). */
  errorKind: string | null;
}

/**
 * The error text of a cancelled run, from the abort signal's reason ("the daemon is stopping",
 * "interrupted", …); just "cancelled" when the reason says no more.
 */
function cancellation(reason: unknown): string {
  const why = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : typeof reason === 'string' ? reason : '';
  return why === '' || why === 'cancelled' ? 'cancelled' : `cancelled: ${scrubSecrets(why)}`;
}

/** Runs one stream of one account to its end, recording everything. Never throws for sync failures. */
export async function executeRun(
  deps: SyncDeps,
  account: AccountConfig,
  stream: Stream,
  streamFn: StreamFn,
  opts: { mode: RunMode; trigger: RunTrigger; signal?: AbortSignal },
): Promise<RunResult> {
  const { sql, config, metrics } = deps;
  const started = performance.now();
  const budget = deps.budgets.get(account.name);
  if (!budget) throw new Error(`no rate budget for account ${account.name}`);
  const runId = await createRun(sql, { account: account.name, stream, mode: opts.mode, trigger: opts.trigger, instance: deps.instanceId });
  const log = deps.log.child({ account: account.name, stream, runId });
  const startedAt = new Date();
  const snapshot = (status: RunStatus, counters: RunCounters, error: string | null = null): RunSnapshot => ({
    runId,
    account: account.name,
    stream,
    mode: opts.mode,
    trigger: opts.trigger,
    status,
    startedAt,
    finishedAt: status === 'running' ? null : new Date(),
    counters,
    error,
  });
  const run = new RunHandle(runId, account.name, stream, sql, metrics, (c) => deps.onRunEvent?.({ type: 'progress', run: snapshot('running', c) }));
  const client = new EmagClient({
    account: account.name,
    baseUrl: account.baseUrl,
    username: account.username,
    password: account.password,
    budget,
    timeoutMs: config.apiTimeoutMs,
    maxRetries: config.maxRetries,
    // A callback's read goes ahead of scans waiting for the same budget.
    priority: stream === 'callbacks',
    onCall: (e) => {
      run.counters.api_requests++;
      if (e.waitedMs > 5) run.counters.rate_limit_waits++;
      metrics?.observeCall(e);
      deps.callLog?.record(e);
    },
  });
  // The run's own signal: `sync all` shares one signal among every account, and each request in
  // flight listens to the signal it is given (MaxListenersExceededWarning at 20 accounts on a shared
  // one). A scan keeps a handful in flight.
  const link = linkedAbort(opts.signal, 64);
  const signal = link.signal;
  metrics?.running.set({ account: account.name, stream }, 1);
  log.debug({ mode: opts.mode, trigger: opts.trigger }, 'run started');
  deps.onRunEvent?.({ type: 'started', run: snapshot('running', { ...run.counters }) });

  let status: RunStatus;
  let error: string | null = null;
  let errorKind: string | null = null;
  let note: string | undefined;
  try {
    const ownedSince = deps.ownedSince?.(account.name) ?? null;
    const outcome = await streamFn({ sql, config, account, client, log, mode: opts.mode, signal, run, ownedSince });
    note = outcome.note;
    status = signal.aborted ? 'cancelled' : (outcome.status ?? (run.counters.items_failed > 0 ? 'partial' : 'succeeded'));
    if (signal.aborted) error = cancellation(signal.reason);
  } catch (err) {
    const e = coerceError(err);
    if (signal.aborted) {
      status = 'cancelled';
    } else {
      status = 'failed';
      error = scrubSecrets(e.message);
      errorKind = e instanceof EmagError ? e.kind : null;
    }
  }
  // Why the run was stopped (the daemon stopping, an operator, a lost account lease), whether the
  // stream returned or threw on the abort.
  if (status === 'cancelled') error = cancellation(signal.reason);
  link.unlink();
  await run.settled().catch(() => {});
  const c = run.counters;
  try {
    await finishRun(sql, runId, status, c, error, errorKind);
  } catch (err) {
    log.error({ err: scrubSecrets(coerceError(err).message) }, 'could not record the end of the run');
  }
  const durationMs = performance.now() - started;
  metrics?.running.set({ account: account.name, stream }, 0);
  metrics?.runs.inc({ account: account.name, stream, result: status });
  metrics?.runDuration.observe({ account: account.name, stream }, durationMs / 1000);
  for (const outcome of ['inserted', 'updated', 'unchanged', 'deleted', 'failed'] as const) {
    const n = c[`items_${outcome}`];
    if (n > 0) metrics?.records.inc({ account: account.name, stream, outcome }, n);
  }
  if (status === 'succeeded' || status === 'partial') metrics?.lastSuccess.set({ account: account.name, stream }, Date.now() / 1000);

  const figures = {
    status,
    mode: opts.mode,
    trigger: opts.trigger,
    durationMs: Math.round(durationMs),
    pages: `${c.pages_done}/${c.pages_total ?? '?'}`,
    seen: c.items_seen,
    inserted: c.items_inserted,
    updated: c.items_updated,
    unchanged: c.items_unchanged,
    deleted: c.items_deleted,
    failed: c.items_failed,
    ...(c.items_stale > 0 ? { stale: c.items_stale } : {}),
    apiRequests: c.api_requests,
    rateLimitWaits: c.rate_limit_waits,
    ...(error ? { error } : {}),
    ...(note ? { note } : {}),
  };
  // An offers scan that saw nothing is the classic silent failure (wrong account, emptied catalog): say so.
  const suspicious = status === 'succeeded' && stream === 'offers' && c.items_seen === 0;
  const level = status === 'failed' ? 'error' : status === 'succeeded' && !suspicious ? 'info' : 'warn';
  log[level](figures, `run ${status}: ${account.name}/${stream}${suspicious ? ' (0 offers seen)' : ''}`);
  deps.onRunEvent?.({ type: 'finished', run: snapshot(status, { ...c }, error) });
  return { runId, account: account.name, stream, status, counters: { ...c }, durationMs, error, errorKind };
}

/**
 * The database-derived part of /health, /api/status and /metrics, loaded at most once a second and
 * never waiting long: a hung or unreachable database turns into "unavailable", not a hung probe.
 */
import { STREAMS, type Stream } from '../config.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import { implementedStreams } from '../streams/registry.ts';
import { ping } from '../db/connect.ts';
import { commandCounts } from '../db/commands.ts';
import { unacknowledgedCounts } from '../db/orders.ts';
import { cachedFor } from './cache.ts';
import type { StatusContext } from './context.ts';
import { type AccountActivity, loadActivity } from '../db/api-calls.ts';
import { loadRunningRuns, loadStreamStates, type RunningRun, type StreamKey, type StreamState } from '../db/run-reports.ts';

/** How long one probe waits for the database before calling it unavailable. */
export const DATABASE_TIMEOUT_MS = 1000;
/** How long a snapshot is reused. */
export const SNAPSHOT_TTL_MS = 1000;

/** The result of `select 1`. */
export interface DatabaseProbe {
  ok: boolean;
  latencyMs: number;
  /** Why it failed, without credentials. */
  error: string | null;
}

/** What /health needs: the connection and each account stream's latest runs. */
export interface HealthSnapshot {
  takenAt: Date;
  database: DatabaseProbe;
  /** By `account/stream`; null when the database could not be read. */
  states: Map<string, StreamState> | null;
}

/** What /api/status and /metrics need on top. */
export interface StatusSnapshot extends HealthSnapshot {
  /** Runs in progress (any instance's); empty when the database could not be read. */
  running: RunningRun[];
  /** By account; null when the database could not be read. */
  activity: Map<string, AccountActivity> | null;
  /** Orders waiting for acknowledgement and the commands outbox, by account; null when unreadable. */
  work: Map<string, AccountWork> | null;
}

/** What waits on an account: new orders not yet acknowledged, and outbox commands by kind and status. */
export interface AccountWork {
  unacknowledgedOrders: number;
  commands: { pending: number; failed: number; conflict: number; byKind: Record<string, { pending: number; failed: number; conflict: number }> };
}

async function loadWork(sql: StatusContext['sql']): Promise<Map<string, AccountWork>> {
  const [unacked, counts] = await Promise.all([unacknowledgedCounts(sql), commandCounts(sql)]);
  const work = new Map<string, AccountWork>();
  const of = (account: string) => {
    const w = work.get(account) ?? { unacknowledgedOrders: 0, commands: { pending: 0, failed: 0, conflict: 0, byKind: {} } };
    work.set(account, w);
    return w;
  };
  for (const [account, n] of unacked) of(account).unacknowledgedOrders = n;
  for (const c of counts) {
    // A running command is still waiting, as far as the ERP is concerned.
    const status = c.status === 'running' ? 'pending' : (c.status as 'pending' | 'failed' | 'conflict');
    const w = of(c.account).commands;
    w[status] += c.n;
    w.byKind[c.kind] ??= { pending: 0, failed: 0, conflict: 0 };
    w.byKind[c.kind][status] += c.n;
  }
  return work;
}

/** Cached snapshot loaders for one server. */
export interface Snapshots {
  health(): Promise<HealthSnapshot>;
  status(): Promise<StatusSnapshot>;
}

/** The key of an account stream in `states`. */
export function streamKey(account: string, stream: string): string {
  return `${account}/${stream}`;
}

/**
 * The streams of an account the server reports on: its configured ones that are implemented. The
 * scheduler does not run the others either, so they would only ever look stale.
 */
export function reportedStreams(syncTypes: Stream[]): Stream[] {
  const implemented = new Set(implementedStreams());
  return STREAMS.filter((s) => syncTypes.includes(s) && implemented.has(s));
}

/** Creates the cached loaders. */
export function snapshotsFor(ctx: StatusContext): Snapshots {
  const keys: StreamKey[] = ctx.config.accounts.flatMap((a) => reportedStreams(a.syncTypes).map((stream) => ({ account: a.name, stream })));

  const health = cachedFor(SNAPSHOT_TTL_MS, async (): Promise<HealthSnapshot> => {
    const takenAt = new Date();
    const [database, states] = await Promise.all([probe(ctx), optional(ctx, 'run states', loadStreamStates(ctx.sql, keys))]);
    return { takenAt, database, states: database.ok && states ? new Map(states.map((s) => [streamKey(s.account, s.stream), s])) : null };
  });

  const status = cachedFor(SNAPSHOT_TTL_MS, async (): Promise<StatusSnapshot> => {
    const [base, running, activity, work] = await Promise.all([
      health(),
      optional(ctx, 'running runs', loadRunningRuns(ctx.sql)),
      optional(ctx, 'API activity', loadActivity(ctx.sql)),
      optional(ctx, 'orders and outbox', loadWork(ctx.sql)),
    ]);
    const readable = base.database.ok;
    return { ...base, running: readable ? (running ?? []) : [], activity: readable ? activity : null, work: readable ? work : null };
  });

  return { health, status };
}

/** `select 1` within DATABASE_TIMEOUT_MS; a query still waiting for a connection is cancelled. */
async function probe(ctx: StatusContext): Promise<DatabaseProbe> {
  const started = performance.now();
  const query = ping(ctx.sql);
  try {
    await withTimeout(query, () => query.cancel());
    return { ok: true, latencyMs: round(performance.now() - started), error: null };
  } catch (err) {
    return { ok: false, latencyMs: round(performance.now() - started), error: scrubSecrets(coerceError(err).message) };
  }
}

/** A secondary query: its failure is logged and reads as "unknown", never as an error of the probe. */
async function optional<T>(ctx: StatusContext, what: string, work: Promise<T>): Promise<T | null> {
  try {
    return await withTimeout(work);
  } catch (err) {
    ctx.log.debug({ err: scrubSecrets(coerceError(err).message) }, `status server: could not read ${what}`);
    return null;
  }
}

function withTimeout<T>(work: PromiseLike<T>, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`));
    }, DATABASE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

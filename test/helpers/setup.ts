/**
 * A sandbox eMAG and a fresh database wired into a Config and SyncDeps, as the daemon would have them.
 */
import { type Config, loadConfig } from '../../src/config.ts';
import { budgetsFor } from '../../src/emag/budget.ts';
import { catalogSettings, setCatalogPriority } from '../../src/db/offers.ts';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { after, before } from 'node:test';
import { type Sandbox, type SandboxAccountSpec, startSandbox } from '../../src/sandbox/server.ts';
import type { SyncDeps } from '../../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './db.ts';

/** Credentials of the test accounts (sandbox-only). */
export const TEST_ACCOUNTS = [
  { name: 'main', username: 'main-user', password: 'main-sandbox-secret' },
  { name: 'fbe', username: 'fbe-user', password: 'fbe-sandbox-secret' },
] as const;

/** Environment variables for the test accounts against `sandbox`, plus `extra`. */
export function sandboxEnv(sandbox: Sandbox, db: TestDatabase | null, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { EMAG_ACCOUNTS: TEST_ACCOUNTS.map((a) => a.name).join(','), EMAG_SYNC_PORT: '0', EMAG_API_TIMEOUT: '5' };
  if (db) env.DATABASE_URL = db.url;
  for (const a of TEST_ACCOUNTS) {
    const up = `EMAG_${a.name.toUpperCase()}`;
    env[`${up}_BASE_URL`] = sandbox.url;
    env[`${up}_USERNAME`] = a.username;
    env[`${up}_PASSWORD`] = a.password;
  }
  return { ...env, ...extra };
}

/** Config and SyncDeps for tests that run streams directly. */
export async function syncDeps(
  sandbox: Sandbox,
  db: TestDatabase,
  extra: Record<string, string> = {},
  /** Share another deps' budgets: the sandbox, like eMAG, counts an account's requests together. */
  budgets?: SyncDeps['budgets'],
): Promise<{ config: Config; deps: SyncDeps }> {
  const config = loadConfig(sandboxEnv(sandbox, db, extra));
  await setCatalogPriority(db.sql, config.catalogPriority, catalogSettings(config));
  const deps: SyncDeps = {
    sql: db.sql,
    config,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    budgets: budgets ?? budgetsFor(config.accounts),
    metrics: new Metrics({ defaultMetrics: false }),
  };
  return { config, deps };
}

/** What a test file works with: a sandbox, a fresh database, and the daemon's view of both. */
export interface Harness {
  sandbox: Sandbox;
  db: TestDatabase;
  config: Config;
  deps: SyncDeps;
}

/**
 * Starts a sandbox with the test accounts (`main`, then `fbe`, with the given data) and a fresh
 * database before the file's tests, hands them to `use`, and closes both after.
 */
export function harness(accounts: [Partial<SandboxAccountSpec>, Partial<SandboxAccountSpec>], opts: { sharedSkus?: number; env?: Record<string, string> }, use: (h: Harness) => void | Promise<void>): void {
  let h: Partial<Harness> = {};
  before(async () => {
    const [sandbox, db] = await Promise.all([
      startSandbox({ accounts: accounts.map((a, i) => ({ offers: 5, ...a, ...TEST_ACCOUNTS[i] })), sharedSkus: opts.sharedSkus }),
      testDatabase(),
    ]);
    h = { sandbox, db, ...(await syncDeps(sandbox, db, opts.env)) };
    await use(h as Harness);
  });
  after(async () => {
    await h.sandbox?.close();
    await h.db?.close();
  });
}

/**
 * `start` run at most once; every call gets the first call's promise. A file's shared starting point
 * (e.g. the first sync of the mirror): each test that needs it awaits it, so no test relies on a
 * test before it having run.
 */
export function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => (started ??= start());
}

/**
 * Resolves once the sandbox has received, since log index `from`, a request that `match` accepts:
 * the moment a test acts on (a scan under way, a count in flight). The log has no events; it is
 * looked at every few milliseconds.
 */
export async function requestArrived(sandbox: Sandbox, from: number, match: (e: Sandbox['log'][number]) => boolean): Promise<void> {
  while (!sandbox.log.slice(from).some(match)) await new Promise((r) => setTimeout(r, 2));
}

/**
 * The bench's accounts, Config and SyncDeps. Two budgets: eMAG's real one (through loadConfig, as the
 * daemon has it) and a lifted one for ingest figures — config validation caps rates at eMAG's limits,
 * so the lifted budget is built by hand.
 */
import { type Config, loadConfig } from '../src/config.ts';
import type { Sql } from '../src/db/connect.ts';
import { catalogSettings, setCatalogPriority } from '../src/db/offers.ts';
import { AccountBudget, budgetsFor } from '../src/emag/budget.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import type { SandboxAccountSpec } from '../src/sandbox/server.ts';
import type { SyncDeps } from '../src/streams/run.ts';

/** Sandbox-only credentials of a bench account with `offers` offers. */
export function benchAccount(name: string, offers: number): SandboxAccountSpec {
  return { name, username: `${name}-bench-user`, password: `${name}-sandbox-secret`, offers };
}

/** A Config of the given accounts (name → sandbox base URL), syncing offers only; `extra` adds variables. */
export function benchConfig(databaseUrl: string, accounts: Record<string, string>, extra: Record<string, string> = {}): Config {
  const env: Record<string, string> = {
    ...extra,
    EMAG_ACCOUNTS: Object.keys(accounts).join(','),
    DATABASE_URL: databaseUrl,
    EMAG_SYNC_PORT: '0',
    EMAG_API_TIMEOUT: '30',
    EMAG_LOG_LEVEL: 'silent',
  };
  for (const [name, baseUrl] of Object.entries(accounts)) {
    const spec = benchAccount(name, 0);
    const up = `EMAG_${name.toUpperCase()}`;
    env[`${up}_BASE_URL`] = baseUrl;
    env[`${up}_USERNAME`] = spec.username;
    env[`${up}_PASSWORD`] = spec.password;
    env[`${up}_SYNC_TYPES`] = 'offers';
  }
  return loadConfig(env);
}

/** How a bench run may spend requests. */
export type BudgetKind = 'emag' | 'lifted';

/** SyncDeps over `sql`: eMAG's budget, or one (1000 req/s) that never holds a request back. */
export async function benchDeps(sql: Sql, config: Config, budget: BudgetKind, metrics = new Metrics({ defaultMetrics: false })): Promise<SyncDeps> {
  await setCatalogPriority(sql, config.catalogPriority, catalogSettings(config));
  const budgets = budget === 'emag' ? budgetsFor(config.accounts) : new Map(config.accounts.map((a) => [a.name, new AccountBudget(1000, 1000)]));
  return { sql, config, log: createLogger(process.env.BENCH_LOG_LEVEL ?? 'silent'), budgets, metrics };
}

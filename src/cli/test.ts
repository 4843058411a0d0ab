/**
 * `emag-sync test`: configuration, database and each account's API access, with a verdict each.
 */
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { openDatabase, serverVersion } from '../db/connect.ts';
import { AccountBudget } from '../emag/budget.ts';
import { EmagClient } from '../emag/client.ts';
import { EmagError, type EmagErrorKind } from '../emag/errors.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import { createLogger } from '../log.ts';
import { pickAccounts } from './accounts.ts';
import type { Command } from './command.ts';

/** What a failed API check means for a person, by error kind. */
const HINTS: Record<EmagErrorKind, string> = {
  auth: 'wrong username/password, or the user lacks API rights',
  ip_not_whitelisted: "this machine's IP is not whitelisted for the API in the eMAG seller panel",
  rate_limited: 'rate limited by eMAG; another integration may be using the same account',
  network: 'cannot reach the API (network or base URL)',
  timeout: 'the API did not answer in time',
  server: 'eMAG answered with a server error; try again later',
  invalid_response: 'the answer was not eMAG JSON (wrong base URL?)',
  rejected: 'eMAG refused the request',
};

/** What a failed API check means for a person. */
function verdict(err: unknown): string {
  if (!(err instanceof EmagError)) return scrubSecrets(coerceError(err).message);
  return `${HINTS[err.kind]} — ${err.message}`;
}

/** Checks everything a sync needs; exits 0 when all passed, 1 otherwise, 78 for a broken configuration. */
export const test: Command = {
  summary: "check configuration, database and each account's API access",
  args: '[account]',
  usage: `Usage: emag-sync test [account]

Checks the configuration, the database connection and one cheap API call (vat/read) per account,
and prints a verdict for each. Exits 0 when everything passed, 1 otherwise.`,
  options: {},
  positionals: 1,
  async run({ positionals }) {
    let ok = true;
    let config: Config;
    try {
      config = loadConfig();
      console.log(`✔ configuration: ${config.accounts.length} account(s): ${config.accounts.map((a) => a.name).join(', ')}`);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.log(`✘ configuration:\n${err.problems.map((p) => `    ${p}`).join('\n')}`);
        return 78;
      }
      throw err;
    }
    const accounts = positionals[0] ? pickAccounts(config, positionals[0]) : config.accounts;
    try {
      const db = await openDatabase(config.databaseUrl, config.dataDir, createLogger('silent'));
      try {
        const version = await serverVersion(db.sql);
        console.log(`✔ database: PostgreSQL ${version}, ${db.where}`);
      } finally {
        await db.close();
      }
    } catch (err) {
      ok = false;
      console.log(`✘ database: ${scrubSecrets(coerceError(err).message)}`);
    }
    for (const account of accounts) {
      const client = new EmagClient({
        account: account.name,
        baseUrl: account.baseUrl,
        username: account.username,
        password: account.password,
        budget: new AccountBudget(account.ordersRps, account.otherRps),
        timeoutMs: Math.min(config.apiTimeoutMs, 15_000),
        maxRetries: 1,
      });
      const started = performance.now();
      try {
        await client.read('vat', {});
        console.log(`✔ ${account.name}: API access works (${account.baseUrl}, ${Math.round(performance.now() - started)} ms)`);
      } catch (err) {
        ok = false;
        console.log(`✘ ${account.name}: ${verdict(err)}`);
      }
    }
    return ok ? 0 : 1;
  },
};

/**
 * `emag-sync test`: configuration, database and each account's API access, with a verdict each.
 */
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { openDatabase, serverVersion } from '../db/connect.ts';
import { probeAccount } from '../emag/probe.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import { createLogger } from '../log.ts';
import { pickAccounts } from './accounts.ts';
import type { Command } from './command.ts';

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
      // The same verdict as the console's "test connection" (POST /api/accounts/<name>/test).
      const v = await probeAccount(account, { apiTimeoutMs: config.apiTimeoutMs });
      if (!v.ok) ok = false;
      console.log(`${v.ok ? '✔' : '✘'} ${account.name}: ${v.message}`);
    }
    return ok ? 0 : 1;
  },
};

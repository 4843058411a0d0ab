/**
 * `emag-sync migrate`: applies pending migrations and exits.
 */
import { loadConfig, readEnv } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import { migrate as applyMigrations } from '../db/migrate.ts';
import { createLogger } from '../log.ts';
import type { Command } from './command.ts';

/** Applies the SQL files of sql/ the database has not seen. */
export const migrate: Command = {
  summary: 'apply database migrations and exit',
  usage: `Usage: emag-sync migrate

Applies the numbered SQL files in sql/ that the database has not seen, each in a transaction, and
refuses to run if an applied file was changed.`,
  options: {},
  async run() {
    const config = loadConfig(readEnv(), { requireAccounts: false });
    const log = createLogger(config.logLevel);
    const db = await openDatabase(config.databaseUrl, config.dataDir, log);
    try {
      const applied = await applyMigrations(db.sql);
      console.log(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
      return 0;
    } finally {
      await db.close();
    }
  },
};

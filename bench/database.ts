/**
 * The bench's database: a fresh, migrated one from the test helper (TEST_DATABASE_URL's server, else
 * an embedded PostgreSQL), whose sessions — the bench's and its child processes' — cancel any
 * statement running longer than STATEMENT_TIMEOUT_S, so one pathological plan cannot hang the bench.
 */
import { connectUrl, type Sql } from '../src/db/connect.ts';
import { testDatabase } from '../test/helpers/db.ts';
import { STATEMENT_TIMEOUT_S } from './timed-scan.ts';

/** An open bench database; `close` drops it. */
export interface BenchDatabase {
  sql: Sql;
  url: string;
  close(): Promise<void>;
}

/** Creates the database and sets its statement timeout for every session opened afterwards. */
export async function openBenchDatabase(): Promise<BenchDatabase> {
  const test = await testDatabase();
  try {
    const name = new URL(test.url).pathname.slice(1);
    await test.sql.unsafe(`alter database "${name}" set statement_timeout = '${STATEMENT_TIMEOUT_S}s'`);
  } catch (err) {
    await test.close();
    throw err;
  }
  // The helper's pool may already hold sessions opened before the setting: use a new one.
  const sql = connectUrl(test.url);
  return {
    sql,
    url: test.url,
    close: async () => {
      await sql.end({ timeout: 5 });
      await test.close();
    },
  };
}

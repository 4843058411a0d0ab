/**
 * A fresh database per test file: a new database on TEST_DATABASE_URL's server (CI: Debian's
 * PostgreSQL), or an embedded PostgreSQL in a temporary directory when that is unset.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectUrl, type Sql, startEmbedded } from '../../src/db/connect.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log.ts';

/** A migrated, empty database of one's own. */
export interface TestDatabase {
  sql: Sql;
  url: string;
  close(): Promise<void>;
}

/** Creates and migrates a new database; `close` drops it (and stops the embedded server). */
export async function testDatabase(): Promise<TestDatabase> {
  const log = createLogger('silent');
  let serverUrl = process.env.TEST_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | null = null;
  let dir: string | null = null;
  if (!serverUrl) {
    dir = mkdtempSync(join(tmpdir(), 'emag-sync-test-'));
    // As root, PostgreSQL runs as the `postgres` user, which must be able to enter the directory.
    chmodSync(dir, 0o755);
    const embedded = await startEmbedded(dir, log);
    serverUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const name = `emag_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = connectUrl(serverUrl, 1);
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = connectUrl(url.toString());
  await migrate(sql);
  return {
    sql,
    url: url.toString(),
    close: async () => {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await admin.end({ timeout: 5 });
      if (stopEmbedded) await stopEmbedded();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Applies `sql/NNN_name.sql` in order, each in its own transaction, recorded in `emag_migrations`.
 * Refuses to run when an applied file has changed since it was applied.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Sql } from './connect.ts';

/** Where the migration files live. */
export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

/** Raised when the database and the migration files disagree. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** A migration file. */
interface Migration {
  id: string;
  sql: string;
  checksum: string;
}

function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(`${dir}/${f}`, 'utf8');
      return { id: f.replace(/\.sql$/, ''), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** The ids (`004_commands`, …) of the migration files this code ships, in order. */
export function migrationIds(dir = SQL_DIR): string[] {
  return readMigrations(dir).map((m) => m.id);
}

/** Applies pending migrations, each in its own transaction; returns the ids applied now. Safe with several daemons. */
export async function migrate(sql: Sql, dir = SQL_DIR): Promise<string[]> {
  const files = readMigrations(dir);
  await sql`create table if not exists emag_migrations (
    id text primary key, checksum text not null, applied_at timestamptz not null default now())`;
  const done: string[] = [];
  for (const m of files) {
    const appliedNow = await sql.begin(async (tx) => {
      // One migrator at a time across daemons; the lock ends with the transaction.
      await tx`select pg_advisory_xact_lock(hashtext('emag-sync:migrate'))`;
      const [row] = await tx<{ checksum: string }[]>`select checksum from emag_migrations where id = ${m.id}`;
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(`migration ${m.id}.sql was changed after it was applied; restore it and add a new migration instead`);
        }
        return false;
      }
      try {
        await tx.unsafe(m.sql);
      } catch (err) {
        throw new MigrationError(`migration ${m.id}.sql failed: ${(err as Error).message}`);
      }
      await tx`insert into emag_migrations (id, checksum) values (${m.id}, ${m.checksum})`;
      return true;
    });
    if (appliedNow) done.push(m.id);
  }
  return done;
}

/**
 * `backup restore`: checks the whole file first (checksum, row counts, schema version) without
 * touching the database, takes every account's lease (refusing while a daemon holds one), applies
 * the migrations, then loads every row in one transaction — committed only after the second read
 * checked the file again — and resets the sequences.
 */
import type { Sql } from '../db/connect.ts';
import { Leases } from '../db/leases.ts';
import { migrate, migrationIds } from '../db/migrate.ts';
import {
  accountsInDatabase,
  insertRows,
  primaryKey,
  resetSequences,
  SEEDED_TABLES,
  setUserTriggers,
  tableColumns,
  tablesWithRows,
  truncateTables,
  useUtc,
} from '../db/snapshot.ts';
import { BackupFileError, type Manifest, readBackup, verifyBackup } from './format.ts';

/** A restore that was refused before anything was written (the database is unchanged). */
export class RestoreRefusedError extends Error {
  override name = 'RestoreRefusedError';
}

/** A running emag-sync holds an account's lease (exit 75, like any busy account). */
export class LeaseHeldError extends Error {
  override name = 'LeaseHeldError';
  readonly exitCode = 75;
}

/** What a restore did. */
export interface RestoreResult {
  manifest: Manifest;
  /** Migrations applied before loading. */
  migrated: string[];
  /** Rows written per table. */
  tables: Record<string, number>;
}

/** Rows sent to Postgres per insert, and the most JSON text one insert carries. */
const BATCH_ROWS = 2000;
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Restores `path` into the database. `leaseClient` is a single-connection persistent client
 * (leases are session locks); it is closed at the end. `accounts`: the configured account names,
 * whose leases are taken along with those of every account the database knows.
 */
export async function restoreBackup(
  sql: Sql,
  leaseClient: Sql,
  path: string,
  opts: { replace?: boolean; accounts?: string[] } = {},
): Promise<RestoreResult> {
  const leases = new Leases(leaseClient);
  try {
    const manifest = await verifyBackup(path);
    const known = migrationIds();
    if (!known.includes(manifest.schema)) {
      const latest = known[known.length - 1] ?? 'none';
      throw new RestoreRefusedError(
        manifest.schema > latest
          ? `${path} comes from a newer emag-sync (schema ${manifest.schema}; this one knows up to ${latest}); upgrade emag-sync first`
          : `${path} has schema "${manifest.schema}", which this emag-sync does not know`,
      );
    }

    const accounts = new Set([...(opts.accounts ?? []), ...(await accountsInDatabase(sql))]);
    const busy: string[] = [];
    for (const account of [...accounts].sort()) if (!(await leases.acquire(account))) busy.push(account);
    if (busy.length > 0) {
      throw new LeaseHeldError(`account ${busy.join(', ')} is held by a running emag-sync (daemon or sync); stop it before restoring`);
    }

    const tables = Object.keys(manifest.tables);
    const plain = tables.filter((t) => !SEEDED_TABLES.includes(t));
    // Before migrating, so a refusal leaves the database exactly as it was.
    const existing: string[] = [];
    for (const t of plain) if (await tableColumns(sql, t)) existing.push(t);
    const holding = await tablesWithRows(sql, existing);
    if (holding.length > 0 && !opts.replace) {
      throw new RestoreRefusedError(`tables hold data: ${holding.join(', ')}; restore with --replace to replace them`);
    }

    const migrated = await migrate(sql);
    const columns = new Map<string, string[]>();
    for (const t of tables) {
      const cols = await tableColumns(sql, t);
      if (!cols) throw new RestoreRefusedError(`${path} holds table ${t}, which this database does not have`);
      columns.set(t, cols.filter((c) => !c.generated).map((c) => c.name));
    }
    const merge = new Map<string, string[]>();
    for (const t of tables) if (SEEDED_TABLES.includes(t)) merge.set(t, await primaryKey(sql, t));

    const written: Record<string, number> = Object.fromEntries(tables.map((t) => [t, 0]));
    await sql.begin(async (tx) => {
      await useUtc(tx);
      if (opts.replace) await truncateTables(tx, plain);
      await setUserTriggers(tx, tables, false);
      let batch: string[] = [];
      let batchTable = '';
      let batchBytes = 0;
      let rowColumns: string[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const text = `[${batch.join(',')}]`;
        batch = [];
        batchBytes = 0;
        written[batchTable] += await insertRows(tx, batchTable, rowColumns, text, merge.get(batchTable) ?? null);
      };
      await readBackup(
        path,
        () => {},
        async (row) => {
          if (row.table !== batchTable) {
            await flush();
            batchTable = row.table;
            rowColumns = columnsOf(path, row.table, row.json, columns.get(row.table) ?? []);
          }
          batch.push(row.json);
          batchBytes += row.json.length;
          if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) await flush();
        },
      );
      await flush();
      await setUserTriggers(tx, tables, true);
      await resetSequences(tx, tables);
    });
    return { manifest, migrated, tables: written };
  } finally {
    await leases.releaseAll().catch(() => {});
  }
}

/**
 * The columns a table's rows are written to: the keys of its first row (all rows of a table carry
 * the same). A column this database lacks is refused; columns added since keep their defaults.
 */
function columnsOf(path: string, table: string, json: string, existing: string[]): string[] {
  let keys: string[];
  try {
    // Only the keys are used: values stay text all the way into Postgres.
    keys = Object.keys(JSON.parse(json));
  } catch {
    throw new BackupFileError(`${path} is corrupted (a row of ${table} is not JSON)`);
  }
  const missing = keys.filter((k) => !existing.includes(k));
  if (missing.length > 0) throw new RestoreRefusedError(`${path} has column(s) ${missing.join(', ')} of ${table}, which this database does not have`);
  return existing.filter((c) => keys.includes(c));
}

/**
 * `emag-sync backup create|list|restore|cleanup`: backups of every table as gzip'd JSON lines.
 */
import { cleanupBackups, listBackups } from '../backup/files.ts';
import { createBackup } from '../backup/create.ts';
import { restoreBackup } from '../backup/restore.ts';
import { type Config, loadConfig, readEnv } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import { createLogger } from '../log.ts';
import { type Command, UsageError } from './command.ts';

/** Bytes in a unit a person reads. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function tableLines(tables: Record<string, number>): string[] {
  const width = Math.max(0, ...Object.keys(tables).map((t) => t.length));
  return Object.entries(tables).map(([t, n]) => `  ${t.padEnd(width)} ${String(n).padStart(9)}`);
}

async function withDatabase<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const db = await openDatabase(config.databaseUrl, config.dataDir, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

function keepDays(value: unknown, def: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n < 1) throw new UsageError(`--keep-days must be a whole number ≥ 1, not "${value}"`);
  return n;
}

/** Backups: create, list, restore, cleanup. */
export const backup: Command = {
  summary: 'back up every table, list, restore or clean up backups',
  args: 'create|list|…',
  usage: `Usage: emag-sync backup create [--dir D] [--with-call-log]
       emag-sync backup list [--dir D]
       emag-sync backup restore <file> [--replace]
       emag-sync backup cleanup [--dir D] [--keep-days N]

A backup is one consistent snapshot of every emag_* table (the mirror, the outbox and its ledgers,
runs, conflicts, alerts, reference data) in one file, emag-sync-<UTC time>.jsonl.gz (gzip'd JSON
lines, with a manifest and a SHA-256), mode 0600 in a 0700 directory.

  create      writes a backup into EMAG_BACKUP_DIR (default <EMAG_SYNC_DATA_DIR>/backups) and prints
              its path, size and rows per table; --with-call-log adds the API call log (large)
  list        the backups: file, created, size, schema version, rows
  restore     checks the file (checksum, row counts, schema not newer than this emag-sync), applies
              the migrations and loads it in one transaction; refuses while an emag-sync holds an
              account (exit 75) and when tables hold data, unless --replace
  cleanup     deletes backups older than --keep-days (default EMAG_BACKUP_RETENTION_DAYS, 30)

Options:
  --dir D            the backup directory (default EMAG_BACKUP_DIR)
  --with-call-log    create: include emag_api_calls
  --replace          restore: empty the tables first
  --keep-days N      cleanup: keep backups of the last N days`,
  options: {
    dir: { type: 'string' },
    'with-call-log': { type: 'boolean' },
    replace: { type: 'boolean' },
    'keep-days': { type: 'string' },
  },
  positionals: 2,
  async run({ values, positionals }) {
    const [action, file] = positionals;
    if (!['create', 'list', 'restore', 'cleanup'].includes(action ?? '')) throw new UsageError('say create, list, restore <file> or cleanup');
    if (action === 'restore' && !file) throw new UsageError('restore needs the backup file (see "emag-sync backup list")');
    if (action !== 'restore' && file !== undefined) throw new UsageError(`unexpected argument "${file}"`);
    const misplaced = (
      [
        ['with-call-log', 'create'],
        ['replace', 'restore'],
        ['keep-days', 'cleanup'],
      ] as const
    ).find(([opt, only]) => values[opt] !== undefined && action !== only);
    if (misplaced) throw new UsageError(`--${misplaced[0]} is an option of "backup ${misplaced[1]}"`);
    if (action === 'restore' && values.dir !== undefined) throw new UsageError('restore takes the file path itself, not --dir');
    const config = loadConfig(readEnv(), { requireAccounts: false });
    const dir = typeof values.dir === 'string' && values.dir !== '' ? values.dir : config.backupDir;

    if (action === 'list') {
      const entries = await listBackups(dir);
      if (entries.length === 0) console.log(`no backups in ${dir}`);
      for (const e of entries) {
        const what = e.problem ? `unreadable: ${e.problem}` : `schema ${e.schema}, ${e.rows} rows`;
        console.log(`${e.file}  ${e.createdAt.toISOString()}  ${humanSize(e.size).padStart(10)}  ${what}`);
      }
      return 0;
    }
    if (action === 'cleanup') {
      const days = keepDays(values['keep-days'], config.backupRetentionDays);
      const deleted = await cleanupBackups(dir, days);
      for (const f of deleted) console.log(`deleted ${f}`);
      console.log(`${deleted.length} backup(s) older than ${days} days deleted from ${dir}`);
      return 0;
    }
    if (action === 'create') {
      const made = await withDatabase(config, (db) => createBackup(db.sql, { dir, withCallLog: values['with-call-log'] === true }));
      console.log(`${made.path} (${humanSize(made.size)}, schema ${made.schema}, ${made.rows} rows)`);
      for (const line of tableLines(made.tables)) console.log(line);
      return 0;
    }
    const result = await withDatabase(config, (db) =>
      restoreBackup(db.sql, db.connect(1, { persistent: true }), file as string, {
        replace: values.replace === true,
        accounts: config.accounts.map((a) => a.name),
      }),
    );
    if (result.migrated.length > 0) console.log(`applied migration(s) ${result.migrated.join(', ')}`);
    const total = Object.values(result.tables).reduce((a, b) => a + b, 0);
    console.log(`restored ${file} (taken ${result.manifest.created_at}, schema ${result.manifest.schema}): ${total} rows`);
    for (const line of tableLines(result.tables)) console.log(line);
    return 0;
  },
};

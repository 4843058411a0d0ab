/**
 * The SQL of backups: which tables a backup holds and in which order, a consistent read of all of
 * them (one repeatable-read transaction, streamed by COPY), and the writes of a restore (batched
 * inserts from JSON, triggers off, sequences reset). Knows nothing of the file format around it.
 */
import type { Readable } from 'node:stream';
import type { PendingQuery, Row } from 'postgres';
import type { Db, Sql, Tx } from './connect.ts';

/** The API call log: large and rebuilt by use, so a backup holds it only when asked. */
export const CALL_LOG_TABLE = 'emag_api_calls';

/** Never restored: the migrations table (the backup's schema version stands for it). */
const MIGRATIONS_TABLE = 'emag_migrations';

/**
 * Tables whose rows come from the migrations (the enumerations) or are rewritten from configuration at
 * every start (catalog priority): a restore merges them by primary key instead of refusing a database
 * that holds them, so a freshly migrated database needs no `--replace`.
 */
export const SEEDED_TABLES: readonly string[] = ['emag_enumerations', 'emag_account_priority'];

/** Table names are inlined in COPY statements (which take no parameters): only these ever are. */
const TABLE_NAME = /^emag_[a-z0-9_]{1,58}$/;

function ident(name: string): string {
  if (!TABLE_NAME.test(name)) throw new Error(`not an emag-sync table name: "${name.slice(0, 80)}"`);
  return `"${name}"`;
}

/**
 * Every `emag_*` base table of the current schema except the migrations table (and the call log
 * unless `withCallLog`), parents before the tables whose foreign keys point at them.
 */
export async function backupTables(db: Db, opts: { withCallLog: boolean }): Promise<string[]> {
  const tables = await db<{ name: string }[]>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname like 'emag\\_%'
    order by c.relname`;
  const names = tables.map((t) => t.name).filter((n) => n !== MIGRATIONS_TABLE && (opts.withCallLog || n !== CALL_LOG_TABLE) && TABLE_NAME.test(n));
  const fks = await db<{ child: string; parent: string }[]>`
    select ch.relname as child, pa.relname as parent from pg_constraint k
    join pg_class ch on ch.oid = k.conrelid join pg_class pa on pa.oid = k.confrelid
    where k.contype = 'f' and k.connamespace = (select oid from pg_namespace where nspname = current_schema())`;
  return parentsFirst(names, fks);
}

/** Orders tables so each comes after the tables it references (self-references ignored). */
function parentsFirst(names: string[], fks: { child: string; parent: string }[]): string[] {
  const set = new Set(names);
  const out: string[] = [];
  const placed = new Set<string>();
  const visit = (name: string, path: Set<string>) => {
    if (placed.has(name) || path.has(name)) return;
    path.add(name);
    for (const fk of fks) if (fk.child === name && fk.parent !== name && set.has(fk.parent)) visit(fk.parent, path);
    placed.add(name);
    out.push(name);
  };
  for (const n of names) visit(n, new Set());
  return out;
}

/** The latest applied migration (`004_commands`), or null on a database never migrated. */
export async function schemaVersion(db: Db): Promise<string | null> {
  const [reg] = await db<{ t: string | null }[]>`select to_regclass(${MIGRATIONS_TABLE})::text as t`;
  if (!reg.t) return null;
  const [row] = await db<{ id: string }[]>`select id from emag_migrations order by id desc limit 1`;
  return row?.id ?? null;
}

/** A consistent view of every table, as of one moment. */
export interface Snapshot {
  /** The moment the snapshot shows (the transaction's start). */
  takenAt: Date;
  /** The latest applied migration. */
  schema: string;
  /** Tables in load order. */
  tables: string[];
  /** Rows per table, in this snapshot. */
  counts: Record<string, number>;
  /**
   * The rows of a table as backup lines, `{"t":"<table>","r":{…}}\n` each, straight from COPY (so a
   * table is never held in memory). Row values are Postgres' own JSON: numerics with every digit,
   * timestamps with microseconds and offset, arrays and jsonb as JSON.
   */
  lines(table: string): AsyncGenerator<Buffer>;
}

/**
 * Runs `fn` inside one read-only repeatable-read transaction, so every table is read as of the same
 * moment. Timestamps are rendered in UTC.
 */
export async function withSnapshot<T>(sql: Sql, opts: { withCallLog: boolean }, fn: (snap: Snapshot) => Promise<T>): Promise<T> {
  return (await sql.begin('isolation level repeatable read read only', async (tx) => {
    await tx`set local timezone = 'UTC'`;
    const [{ now }] = await tx<{ now: Date }[]>`select now() as now`;
    const schema = await schemaVersion(tx);
    if (!schema) throw new Error('the database has no emag-sync tables (never migrated)');
    const tables = await backupTables(tx, opts);
    const counts: Record<string, number> = {};
    for (const t of tables) {
      const [row] = await tx.unsafe<{ n: string }[]>(`select count(*) as n from ${ident(t)}`);
      counts[t] = Number(row.n);
    }
    // A COPY still open when `fn` fails (its consumer stopped reading) is drained before the
    // transaction ends, or the rollback would meet COPY_IN_PROGRESS.
    let open: Readable | null = null;
    const lines = (table: string) =>
      copyOut(
        tx.unsafe(
          `copy (select '{"t":"${table}","r":' || row_to_json(t)::text || '}' from ${ident(table)} t) to stdout with (format csv, quote e'\\x01', delimiter e'\\x02')`,
        ),
        (stream) => {
          open = stream;
        },
      );
    try {
      return await fn({
        takenAt: now,
        schema,
        tables,
        counts,
        lines,
      });
    } catch (err) {
      if (open) await drainCopy(open);
      throw err;
    }
  })) as T;
}

/**
 * The chunks of a `copy … to stdout`, read at the consumer's pace. Two traps of postgres.js are
 * handled here. It pauses the socket when the stream's buffer is full and resumes it only from the
 * stream's read hook, which a stream that has ended never calls: a COPY that ends under
 * backpressure leaves the connection paused and the next query on it hangs (porsager/postgres#499),
 * so the hook is called once more at the end. And a COPY stopped early (the file could not be
 * written) must still be read to its end before the connection takes another query (COPY_IN_PROGRESS),
 * so the rest is drained rather than the stream destroyed. `track` learns the open stream (so a
 * transaction that fails while the consumer is away can drain it before it ends).
 */
export async function* copyOut(query: PendingQuery<Row[]>, track?: (open: Readable | null) => void): AsyncGenerator<Buffer> {
  const stream: Readable = await query.readable();
  track?.(stream);
  try {
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
  } finally {
    await drainCopy(stream);
    track?.(null);
  }
}

/** Reads what is left of a COPY stream (discarding it) and leaves its connection unpaused. */
export async function drainCopy(stream: Readable): Promise<void> {
  if (!stream.readableEnded && !stream.destroyed) {
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('error', () => resolve());
      stream.once('close', resolve);
    });
    stream.resume();
    await ended;
  }
  (stream as unknown as { _read(size: number): void })._read(0);
}

/** A column a restore writes. */
export interface ColumnInfo {
  name: string;
  /** Generated columns are computed, never written. */
  generated: boolean;
}

/** The columns of a table, or null when it does not exist. */
export async function tableColumns(db: Db, table: string): Promise<ColumnInfo[] | null> {
  const [reg] = await db<{ t: string | null }[]>`select to_regclass(${ident(table)})::text as t`;
  if (!reg.t) return null;
  const rows = await db<{ name: string; generated: string }[]>`
    select attname as name, attgenerated as generated from pg_attribute
    where attrelid = ${ident(table)}::regclass and attnum > 0 and not attisdropped order by attnum`;
  return rows.map((r) => ({ name: r.name, generated: r.generated !== '' }));
}

/** Which of `tables` hold at least one row. */
export async function tablesWithRows(db: Db, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const [row] = await db.unsafe<{ any: boolean }[]>(`select exists (select 1 from ${ident(t)}) as any`);
    if (row.any) out.push(t);
  }
  return out;
}

/** Account names the database knows from its small tables (runs, checkpoints, catalog priority). */
export async function accountsInDatabase(db: Db): Promise<string[]> {
  const names = new Set<string>();
  for (const t of ['emag_sync_runs', 'emag_checkpoints', 'emag_account_priority']) {
    const [reg] = await db<{ t: string | null }[]>`select to_regclass(${t})::text as t`;
    if (!reg.t) continue;
    // A loose index scan would be nicer; these tables are small (runs are pruned).
    const rows = await db.unsafe<{ account: string }[]>(`select distinct account from ${ident(t)}`);
    for (const r of rows) names.add(r.account);
  }
  return [...names].sort();
}

/** Renders (and reads) timestamps in UTC for the rest of the transaction. */
export async function useUtc(tx: Tx): Promise<void> {
  await tx`set local timezone = 'UTC'`;
}

/** Empties the tables (one statement, so foreign keys among them do not stand in the way). */
export async function truncateTables(tx: Tx, tables: string[]): Promise<void> {
  if (tables.length > 0) await tx.unsafe(`truncate ${tables.map(ident).join(', ')}`);
}

/**
 * Turns the tables' own triggers off or on, inside the restore's transaction: restored outbox rows
 * must come back as they were (the insert trigger would fill baselines and NOTIFY daemons).
 * Foreign-key checks stay on.
 */
export async function setUserTriggers(tx: Tx, tables: string[], enabled: boolean): Promise<void> {
  for (const t of tables) await tx.unsafe(`alter table ${ident(t)} ${enabled ? 'enable' : 'disable'} trigger user`);
}

/**
 * Inserts rows given as a JSON array text (`[{…},{…}]`); Postgres converts each value from its JSON
 * form, so numerics, timestamps, arrays and jsonb come back exactly. `merge` updates rows whose
 * primary key exists (seeded tables). Returns how many rows were written.
 */
export async function insertRows(tx: Tx, table: string, columns: string[], rowsJson: string, merge: string[] | null): Promise<number> {
  const cols = columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(', ');
  let statement = `insert into ${ident(table)} (${cols}) select ${cols} from jsonb_populate_recordset(null::${ident(table)}, $1::text::jsonb)`;
  if (merge) {
    const updates = columns.filter((c) => !merge.includes(c)).map((c) => `"${c}" = excluded."${c}"`);
    const target = merge.map((c) => `"${c}"`).join(', ');
    statement += updates.length > 0 ? ` on conflict (${target}) do update set ${updates.join(', ')}` : ` on conflict (${target}) do nothing`;
  }
  const result = await tx.unsafe(statement, [rowsJson]);
  return result.count;
}

/** The primary key columns of a table (empty when it has none). */
export async function primaryKey(db: Db, table: string): Promise<string[]> {
  const rows = await db<{ name: string }[]>`
    select a.attname as name from pg_index i
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
    where i.indrelid = ${ident(table)}::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)`;
  return rows.map((r) => r.name);
}

/** Moves each serial/identity sequence of the tables past the largest value restored. */
export async function resetSequences(tx: Tx, tables: string[]): Promise<void> {
  for (const t of tables) {
    const cols = await tx<{ name: string; seq: string }[]>`
      select attname as name, pg_get_serial_sequence(${ident(t)}, attname) as seq from pg_attribute
      where attrelid = ${ident(t)}::regclass and attnum > 0 and not attisdropped
        and pg_get_serial_sequence(${ident(t)}, attname) is not null`;
    for (const c of cols) {
      // An empty table starts its sequence afresh at 1 (is_called false).
      await tx.unsafe(`select setval($1, coalesce((select max("${c.name.replaceAll('"', '""')}") from ${ident(t)}), 1), (select count(*) > 0 from ${ident(t)}))`, [c.seq]);
    }
  }
}

/**
 * Runs `fn` holding the backup lock (a session advisory lock on a reserved connection), so several
 * daemons do not back up at once; resolves false without running it when another holds the lock.
 */
export async function withBackupLock(sql: Sql, fn: () => Promise<void>): Promise<boolean> {
  const conn = await sql.reserve();
  try {
    const [row] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext('emag-sync:backup')) as ok`;
    if (!row.ok) return false;
    try {
      await fn();
    } finally {
      await conn`select pg_advisory_unlock(hashtext('emag-sync:backup'))`;
    }
    return true;
  } finally {
    conn.release();
  }
}

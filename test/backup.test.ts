import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { backupFileName, createBackup } from '../src/backup/create.ts';
import { cleanupBackups, listBackups } from '../src/backup/files.ts';
import { BackupFileError, readManifest } from '../src/backup/format.ts';
import { LeaseHeldError, RestoreRefusedError, restoreBackup } from '../src/backup/restore.ts';
import { connectUrl, type Sql } from '../src/db/connect.ts';
import { Leases } from '../src/db/leases.ts';
import { migrationIds } from '../src/db/migrate.ts';
import { STREAMS_SPEC } from '../src/streams/registry.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { harness, sandboxEnv } from './helpers/setup.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import type { Stream } from '../src/config.ts';

let db: TestDatabase;
let deps: SyncDeps;
let sandbox: Sandbox;
let target: TestDatabase;
let dir: string;
let backupPath: string;

/** An offer with every kind of value that must come back exactly. */
const TRICKY_NAME = 'Șosetă „ușoară”, mărimea 42 "XL"; îmbrăcăminte\nrând nou';

harness(
  [
    { offers: 120, orders: 40, orderHistoryDays: 5, rmas: 15 },
    { offers: 30, orders: 10, orderHistoryDays: 5, orderType: 2 },
  ],
  {},
  async (h) => {
    ({ db, deps, sandbox } = h);
    for (const account of deps.config.accounts) {
      for (const stream of ['offers', 'orders', 'acknowledge', 'rma', 'reference'] as Stream[]) {
        const spec = STREAMS_SPEC[stream]!;
        const r = await executeRun(deps, account, stream, spec.fn, { mode: spec.defaultMode, trigger: 'cli' });
        assert.notEqual(r.status, 'failed', `${account.name}/${stream}: ${r.error}`);
      }
    }
    const sql = db.sql;
    await sql`insert into emag_offers (account, id, part_number, name, sale_price, recommended_price, ean, raw, content_hash, first_seen_at)
      values ('main', 990001, 'SKU-ȚEST', ${TRICKY_NAME}, 12345678901.1234, 0.0001, ${['5941234567890', 'x,"y"']}::text[],
        ${sql.json({ nested: { a: [1, 2.5, 'ț'] }, quote: 'say "hi"', big: 1 })}, 'h', '2026-01-02 03:04:05.123456+02')`;
    // A value JSON numbers in JavaScript could not hold.
    await sql`update emag_offers set raw = jsonb_set(raw, '{big}', '123456789012345678901234567890.000000001'::jsonb) where id = 990001`;
    const [offer] = await sql<{ id: string }[]>`select id from emag_offers where account = 'main' and id <> 990001 order by id limit 1`;
    await sql`insert into emag_commands (account, kind, payload, idempotency_key) values
      ('main', 'stock_update', ${sql.json({ id: Number(offer.id), stock: 7 })}, 'erp-1'),
      ('main', 'offer_update', ${sql.json({ id: Number(offer.id), sale_price: 99.9 })}, null)`;
    const [cmd] = await sql<{ id: string }[]>`update emag_commands set status = 'conflict', result = ${sql.json({ emag: 1, local: 2 })}
      where idempotency_key = 'erp-1' returning id`;
    await sql`insert into emag_conflicts (command_id, account, offer_id, local, emag) values (${cmd.id}, 'main', ${offer.id}, ${sql.json({ stock: 7 })}, ${sql.json({ stock: 3 })})`;
    // A restore must not let the outbox's insert trigger fill this in.
    await sql`update emag_commands set baseline = null where kind = 'offer_update'`;
    await sql`insert into emag_api_calls (account, resource, action, status, duration_ms) values ('main', 'vat', 'read', 200, 12)`;
    dir = mkdtempSync(join(tmpdir(), 'emag-backup-test-'));
    target = await testDatabase();
  },
);

after(async () => {
  await target?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every row of a table as JSON text, sorted: two databases hold the same rows when these are equal. */
async function dump(sql: Sql, table: string): Promise<string[]> {
  const rows = await sql.unsafe<{ j: string }[]>(`select to_jsonb(t)::text as j from "${table}" t`);
  return rows.map((r) => r.j).sort();
}

async function dumpAll(sql: Sql, tables: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) out[t] = await dump(sql, t);
  return out;
}

async function emagTables(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`select tablename as name from pg_tables where schemaname = current_schema() and tablename like 'emag\\_%' order by 1`;
  return rows.map((r) => r.name);
}

function leaseClient(t: TestDatabase): Sql {
  return connectUrl(t.url, 1, { persistent: true });
}

function restore(t: TestDatabase, path: string, opts: { replace?: boolean } = {}) {
  return restoreBackup(t.sql, leaseClient(t), path, { ...opts, accounts: ['main', 'fbe'] });
}

/** Rewrites a backup's uncompressed lines (and recompresses), e.g. to fake a newer schema. */
function rewrite(from: string, to: string, edit: (lines: string[]) => string[]): void {
  const lines = gunzipSync(readFileSync(from)).toString('utf8').split('\n');
  writeFileSync(to, gzipSync(Buffer.from(edit(lines).join('\n'))));
}

test('backup create writes every emag_* table (not the migrations, not the call log) into a 0600 file in a 0700 directory', async () => {
  const backupDir = join(dir, 'nested', 'backups');
  const made = await createBackup(db.sql, { dir: backupDir });
  backupPath = made.path;
  assert.equal(statSync(made.path).mode & 0o777, 0o600);
  assert.equal(statSync(backupDir).mode & 0o777, 0o700);
  assert.match(made.path, /emag-sync-\d{8}T\d{6}\.\d{3}Z\.jsonl\.gz$/);
  assert.deepEqual(readdirSync(backupDir), [made.path.split('/').pop()], 'no partial file left behind');
  const all = await emagTables(db.sql);
  const expected = all.filter((t) => t !== 'emag_migrations' && t !== 'emag_api_calls');
  assert.deepEqual(Object.keys(made.tables).sort(), expected);
  const manifest = await readManifest(made.path);
  assert.equal(manifest.format, 'emag-sync-backup');
  assert.equal(manifest.version, 1);
  assert.equal(manifest.schema, migrationIds().at(-1));
  assert.deepEqual(manifest.tables, made.tables);
  // Parents before children, so a restore never meets a foreign key before its target.
  const order = Object.keys(manifest.tables);
  assert.ok(order.indexOf('emag_orders') < order.indexOf('emag_order_lines'));
  assert.ok(order.indexOf('emag_commands') < order.indexOf('emag_conflicts'));
  assert.ok(order.indexOf('emag_sync_runs') < order.indexOf('emag_quarantine'));
  for (const t of ['emag_offers', 'emag_orders', 'emag_order_lines', 'emag_order_acks', 'emag_rmas', 'emag_vat_rates', 'emag_commands', 'emag_conflicts', 'emag_sync_runs', 'emag_checkpoints', 'emag_enumerations']) {
    assert.ok(made.tables[t] > 0, `${t} has rows in the backup`);
    const [{ n }] = await db.sql.unsafe<{ n: string }[]>(`select count(*) as n from ${t}`);
    assert.equal(made.tables[t], Number(n), `${t}: all rows`);
  }
  // The last line: the row total and the SHA-256 of everything before it.
  const text = gunzipSync(readFileSync(made.path)).toString('utf8');
  const lines = text.trimEnd().split('\n');
  const trailer = JSON.parse(lines.at(-1)!);
  assert.equal(trailer.rows, made.rows);
  const before = text.slice(0, text.length - lines.at(-1)!.length - 1);
  assert.equal(trailer.sha256, (await import('node:crypto')).createHash('sha256').update(before).digest('hex'));
  assert.equal(lines.length, made.rows + 2);
});

test('restore into an empty (freshly migrated) database brings back every table row by row, exactly', async () => {
  const result = await restore(target, backupPath);
  const tables = Object.keys(result.manifest.tables);
  assert.deepEqual(await dumpAll(target.sql, tables), await dumpAll(db.sql, tables));
  assert.deepEqual(await dump(target.sql, 'emag_api_calls'), [], 'the call log is not in a default backup');
  const [o] = await target.sql<{ name: string; sale_price: string; recommended_price: string; ean: string[]; big: string; first_seen_at: string }[]>`
    select name, sale_price::text, recommended_price::text, ean, (raw->'big')::text as big, to_char(first_seen_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as first_seen_at
    from emag_offers where id = 990001`;
  assert.equal(o.name, TRICKY_NAME);
  assert.equal(o.sale_price, '12345678901.1234');
  assert.equal(o.recommended_price, '0.0001');
  assert.deepEqual(o.ean, ['5941234567890', 'x,"y"']);
  assert.equal(o.big, '123456789012345678901234567890.000000001');
  assert.equal(o.first_seen_at, '2026-01-02 01:04:05.123456');
  const [cmd] = await target.sql<{ baseline: unknown }[]>`select baseline from emag_commands where kind = 'offer_update'`;
  assert.equal(cmd.baseline, null, 'the outbox insert trigger did not run during the restore');
  // Sequences continue after the restored ids.
  const [{ max }] = await target.sql<{ max: string }[]>`select max(id)::text as max from emag_commands`;
  const [fresh] = await target.sql<{ id: string }[]>`insert into emag_commands (account, kind, payload) values ('main', 'stock_update', '{"id": 1, "stock": 1}') returning id`;
  assert.ok(BigInt(fresh.id) > BigInt(max));
  await target.sql`delete from emag_commands where id = ${fresh.id}`;
});

test('a truncated file and a file with one flipped byte are refused and change nothing', async () => {
  const tables = await emagTables(target.sql);
  const before = await dumpAll(target.sql, tables);
  const bytes = readFileSync(backupPath);
  const truncated = join(dir, 'truncated.jsonl.gz');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(restore(target, truncated, { replace: true }), (e: Error) => e instanceof BackupFileError && /truncated/.test(e.message));
  // A byte flipped inside the compressed stream: gzip's own check fails.
  const flipped = join(dir, 'flipped.jsonl.gz');
  const copy = Buffer.from(bytes);
  copy[Math.floor(copy.length / 2)] ^= 0x01;
  writeFileSync(flipped, copy);
  await assert.rejects(restore(target, flipped, { replace: true }), (e: Error) => e instanceof BackupFileError);
  // A byte flipped in the content of a well-formed gzip: only the SHA-256 can tell.
  const tampered = join(dir, 'tampered.jsonl.gz');
  rewrite(backupPath, tampered, (lines) => lines.map((l) => (l.includes('"id":990001') ? l.replace('12345678901.1234', '12345678901.1235') : l)));
  await assert.rejects(restore(target, tampered, { replace: true }), (e: Error) => e instanceof BackupFileError && /SHA-256/.test(e.message));
  // A missing row line: the row count says so even before the checksum.
  const short = join(dir, 'short.jsonl.gz');
  rewrite(backupPath, short, (lines) => lines.filter((l) => !l.includes('"id":990001')));
  await assert.rejects(restore(target, short, { replace: true }), (e: Error) => e instanceof BackupFileError);
  assert.deepEqual(await dumpAll(target.sql, tables), before);
});

test('foreign, malformed, missing and newer-schema files are refused with a clear reason and change nothing', async () => {
  const tables = await emagTables(target.sql);
  const before = await dumpAll(target.sql, tables);
  const foreign = join(dir, 'foreign.gz');
  writeFileSync(foreign, gzipSync(Buffer.from('hello, this is not a backup\n')));
  await assert.rejects(restore(target, foreign, { replace: true }), /not an emag-sync backup/);
  const plain = join(dir, 'plain.jsonl.gz');
  writeFileSync(plain, '{"format":"emag-sync-backup"}\n');
  await assert.rejects(restore(target, plain, { replace: true }), /not a gzip file/);
  const other = join(dir, 'other.jsonl.gz');
  writeFileSync(other, gzipSync(Buffer.from('{"format":"something-else","version":1}\n')));
  await assert.rejects(restore(target, other, { replace: true }), /not an emag-sync backup/);
  const v2 = join(dir, 'v2.jsonl.gz');
  rewrite(backupPath, v2, (lines) => [lines[0].replace('"version":1', '"version":2'), ...lines.slice(1)]);
  await assert.rejects(restore(target, v2, { replace: true }), /format version 2/);
  await assert.rejects(restore(target, join(dir, 'missing.jsonl.gz'), { replace: true }), /no such file/);
  await assert.rejects(restore(target, dir, { replace: true }), /not a file/);
  // A newer schema, with a checksum that matches: refused for what it is.
  const newer = join(dir, 'newer.jsonl.gz');
  const { createHash } = await import('node:crypto');
  rewrite(backupPath, newer, (lines) => {
    const body = [lines[0].replace(/"schema":"[^"]+"/, '"schema":"999_future"'), ...lines.slice(1, -2)];
    const text = `${body.join('\n')}\n`;
    return [...body, JSON.stringify({ rows: body.length - 1, sha256: createHash('sha256').update(text).digest('hex') }), ''];
  });
  await assert.rejects(restore(target, newer, { replace: true }), (e: Error) => e instanceof RestoreRefusedError && /newer emag-sync \(schema 999_future/.test(e.message));
  assert.deepEqual(await dumpAll(target.sql, tables), before);
});

test('restore is refused while a daemon holds an account lease, and without --replace when tables hold data', async () => {
  const tables = await emagTables(target.sql);
  const before = await dumpAll(target.sql, tables);
  const daemonLeases = new Leases(leaseClient(target));
  try {
    assert.equal(await daemonLeases.acquire('fbe'), true);
    await assert.rejects(restore(target, backupPath, { replace: true }), (e: Error) => e instanceof LeaseHeldError && (e as LeaseHeldError).exitCode === 75 && /fbe/.test(e.message));
  } finally {
    await daemonLeases.releaseAll();
  }
  await assert.rejects(restore(target, backupPath), (e: Error) => e instanceof RestoreRefusedError && /emag_offers/.test(e.message) && /--replace/.test(e.message));
  assert.deepEqual(await dumpAll(target.sql, tables), before);
});

test('--replace replaces what the tables hold with the backup', async () => {
  await target.sql`delete from emag_offers where account = 'fbe'`;
  await target.sql`update emag_offers set name = 'changed' where id = 990001`;
  await target.sql`insert into emag_commands (account, kind, payload) values ('main', 'stock_update', '{"id": 5, "stock": 2}')`;
  await target.sql`update emag_enumerations set text = 'edited' where kind = 'order_status' and code = 1`;
  const result = await restore(target, backupPath, { replace: true });
  const tables = Object.keys(result.manifest.tables);
  assert.deepEqual(await dumpAll(target.sql, tables), await dumpAll(db.sql, tables));
});

test('--with-call-log adds the API call log', async () => {
  const made = await createBackup(db.sql, { dir: join(dir, 'with-log'), withCallLog: true });
  assert.equal(made.tables.emag_api_calls, 1);
  const fresh = await testDatabase();
  try {
    await restore(fresh, made.path);
    assert.deepEqual(await dump(fresh.sql, 'emag_api_calls'), await dump(db.sql, 'emag_api_calls'));
  } finally {
    await fresh.close();
  }
});

test('cleanup deletes only backups older than the retention period; list shows each with its manifest', async () => {
  const d = join(dir, 'cleanup');
  mkdirSync(d);
  const now = Date.now();
  const days = [40, 31, 29, 0];
  const names = days.map((n) => backupFileName(new Date(now - n * 86_400_000)));
  for (const n of names) copyFileSync(backupPath, join(d, n));
  writeFileSync(join(d, 'notes.txt'), 'keep me');
  writeFileSync(join(d, 'emag-sync-mine.jsonl.gz'), 'not a name of ours');
  const listed = await listBackups(d);
  assert.deepEqual(listed.map((e) => e.file), [...names]);
  assert.ok(listed.every((e) => e.schema === migrationIds().at(-1) && e.rows !== null && e.rows > 0 && e.size > 0));
  const deleted = await cleanupBackups(d, 30, new Date(now));
  assert.deepEqual(deleted, names.slice(0, 2));
  assert.deepEqual(readdirSync(d).sort(), [...names.slice(2), 'emag-sync-mine.jsonl.gz', 'notes.txt'].sort());
});

/** Runs the CLI against the source database. */
function cli(args: string[], extra: Record<string, string> = {}) {
  const env = { ...process.env, ...sandboxEnv(sandbox, db, { EMAG_BACKUP_DIR: join(dir, 'cli'), ...extra }) };
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env, encoding: 'utf8' });
}

test('the CLI: create prints path, size and rows per table; list shows it; bad files and usage are errors', () => {
  const created = cli(['backup', 'create']);
  assert.equal(created.status, 0, created.stderr);
  const path = /^(\S+\.jsonl\.gz) \(/.exec(created.stdout)?.[1];
  assert.ok(path && existsSync(path), created.stdout);
  assert.match(created.stdout, /emag_offers\s+151\n/);
  const listed = cli(['backup', 'list']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${path!.split('/').pop()!.replaceAll('.', '\\.')}\\s+\\S+Z\\s+[\\d.]+ KiB\\s+schema ${migrationIds().at(-1)}`));
  const missing = cli(['backup', 'restore', join(dir, 'nope.jsonl.gz')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope\.jsonl\.gz: no such file/);
  const usage = cli(['backup', 'restore']);
  assert.equal(usage.status, 64);
  const badDays = cli(['backup', 'cleanup', '--keep-days', 'soon']);
  assert.equal(badDays.status, 64);
  assert.match(badDays.stderr, /--keep-days/);
});

test('an unwritable directory is a clear error and leaves nothing behind', async () => {
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  await assert.rejects(createBackup(db.sql, { dir: join(blocker, 'backups') }), /cannot use backup directory .*a-file\/backups: not a directory/);
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'read-only');
    mkdirSync(ro, { mode: 0o500 });
    await assert.rejects(createBackup(db.sql, { dir: ro }), /cannot write in .*: permission denied/);
    chmodSync(ro, 0o700);
  }
});

// A real full disk: a tmpfs far smaller than the backup (needs root and mount rights).
const tinyDisk = join(tmpdir(), `emag-backup-tiny-${process.pid}`);
let mounted = false;
before(() => {
  if (process.getuid?.() !== 0) return;
  mkdirSync(tinyDisk, { recursive: true });
  mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', tinyDisk]).status === 0;
});
after(() => {
  if (mounted) spawnSync('umount', [tinyDisk]);
  rmSync(tinyDisk, { recursive: true, force: true });
});

test('a full disk while writing fails with the reason and removes the partial file', async (t) => {
  if (!mounted) {
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  assert.ok(statSync(backupPath).size > 64 * 1024, 'the backup is larger than the tiny disk');
  await assert.rejects(createBackup(db.sql, { dir: tinyDisk }), /no space left on the device; the partial file was removed/);
  assert.deepEqual(readdirSync(tinyDisk), []);
  // The read-only variant of an unwritable directory, which even root cannot write to.
  assert.equal(spawnSync('mount', ['-o', 'remount,ro', tinyDisk]).status, 0);
  await assert.rejects(createBackup(db.sql, { dir: tinyDisk }), /cannot write in .*: read-only file system/);
});

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { backupFileName } from '../src/backup/create.ts';
import { scheduledBackup } from '../src/backup/schedule.ts';
import { type Config, ConfigError, loadConfig } from '../src/config.ts';
import { withBackupLock } from '../src/db/snapshot.ts';
import { createLogger } from '../src/log.ts';
import { RetentionSchedule, runRetention } from '../src/retention.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'emag-retention-test-'));
const log = createLogger('silent');
const DAY = 86_400_000;

const BASE_ENV = {
  EMAG_ACCOUNTS: 'main,fbe',
  EMAG_MAIN_USERNAME: 'u',
  EMAG_MAIN_PASSWORD: 'p',
  EMAG_FBE_USERNAME: 'u',
  EMAG_FBE_PASSWORD: 'p',
};

function config(extra: Record<string, string> = {}): Config {
  return loadConfig({ ...BASE_ENV, EMAG_BACKUP_DIR: join(dir, 'backups'), ...extra });
}

before(async () => {
  db = await testDatabase();
});
after(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ago = (days: number) => new Date(Date.now() - days * DAY);

async function insertRuns(account: string, stream: string, n: number, daysAgo: number, status = 'succeeded'): Promise<void> {
  await db.sql`
    insert into emag_sync_runs (account, stream, trigger, status, started_at, finished_at)
    select ${account}, ${stream}, 'schedule', ${status}, ${ago(daysAgo)}::timestamptz - make_interval(secs => g), ${ago(daysAgo)}
    from generate_series(1, ${n}) g`;
}

async function count(query: string): Promise<number> {
  const [{ n }] = await db.sql.unsafe<{ n: string }[]>(query);
  return Number(n);
}

test('the cleanup deletes only expired history of its account and records what it deleted as a maintenance run', async () => {
  await insertRuns('main', 'offers', 5, 1);
  await insertRuns('main', 'offers', 60, 100);
  await insertRuns('main', 'orders', 10, 100);
  await insertRuns('main', 'rma', 1, 100, 'running');
  await insertRuns('fbe', 'offers', 70, 100);
  await db.sql`insert into emag_quarantine (account, stream, reason, created_at) values
    ('main', 'offers', 'old', ${ago(95)}), ('main', 'offers', 'recent', ${ago(10)}), ('fbe', 'offers', 'old', ${ago(95)})`;
  const commands = await db.sql<{ id: string; note: string }[]>`
    insert into emag_commands (account, kind, payload, status, done_at, updated_at, idempotency_key) values
      ('main', 'stock_update', '{}', 'done', ${ago(100)}, ${ago(100)}, 'done-old'),
      ('main', 'stock_update', '{}', 'cancelled', null, ${ago(100)}, 'cancelled-old'),
      ('main', 'stock_update', '{}', 'failed', ${ago(100)}, ${ago(100)}, 'failed-old'),
      ('main', 'stock_update', '{}', 'pending', null, ${ago(100)}, 'pending-old'),
      ('main', 'stock_update', '{}', 'done', ${ago(10)}, ${ago(10)}, 'done-recent'),
      ('fbe', 'stock_update', '{}', 'done', ${ago(100)}, ${ago(100)}, 'fbe-done-old')
    returning id, idempotency_key as note`;
  const doneOld = commands.find((c) => c.note === 'done-old')!;
  await db.sql`insert into emag_conflicts (command_id, account, offer_id, local, emag, status) values (${doneOld.id}, 'main', 1, '{}', '{}', 'resolved')`;
  await db.sql`insert into emag_api_calls (account, resource, action, status, duration_ms, at) values
    ('main', 'vat', 'read', 200, 1, ${ago(40)}), ('main', 'vat', 'read', 200, 1, ${ago(5)}), ('fbe', 'vat', 'read', 200, 1, ${ago(40)})`;

  const result = await runRetention(db.sql, config(), 'main', 'manual', log);
  const expected = { emag_sync_runs: 15, emag_quarantine: 1, emag_commands: 2, emag_api_calls: 1, emag_alerts: 0 };
  assert.deepEqual(result.deleted, expected);

  assert.equal(await count(`select count(*) as n from emag_sync_runs where account = 'main' and stream = 'offers'`), 50, 'the last 50 runs of a stream stay');
  assert.equal(await count(`select count(*) as n from emag_sync_runs where account = 'main' and stream = 'offers' and started_at > now() - interval '2 days'`), 5);
  assert.equal(await count(`select count(*) as n from emag_sync_runs where account = 'main' and stream = 'orders'`), 10);
  assert.equal(await count(`select count(*) as n from emag_sync_runs where account = 'main' and status = 'running'`), 1, 'a running run is never deleted');
  assert.equal(await count(`select count(*) as n from emag_sync_runs where account = 'fbe'`), 70, 'other accounts untouched');
  assert.equal(await count(`select count(*) as n from emag_quarantine`), 2);
  const left = (await db.sql<{ note: string }[]>`select idempotency_key as note from emag_commands order by id`).map((c) => c.note);
  assert.deepEqual(left, ['failed-old', 'pending-old', 'done-recent', 'fbe-done-old']);
  assert.equal(await count(`select count(*) as n from emag_conflicts`), 0, 'the conflicts of deleted commands go with them');
  assert.equal(await count(`select count(*) as n from emag_api_calls`), 2);

  const [run] = await db.sql<{ stream: string; status: string; trigger: string; items_deleted: number; summary: { deleted: Record<string, number> } }[]>`
    select stream, status, trigger, items_deleted, summary from emag_sync_runs where id = ${result.runId}`;
  assert.equal(run.stream, 'maintenance');
  assert.equal(run.status, 'succeeded');
  assert.equal(run.trigger, 'manual');
  assert.equal(run.items_deleted, 19);
  assert.deepEqual(run.summary.deleted, expected);
  // Run again: nothing more is due.
  const again = await runRetention(db.sql, config(), 'main', 'schedule', log);
  assert.ok(Object.values(again.deleted).every((n) => n === 0), JSON.stringify(again.deleted));
});

test('cleared alerts past the log retention are pruned: this account\'s and those of no account', async () => {
  await db.sql`insert into emag_alerts (id, key, type, account, severity, message, action, started_at, cleared_at) values
    (gen_random_uuid(), 'a', 'stale', 'main', 'warning', 'm', 'a', ${ago(50)}, ${ago(40)}),
    (gen_random_uuid(), 'b', 'stale', 'main', 'warning', 'm', 'a', ${ago(50)}, ${ago(5)}),
    (gen_random_uuid(), 'c', 'database_down', null, 'critical', 'm', 'a', ${ago(50)}, ${ago(40)}),
    (gen_random_uuid(), 'd', 'stale', 'main', 'warning', 'm', 'a', ${ago(50)}, null),
    (gen_random_uuid(), 'e', 'stale', 'fbe', 'warning', 'm', 'a', ${ago(50)}, ${ago(40)})`;
  const result = await runRetention(db.sql, config({ EMAG_LOG_RETENTION_DAYS: '30' }), 'main', 'schedule', log);
  assert.equal(result.deleted.emag_alerts, 2);
  const left = (await db.sql<{ key: string }[]>`select key from emag_alerts order by key`).map((r) => r.key);
  assert.deepEqual(left, ['b', 'd', 'e']);
});

test('retention and backup settings are validated, naming the variable', () => {
  const c = config();
  assert.equal(c.runsRetentionDays, 90);
  assert.equal(c.commandsRetentionDays, 90);
  assert.equal(c.backupRetentionDays, 30);
  assert.equal(c.backupSchedule, null);
  assert.equal(c.retentionSchedule, '0 3 * * *');
  assert.equal(loadConfig({ ...BASE_ENV, EMAG_SYNC_DATA_DIR: '/var/lib/x' }).backupDir, '/var/lib/x/backups');
  for (const [name, value] of [
    ['EMAG_RUNS_RETENTION_DAYS', 'ninety'],
    ['EMAG_COMMANDS_RETENTION_DAYS', '0'],
    ['EMAG_BACKUP_RETENTION_DAYS', '-3'],
    ['EMAG_BACKUP_SCHEDULE', 'every night'],
    ['EMAG_RETENTION_SCHEDULE', '99 * * * *'],
  ]) {
    assert.throws(
      () => loadConfig({ ...BASE_ENV, [name]: value }),
      (e: Error) => e instanceof ConfigError && e.exitCode === 78 && e.problems.some((p) => p.startsWith(`${name}:`)),
      name,
    );
  }
});

test('a scheduled backup writes a backup and cleans up old ones; it is skipped while another daemon takes one', async () => {
  const c = config({ EMAG_BACKUP_SCHEDULE: '0 4 * * *', EMAG_BACKUP_RETENTION_DAYS: '7' });
  await scheduledBackup(db.sql, c, log);
  const [first] = readdirSync(c.backupDir);
  assert.ok(first);
  const old = backupFileName(ago(8));
  copyFileSync(join(c.backupDir, first), join(c.backupDir, old));
  // Another daemon holds the lock: this one skips the slot.
  let inside = false;
  await withBackupLock(db.sql, async () => {
    inside = true;
    await scheduledBackup(db.sql, c, log);
    assert.equal(readdirSync(c.backupDir).length, 2, 'skipped');
  });
  assert.ok(inside);
  await scheduledBackup(db.sql, c, log);
  const files = readdirSync(c.backupDir).sort();
  assert.equal(files.length, 2);
  assert.ok(!files.includes(old), 'the backup past retention was deleted after the new one');
  assert.ok(files.includes(first));
});

test('the schedule runs a catch-up cleanup after start for an account without one in the last day, not for one with', async () => {
  await db.sql`insert into emag_sync_runs (account, stream, trigger, status, started_at) values ('fbe', 'maintenance', 'schedule', 'succeeded', ${ago(0.5)})`;
  const before = await count(`select count(*) as n from emag_sync_runs where stream = 'maintenance'`);
  const schedule = new RetentionSchedule(db.sql, config(), log, { catchUpDelayMs: 50 });
  await schedule.start(['spare', 'fbe']);
  try {
    const deadline = Date.now() + 10_000;
    while ((await count(`select count(*) as n from emag_sync_runs where stream = 'maintenance' and account = 'spare' and trigger = 'schedule' and status = 'succeeded'`)) === 0) {
      assert.ok(Date.now() < deadline, 'a catch-up maintenance run of an account that never had one');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await schedule.stop();
  }
  assert.equal(await count(`select count(*) as n from emag_sync_runs where stream = 'maintenance'`), before + 1, 'fbe had one within the day: no catch-up');
});

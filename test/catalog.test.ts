import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { catalogSettings, setCatalogPriority } from '../src/db/offers.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { cli, exited } from './helpers/processes.ts';
import { sandboxEnv, TEST_ACCOUNTS } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;

before(async () => {
  [sandbox, db] = await Promise.all([
    startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: 300 }, { ...TEST_ACCOUNTS[1], offers: 250 }], sharedSkus: 200 }),
    testDatabase(),
  ]);
});
after(async () => {
  await sandbox?.close();
  await db?.close();
});

type Product = { part_number: string; source_account: string; source_reason: string; accounts: string[] };

async function products(): Promise<{ shared: Product[]; mainOnly: Product[]; fbeOnly: Product[] }> {
  const rows = await db.sql<Product[]>`select part_number, source_account, source_reason, accounts from emag_products`;
  return {
    shared: rows.filter((p) => p.accounts.length === 2),
    mainOnly: rows.filter((p) => p.accounts.length === 1 && p.accounts[0] === 'main'),
    fbeOnly: rows.filter((p) => p.accounts.length === 1 && p.accounts[0] === 'fbe'),
  };
}

/** Writes the catalog settings as a command started with `env` would. */
async function configure(env: Record<string, string> = {}): Promise<void> {
  const config = loadConfig(sandboxEnv(sandbox, db, env));
  await setCatalogPriority(db.sql, config.catalogPriority, catalogSettings(config));
}

test('`sync all --stream offers` on a fresh database: shared SKUs come from main, the configured default', async () => {
  const p = cli(['sync', 'all', '--stream', 'offers'], sandboxEnv(sandbox, db));
  assert.equal(await exited(p, 60_000), 0, p.output());
  const { shared, mainOnly, fbeOnly } = await products();
  assert.equal(shared.length, 200);
  assert.deepEqual(new Set(shared.map((s) => `${s.source_account} ${s.source_reason}`)), new Set(['main preferred']));
  assert.ok(mainOnly.length > 0 && mainOnly.every((s) => s.source_account === 'main'));
  assert.ok(fbeOnly.length > 0 && fbeOnly.every((s) => s.source_account === 'fbe' && s.source_reason === 'preferred'));
  const priority = await db.sql`select account, priority, enabled from emag_account_priority order by priority`;
  assert.deepEqual(priority.map((r) => [r.account, r.priority, r.enabled]), [['main', 0, true], ['fbe', 1, true]]);
});

test('EMAG_CATALOG_PRIORITY holds for a one-off sync too: fbe,main puts fbe first', async () => {
  const p = cli(['sync', 'fbe', '--stream', 'offers'], sandboxEnv(sandbox, db, { EMAG_CATALOG_PRIORITY: 'fbe,main' }));
  assert.equal(await exited(p, 60_000), 0, p.output());
  const { shared } = await products();
  assert.ok(shared.every((s) => s.source_account === 'fbe' && s.source_reason === 'preferred'));
  await configure();
});

test('a stale preferred account gives way to the next one; a fresh one takes its SKUs back', async () => {
  await configure();
  // main's last successful offers run is 27 hours old (the default limit is 26).
  await db.sql`update emag_sync_runs set started_at = now() - interval '27 hours', finished_at = now() - interval '27 hours' where account = 'main' and stream = 'offers'`;
  let { shared, mainOnly } = await products();
  assert.equal(shared.length, 200);
  assert.ok(shared.every((s) => s.source_account === 'fbe' && s.source_reason === 'fallback: stale main'), JSON.stringify(shared[0]));
  // Nobody else sells main's own SKUs: they stay, from main.
  assert.ok(mainOnly.every((s) => s.source_account === 'main' && s.source_reason === 'preferred'));
  const [standing] = await db.sql`select unusable from emag_catalog_accounts where account = 'main'`;
  assert.equal(standing.unusable, 'stale');

  // A longer limit makes the same run fresh enough.
  await configure({ EMAG_CATALOG_STALE_HOURS: '30' });
  ({ shared } = await products());
  assert.ok(shared.every((s) => s.source_account === 'main' && s.source_reason === 'preferred'));

  // A failed run does not make an account fresh; a successful one does.
  await configure();
  await db.sql`insert into emag_sync_runs (account, stream, trigger, status, finished_at) values ('main', 'offers', 'cli', 'failed', now())`;
  ({ shared } = await products());
  assert.ok(shared.every((s) => s.source_account === 'fbe'));
  const p = cli(['sync', 'main', '--stream', 'offers'], sandboxEnv(sandbox, db));
  assert.equal(await exited(p, 60_000), 0, p.output());
  ({ shared } = await products());
  assert.ok(shared.every((s) => s.source_account === 'main' && s.source_reason === 'preferred'));
});

test('a disabled preferred account gives way with the reason `fallback: disabled main`', async () => {
  await configure({ EMAG_MAIN_ENABLED: 'false' });
  const { shared } = await products();
  assert.ok(shared.every((s) => s.source_account === 'fbe' && s.source_reason === 'fallback: disabled main'));
  await configure();
  const again = await products();
  assert.ok(again.shared.every((s) => s.source_account === 'main'));
});

test('EMAG_CATALOG_STALE_HOURS must be a number of hours from 1 to 8760', () => {
  for (const bad of ['soon', '0', '9000']) {
    assert.throws(
      () => loadConfig(sandboxEnv(sandbox, db, { EMAG_CATALOG_STALE_HOURS: bad })),
      (e: unknown) => e instanceof ConfigError && e.exitCode === 78 && e.problems.some((p) => p.startsWith('EMAG_CATALOG_STALE_HOURS:')),
    );
  }
  assert.equal(loadConfig(sandboxEnv(sandbox, db, { EMAG_CATALOG_STALE_HOURS: '1.5' })).catalogStaleHours, 1.5);
});

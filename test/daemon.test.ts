import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServer } from 'node:net';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/daemon.ts';
import { connectUrl, freePort } from '../src/db/connect.ts';
import { Disposers } from '../src/disposers.ts';
import { createLogger } from '../src/log.ts';
import { Leases } from '../src/db/leases.ts';
import { type Sandbox, startSandbox, windowViolations } from '../src/sandbox/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { cli, exited, waitFor } from './helpers/processes.ts';
import { sandboxEnv, TEST_ACCOUNTS } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;

before(async () => {
  [sandbox, db] = await Promise.all([
    startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: 900, orders: 40 }, { ...TEST_ACCOUNTS[1], offers: 400, orders: 20, orderType: 2 }], sharedSkus: 50 }),
    testDatabase(),
  ]);
});
after(async () => {
  await sandbox?.close();
  await db?.close();
});

test('`sync all --stream offers` performs one run per account and prints a summary line each', async () => {
  const from = sandbox.log.length;
  const p = cli(['sync', 'all', '--stream', 'offers'], sandboxEnv(sandbox, db));
  const code = await exited(p, 60_000);
  assert.equal(code, 0, p.output());
  assert.match(p.output(), /^main\/offers succeeded in [\d.]+ s: 900 seen, 900 inserted/m);
  assert.match(p.output(), /^fbe\/offers succeeded in [\d.]+ s: 400 seen, 400 inserted/m);
  assert.doesNotMatch(p.output(), /sandbox-secret/);
  // The accounts' starts are spread over one request spacing (345 ms at 3/s): not in lock-step.
  const first = (account: string) => sandbox.log.slice(from).find((e) => e.account === account && e.resource === 'product_offer')?.t ?? Number.NaN;
  const apart = Math.abs(first('fbe') - first('main'));
  assert.ok(apart >= 150 && apart < 1000, `first requests ${Math.round(apart)} ms apart`);
});

test('`test` gives a verdict per account; wrong credentials are named as such', async () => {
  const ok = cli(['test'], sandboxEnv(sandbox, db));
  assert.equal(await exited(ok), 0, ok.output());
  assert.match(ok.output(), /✔ database: PostgreSQL/);
  assert.match(ok.output(), /✔ main: API access works/);
  const bad = cli(['test', 'fbe'], sandboxEnv(sandbox, db, { EMAG_FBE_PASSWORD: 'not-the-password' }));
  assert.equal(await exited(bad), 1);
  assert.match(bad.output(), /✘ fbe: wrong username\/password/);
  assert.doesNotMatch(bad.output(), /not-the-password/);
});

test('an account another process is syncing is refused with exit 75', async () => {
  const holder = new Leases(connectUrl(db.url, 1, { persistent: true }));
  assert.equal(await holder.acquire('main'), true);
  try {
    const p = cli(['sync', 'main'], sandboxEnv(sandbox, db));
    assert.equal(await exited(p), 75, p.output());
    assert.match(p.output(), /account main is being synced by another emag-sync process/);
  } finally {
    await holder.releaseAll();
  }
});

test('a database that refuses connections is a clear error with exit 69, without its password', async () => {
  const p = cli(['sync', 'main'], sandboxEnv(sandbox, null, { DATABASE_URL: 'postgres://emag:dbpass-123@127.0.0.1:1/erp' }));
  assert.equal(await exited(p), 69);
  assert.match(p.output(), /database postgres:\/\/emag:\*\*\*@127\.0\.0\.1:1\/erp is unavailable/);
  assert.doesNotMatch(p.output(), /dbpass-123/);
});

test('the daemon serves status while syncing, and SIGTERM stops it cleanly with the run cancelled', async () => {
  sandbox.setLatency(250);
  const port = await freePort();
  const p = cli(['start'], sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port), EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers' }));
  const base = `http://127.0.0.1:${port}`;
  const health = await waitFor('/health', async () => {
    const r = await fetch(`${base}/health`);
    return r.ok ? ((await r.json()) as { status: string }) : null;
  });
  assert.ok(['pass', 'warn'].includes(health.status));
  // `sync` above left offers fresh, so nothing is due: start a run the way the scheduler would after a restart.
  await db.sql`update emag_sync_runs set finished_at = now() - interval '2 hours', started_at = now() - interval '2 hours'`;
  p.child.kill('SIGTERM');
  assert.equal(await exited(p), 0, p.output());
  assert.match(p.output(), /emag-sync stopped/);

  const again = cli(['start'], sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port), EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers' }));
  type Status = { accounts: Array<{ name: string; status: string; streams: Array<{ running: { pagesDone: number } | null }> }> };
  const status = await waitFor('a running offers run of main', async () => {
    const s = (await (await fetch(`${base}/api/status`)).json()) as Status;
    const main = s.accounts.find((a) => a.name === 'main');
    return main?.streams.some((x) => x.running && x.running.pagesDone > 0) ? s : null;
  });
  assert.ok(status.accounts.some((a) => a.status === 'syncing'));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /emag_api_requests_total\{account="main",resource="product_offer",action="read",status="200"\} \d+/);
  assert.doesNotMatch(JSON.stringify(status) + metrics, /sandbox-secret/);

  again.child.kill('SIGTERM');
  assert.equal(await exited(again), 0, again.output());
  assert.doesNotMatch(p.output() + again.output(), /sandbox-secret/, 'no password in the logs');
  assert.match(again.output(), /"msg":"run cancelled: main\/offers"|run cancelled/);
  const runs = await db.sql`select status from emag_sync_runs where status in ('running', 'cancelled')`;
  assert.ok(runs.some((r) => r.status === 'cancelled'), 'the run in flight was marked cancelled');
  assert.ok(!runs.some((r) => r.status === 'running'), 'no run left running');
  sandbox.setLatency(0);
});

test('after kill -9 mid-run, the next start marks the run interrupted and loses nothing committed', async () => {
  sandbox.setLatency(250);
  await db.sql`update emag_sync_runs set finished_at = now() - interval '2 hours', started_at = now() - interval '2 hours'`;
  const port = await freePort();
  const env = sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port), EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers' });
  const p = cli(['start'], env);
  const [running] = await waitFor('a run with committed pages', async () => {
    const r = await db.sql`select id, pages_done from emag_sync_runs where status = 'running' and pages_done >= 2`;
    return r.length > 0 ? r : null;
  });
  p.child.kill('SIGKILL');
  await exited(p);
  sandbox.setLatency(0);
  const before = await db.sql`select count(*)::int as n from emag_offers`;

  const restarted = cli(['start'], { ...env, EMAG_ENABLE_SCHEDULED_SYNC: 'false' });
  await waitFor('/health', async () => (await fetch(`http://127.0.0.1:${port}/health`)).status < 600);
  const [row] = await db.sql`select status, error from emag_sync_runs where id = ${running.id}`;
  assert.equal(row.status, 'interrupted');
  assert.match(row.error, /stopped while this run was running/);
  const afterCount = await db.sql`select count(*)::int as n from emag_offers`;
  assert.equal(afterCount[0].n, before[0].n, 'committed pages stay');
  restarted.child.kill('SIGTERM');
  assert.equal(await exited(restarted), 0);
  assert.deepEqual(windowViolations(sandbox.log), []);
});

test('the daemon drains the outbox promptly when a command is inserted (LISTEN/NOTIFY)', async () => {
  const port = await freePort();
  const p = cli(['start'], sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port), EMAG_MAIN_SYNC_TYPES: 'commands', EMAG_FBE_SYNC_TYPES: 'commands', EMAG_CONFLICT_STRATEGY: 'local_priority' }));
  await waitFor('the first commands run', async () => {
    const [r] = await db.sql`select 1 from emag_sync_runs where stream = 'commands' and status = 'succeeded' limit 1`;
    return r;
  });
  const [offer] = await db.sql`select id from emag_offers where account = 'main' and deleted_at is null limit 1`;
  const [{ id }] = await db.sql`insert into emag_commands (account, kind, payload) values ('main', 'stock_update', ${db.sql.json({ id: Number(offer.id), stock: 42 })}) returning id`;
  const done = await waitFor(
    'the command done',
    async () => {
      const [c] = await db.sql`select status, extract(epoch from done_at - created_at)::float as seconds from emag_commands where id = ${id}`;
      return c.status === 'done' ? c : null;
    },
    15_000,
  );
  assert.ok(done.seconds < 10, `drained in ${done.seconds} s, well before the 30-s poll`);

  // The probe and status commands ask the running daemon.
  const env = sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port) });
  const health = cli(['health'], env);
  const healthCode = await exited(health);
  assert.ok(healthCode === 0 || healthCode === 1, health.output());
  assert.match(health.output(), /^(pass|warn)/);
  const status = cli(['status'], env);
  assert.equal(await exited(status), 0, status.output());
  assert.match(status.output(), /^main: \w+, \d+ unacknowledged orders, commands \d+ waiting/m);
  assert.match(status.output(), /^ {2}commands +succeeded/m);

  p.child.kill('SIGTERM');
  assert.equal(await exited(p), 0, p.output());
  const down = cli(['health'], env);
  assert.equal(await exited(down), 2);
  assert.match(down.output(), /fail: no answer from http:\/\/127\.0\.0\.1:\d+\/health/);
});

test('disposers undo in reverse order, all of them even when one fails, and rethrow the first failure', async () => {
  const done: string[] = [];
  const parts = new Disposers();
  parts.defer('database', () => {
    done.push('database');
  });
  parts.defer('server', async () => {
    done.push('server');
    throw new Error('server would not close');
  });
  parts.defer('timers', () => {
    done.push('timers');
  });
  const failures: string[] = [];
  await assert.rejects(
    parts.dispose((name) => failures.push(name)),
    /server would not close/,
  );
  assert.deepEqual(done, ['timers', 'server', 'database']);
  assert.deepEqual(failures, ['server']);
  await parts.dispose();
  assert.deepEqual(done, ['timers', 'server', 'database'], 'a second dispose does nothing');
  assert.throws(() => parts.defer('late', () => {}), /already disposed/);

  // A start that fails half-way undoes what it had started, and the start failure is what it throws.
  const partial = new Disposers();
  const undone: string[] = [];
  await assert.rejects(
    partial.start(async () => {
      partial.defer('first', () => {
        undone.push('first');
      });
      partial.defer('second', () => {
        undone.push('second');
      });
      throw new Error('third part failed');
    }),
    /third part failed/,
  );
  assert.deepEqual(undone, ['second', 'first']);
});

test('a daemon whose start fails half-way (its port is taken) undoes what it started: the leases are free again', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const config = loadConfig(sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(port), EMAG_ENABLE_SCHEDULED_SYNC: 'false' }));
    await assert.rejects(startDaemon(config, createLogger('silent')), /EADDRINUSE|address already in use/);
  } finally {
    blocker.close();
  }
  // The account leases were taken before the server failed to listen: they must have been released.
  const other = new Leases(connectUrl(db.url, 1, { persistent: true }));
  try {
    assert.equal(await other.acquire('main'), true, 'main is free for another instance');
    assert.equal(await other.acquire('fbe'), true, 'fbe is free for another instance');
  } finally {
    await other.releaseAll();
  }
});

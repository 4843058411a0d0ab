/**
 * Several daemons (the real CLI `start`) against one database and one sandbox with four accounts:
 * ownership, takeover after kill -9 and SIGTERM, balance when an instance joins, leases lost while
 * a run goes on, and the sandbox's proof that no account's window was ever over the limits.
 * Short ownership rounds (EMAG_SYNC_OWNERSHIP_INTERVAL=0.5) keep it fast.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { recentCalls } from '../src/db/api-calls.ts';
import { connectUrl, freePort, startEmbedded } from '../src/db/connect.ts';
import { AccountBudget } from '../src/emag/budget.ts';
import { createLogger } from '../src/log.ts';
import { type Sandbox, startSandbox, windowViolations } from '../src/sandbox/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { cli, exited, type Proc, waitFor } from './helpers/processes.ts';

const ACCOUNTS = ['main', 'fbe', 'bg', 'hu'];
let sandbox: Sandbox;
let db: TestDatabase;
const running: Proc[] = [];

before(async () => {
  [sandbox, db] = await Promise.all([
    startSandbox({ accounts: ACCOUNTS.map((name) => ({ name, username: `${name}-user`, password: `${name}-sandbox-secret`, offers: 450 })), latencyMs: 60 }),
    testDatabase(),
  ]);
});
afterEach(async (t) => {
  if (process.env.HA_DEBUG) (await import('node:fs')).writeFileSync(`/tmp/hadbg/${t.name.slice(0, 20).replace(/\W/g, '_')}.log`, running.map((p) => p.output()).join('\n----\n'));
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await exited(p);
  }
  // The next test starts from accounts nobody owns and nothing running.
  await db.sql`update emag_sync_runs set status = 'interrupted', finished_at = now() where status = 'running'`;
});
after(async () => {
  await sandbox?.close();
  await db?.close();
});

/** The environment of one instance: four accounts syncing offers every 3 s. */
function env(id: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  const e: Record<string, string> = {
    DATABASE_URL: db.url,
    EMAG_ACCOUNTS: ACCOUNTS.join(','),
    EMAG_SYNC_PORT: String(port),
    EMAG_SYNC_INSTANCE_ID: id,
    EMAG_SYNC_OWNERSHIP_INTERVAL: '0.5',
    EMAG_API_TIMEOUT: '5',
  };
  for (const a of ACCOUNTS) {
    const up = `EMAG_${a.toUpperCase()}`;
    e[`${up}_BASE_URL`] = sandbox.url;
    e[`${up}_USERNAME`] = `${a}-user`;
    e[`${up}_PASSWORD`] = `${a}-sandbox-secret`;
    e[`${up}_SYNC_TYPES`] = 'offers';
    e[`${up}_SYNC_INTERVAL`] = '0.05';
  }
  return { ...e, ...extra };
}

interface Instance {
  id: string;
  proc: Proc;
  base: string;
}

async function startInstance(id: string, extra: Record<string, string> = {}): Promise<Instance> {
  const port = await freePort();
  const proc = cli(['start'], env(id, port, extra));
  running.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${id} serving`, async () => (await fetch(`${base}/health`)).status > 0, 30_000);
  return { id, proc, base };
}

type AccountView = { name: string; owned: boolean; owner: string | null };

async function owners(instances: Instance[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const i of instances) {
    const s = (await (await fetch(`${i.base}/api/status`)).json()) as { accounts: AccountView[] };
    for (const a of s.accounts) {
      if (!out.has(a.name)) out.set(a.name, []);
      if (a.owned) out.get(a.name)?.push(i.id);
    }
  }
  return out;
}

/** Waits until every account is owned by exactly one of `instances` and each owns `counts` accounts. */
async function settled(instances: Instance[], check: (perInstance: number[]) => boolean, timeoutMs = 30_000): Promise<Map<string, string[]>> {
  return waitFor(
    'accounts settled',
    async () => {
      const o = await owners(instances);
      if (![...o.values()].every((ids) => ids.length === 1)) return null;
      const per = instances.map((i) => [...o.values()].filter((ids) => ids[0] === i.id).length);
      return check(per) ? o : null;
    },
    timeoutMs,
  );
}

/** Succeeded offers runs of `account` by `instance` that started after `since`. */
async function runsBy(instance: string, accounts: string[], since: Date): Promise<string[]> {
  const rows = await db.sql<{ account: string }[]>`
    select distinct account from emag_sync_runs where instance = ${instance} and account in ${db.sql(accounts)}
      and status = 'succeeded' and started_at > ${since}`;
  return rows.map((r) => r.account);
}

function noViolations(): void {
  const v = windowViolations(sandbox.log);
  // On failure, show the arrivals around each offending window.
  const around = v.map((x) => sandbox.log.filter((e) => e.account === x.account && Math.abs(e.t - x.start) < 2000).map((e) => `${e.t - x.start} ${e.resource}/${e.action} ${e.status}`));
  assert.deepEqual(v, [], `no account was ever over its limits: ${JSON.stringify(around)}`);
}

test('EMAG_SYNC_INSTANCE_ID with spaces or over 100 characters is a configuration error (exit 78)', async () => {
  for (const bad of ['two words', 'x'.repeat(101)]) {
    assert.throws(() => loadConfig(env(bad, 0)), /EMAG_SYNC_INSTANCE_ID: must be at most 100 characters without spaces/);
  }
  const p = cli(['start'], env('has space', await freePort()));
  assert.equal(await exited(p), 78, p.output());
  assert.match(p.output(), /EMAG_SYNC_INSTANCE_ID/);
  assert.match(loadConfig(env('x'.repeat(100), 0)).instanceId, /^x{100}$/);
  for (const bad of ['0', 'often']) {
    assert.throws(() => loadConfig(env('ok', 0, { EMAG_SYNC_OWNERSHIP_INTERVAL: bad })), /EMAG_SYNC_OWNERSHIP_INTERVAL: /);
  }
  assert.equal(loadConfig(env('ok', 0, { EMAG_SYNC_OWNERSHIP_INTERVAL: '2.5' })).ownershipIntervalMs, 2500);
  const defaulted = { ...env('', 0) };
  delete defaulted.EMAG_SYNC_INSTANCE_ID;
  assert.match(loadConfig(defaulted).instanceId, new RegExp(`:${process.pid}$`));
});

test('two daemons share four accounts two each; kill -9 of one hands its accounts to the survivor within 30 s', async () => {
  const a = await startInstance('ha-a');
  const b = await startInstance('ha-b');
  // A second instance with a taken id is refused.
  const twin = cli(['start'], env('ha-a', await freePort()));
  assert.equal(await exited(twin), 78, twin.output());
  assert.match(twin.output(), /EMAG_SYNC_INSTANCE_ID: "ha-a" is already used by another running emag-sync instance/);

  const split = await settled([a, b], (per) => per[0] === 2 && per[1] === 2);
  const ofA = [...split].filter(([, ids]) => ids[0] === 'ha-a').map(([name]) => name);

  // Status names the owner, metrics say who owns what and how many instances live.
  await waitFor('each instance names every owner', async () => {
    for (const i of [a, b]) {
      const s = (await (await fetch(`${i.base}/api/status`)).json()) as { accounts: AccountView[] };
      if (!s.accounts.every((acc) => acc.owner === split.get(acc.name)?.[0])) return false;
    }
    return true;
  });
  const metrics = await (await fetch(`${a.base}/metrics`)).text();
  assert.match(metrics, /^emag_sync_instances 2$/m);
  for (const acc of ACCOUNTS) assert.match(metrics, new RegExp(`^emag_sync_account_owned\\{account="${acc}"\\} ${ofA.includes(acc) ? 1 : 0}$`, 'm'));
  await waitFor('runs recorded by both instances', async () => (await runsBy('ha-a', ofA, new Date(0))).length === 2);

  const killedAt = new Date();
  a.proc.child.kill('SIGKILL');
  await exited(a.proc);
  await waitFor('the survivor synced the dead instance’s accounts', async () => (await runsBy('ha-b', ofA, killedAt)).length === 2, 30_000);
  const took = (Date.now() - killedAt.getTime()) / 1000;
  assert.ok(took < 30, `taken over and synced in ${took} s`);
  await settled([b], (per) => per[0] === 4);
  noViolations();
});

test('SIGTERM releases the leases at once: a peer owns the accounts within 5 s', async () => {
  const a = await startInstance('ha-a');
  const b = await startInstance('ha-b');
  const split = await settled([a, b], (per) => per[0] === 2 && per[1] === 2);
  const ofA = [...split].filter(([, ids]) => ids[0] === 'ha-a').map(([name]) => name);
  const termAt = Date.now();
  a.proc.child.kill('SIGTERM');
  await settled([b], (per) => per[0] === 4, 5_000);
  const took = (Date.now() - termAt) / 1000;
  assert.ok(took < 5, `owned by the peer ${took} s after SIGTERM`);
  assert.equal(await exited(a.proc), 0, a.proc.output());
  await waitFor('the peer synced them', async () => (await runsBy('ha-b', ofA, new Date(termAt))).length === 2, 15_000);
  const left = await db.sql`select count(*)::int as n from emag_instances where id = 'ha-a'`;
  assert.equal(left[0].n, 0, 'a stopped instance deregisters');
  noViolations();
});

test('instances joining are given accounts at run boundaries: no run is cut, nobody owns more than its share', async () => {
  const since = new Date();
  const a = await startInstance('ha-a');
  await settled([a], (per) => per[0] === 4);
  const b = await startInstance('ha-b');
  await settled([a, b], (per) => per[0] === 2 && per[1] === 2);
  const c = await startInstance('ha-c');
  // ceil(4 / 3) = 2: nobody may own more than two.
  await settled([a, b, c], (per) => per.every((n) => n <= 2));
  await waitFor('b syncs what it was given', async () => (await runsBy('ha-b', ACCOUNTS, since)).length === 2);
  const cut = await db.sql`select account, error from emag_sync_runs where started_at >= ${since} and status in ('cancelled', 'failed')`;
  assert.deepEqual([...cut], [], 'no run was cancelled or failed by a handover');
  // A third instance keeps the group whole: kill both others and it takes everything.
  a.proc.child.kill('SIGKILL');
  b.proc.child.kill('SIGKILL');
  await settled([c], (per) => per[0] === 4, 30_000);
  noViolations();
});

test('a lease lost while a run goes on cancels that run at once; the instance goes on and takes the account back', async () => {
  sandbox.setLatency(300);
  try {
    await db.sql`update emag_sync_runs set finished_at = now() - interval '1 hour', started_at = now() - interval '1 hour'`;
    const a = await startInstance('ha-a');
    const [run] = await waitFor('a run with a committed page', async () => {
      const r = await db.sql<{ id: string; account: string }[]>`select id, account from emag_sync_runs where status = 'running' and instance = 'ha-a' and pages_done >= 1 limit 1`;
      return r.length > 0 ? r : null;
    });
    // Cut the lease connection, as a database restart or a network cut would.
    const cutAt = new Date();
    const [{ n }] = await db.sql`select count(pg_terminate_backend(lease_pid))::int as n from emag_instances where id = 'ha-a'`;
    assert.equal(n, 1);
    const ended = await waitFor('the run ended', async () => {
      const [r] = await db.sql<{ status: string; error: string; finished_at: Date }[]>`select status, error, finished_at from emag_sync_runs where id = ${run.id}`;
      return r.status !== 'running' ? r : null;
    });
    assert.equal(ended.status, 'cancelled');
    assert.match(ended.error, /the lease of account \w+ was lost/);
    assert.ok(ended.finished_at.getTime() - cutAt.getTime() < 2000, `ended ${ended.finished_at.getTime() - cutAt.getTime()} ms after the cut, not at the end of its scan`);
    // The process goes on: it takes its accounts back and syncs them again.
    await settled([a], (per) => per[0] === 4);
    await waitFor('a new run of the account succeeds', async () => (await runsBy('ha-a', [run.account], cutAt)).length === 1, 30_000);
    assert.equal(a.proc.child.exitCode, null, 'still running');
    noViolations();
  } finally {
    sandbox.setLatency(60);
  }
});

test('a PostgreSQL restart under a running daemon: /health fails within a second, no run stays running, leases and LISTEN come back, the next runs succeed', async () => {
  // A server of this test's own, so it can be stopped without touching anyone else's.
  const dir = mkdtempSync(join(tmpdir(), 'emag-sync-ha-pg-'));
  chmodSync(dir, 0o755);
  const log = createLogger('silent');
  let pg = await startEmbedded(dir, log);
  const port = Number(new URL(pg.url).port);
  const own = connectUrl(pg.url, 2);
  try {
    const instance = await startInstance('ha-pg', {
      DATABASE_URL: pg.url,
      EMAG_ACCOUNTS: 'main,fbe',
      EMAG_MAIN_SYNC_TYPES: 'offers,commands',
      EMAG_MAIN_COMMANDS_INTERVAL: '60',
      EMAG_CONFLICT_STRATEGY: 'local_priority',
    });
    await settled([instance], (per) => per[0] === 2);
    await waitFor('both accounts synced', async () => {
      const r = await own`select count(distinct account)::int as n from emag_sync_runs where stream = 'offers' and status = 'succeeded'`;
      return r[0].n === 2;
    });

    // Stop the server under a run in flight.
    sandbox.setLatency(300);
    const [inFlight] = await waitFor('a run in flight', async () => {
      const r = await own<{ id: string }[]>`select id from emag_sync_runs where status = 'running' and pages_done >= 1 limit 1`;
      return r.length > 0 ? r : null;
    });
    await pg.stop();
    const downAt = Date.now();
    sandbox.setLatency(60);
    const health = await waitFor('/health fail', async () => {
      const r = await fetch(`${instance.base}/health`, { signal: AbortSignal.timeout(2000) });
      return r.status === 503 ? ((await r.json()) as { status: string }) : null;
    }, 10_000);
    assert.equal(health.status, 'fail');
    assert.ok(Date.now() - downAt < 1500, `/health said fail ${Date.now() - downAt} ms after the stop`);
    await new Promise((r) => setTimeout(r, 2000)); // an outage of a few seconds, scheduled runs failing meanwhile

    pg = await startEmbedded(dir, log, { port });
    const upAt = new Date();
    await waitFor('/health pass again', async () => (await fetch(`${instance.base}/health`)).status === 200, 30_000);
    await settled([instance], (per) => per[0] === 2, 30_000);
    await waitFor('runs succeed after the outage', async () => {
      const r = await own`select count(distinct account)::int as n from emag_sync_runs where stream = 'offers' and status = 'succeeded' and started_at > ${upAt}`;
      return r[0].n === 2;
    }, 30_000);
    const stuck = await own`select id, status from emag_sync_runs where status = 'running' and started_at < ${upAt}`;
    assert.deepEqual([...stuck], [], 'no run from before the restart stays running');
    const [cut] = await own`select status from emag_sync_runs where id = ${inFlight.id}`;
    assert.ok(['failed', 'cancelled', 'interrupted', 'partial'].includes(cut.status), `the run in flight ended ${cut.status}`);

    // LISTEN came back with the connection: a new command is drained long before its 60-minute poll.
    const [offer] = await own`select id from emag_offers where account = 'main' and deleted_at is null limit 1`;
    const [{ id }] = await own`insert into emag_commands (account, kind, payload) values ('main', 'stock_update', ${own.json({ id: Number(offer.id), stock: 7 })}) returning id`;
    await waitFor('the command drained', async () => {
      const [c] = await own`select status from emag_commands where id = ${id}`;
      return c.status === 'done';
    }, 15_000);

    instance.proc.child.kill('SIGTERM');
    assert.equal(await exited(instance.proc), 0, instance.proc.output());
  } finally {
    await own.end({ timeout: 1 }).catch(() => {});
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Two instances over main and fbe, one each: resolves with main's owner and the other. */
async function pairOverMainAndFbe(extra: Record<string, string>): Promise<{ owner: Instance; other: Instance }> {
  const e = { EMAG_ACCOUNTS: 'main,fbe', ...extra };
  const [a, b] = [await startInstance('ha-a', e), await startInstance('ha-b', e)];
  const split = await settled([a, b], (per) => per[0] === 1 && per[1] === 1);
  const owner = split.get('main')?.[0] === 'ha-a' ? a : b;
  return { owner, other: owner === a ? b : a };
}

/** Kills `p` with SIGKILL at once and waits for it to be gone. */
async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await exited(p);
}

test('kill -9 mid offers scan: the survivor marks the run interrupted, resumes, and the mirror equals eMAG', async () => {
  sandbox.setLatency(300);
  try {
    const { owner, other } = await pairOverMainAndFbe({});
    const [run] = await waitFor('a scan of main with committed pages', async () => {
      const r = await db.sql<{ id: string }[]>`select id from emag_sync_runs where account = 'main' and status = 'running' and instance = ${owner.id} and pages_done >= 1 limit 1`;
      return r.length > 0 ? r : null;
    });
    const killedAt = new Date();
    await kill9(owner.proc);
    await waitFor('the survivor completed a scan of main', async () => (await runsBy(other.id, ['main'], killedAt)).length === 1, 30_000);
    const [row] = await db.sql`select status from emag_sync_runs where id = ${run.id}`;
    assert.equal(row.status, 'interrupted');
    const [{ n }] = await db.sql`select count(*)::int as n from emag_offers where account = 'main' and deleted_at is null`;
    assert.equal(n, sandbox.account('main').offers.length);
    noViolations();
  } finally {
    sandbox.setLatency(60);
  }
});

test('kill -9 between sending an acknowledgement and recording it: the survivor finds it done and acknowledges nothing twice', async () => {
  const newOrders = sandbox.account('main').addOrders(6, { status: 1 });
  const { owner, other } = await pairOverMainAndFbe({ EMAG_MAIN_SYNC_TYPES: 'orders,acknowledge', EMAG_MAIN_ORDERS_INTERVAL: '0.05', EMAG_FBE_SYNC_TYPES: 'offers' });
  // Answers slow enough that the kill lands after eMAG took the acknowledgement and before its answer
  // (the sandbox acts on a request at once and delays only the answer).
  sandbox.setLatency(1500);
  try {
    const from = sandbox.log.length;
    await waitFor('an acknowledgement on its way', async () => sandbox.log.slice(from).some((e) => e.action === 'acknowledge'), 60_000);
    await kill9(owner.proc);
    sandbox.setLatency(60);
    await waitFor('every new order acknowledged', async () => {
      const r = await db.sql`select count(*)::int as n from emag_order_acks where account = 'main' and state = 'done' and order_id in ${db.sql(newOrders)}`;
      return r[0].n === newOrders.length;
    }, 30_000);
    const acks = sandbox.log.filter((e) => e.account === 'main' && e.action === 'acknowledge').map((e) => e.path);
    assert.equal(new Set(acks).size, acks.length, `each order acknowledged once: ${acks.join(', ')}`);
    assert.ok(acks.length >= newOrders.length);
    assert.equal(other.proc.child.exitCode, null);
    noViolations();
  } finally {
    sandbox.setLatency(60);
  }
});

test('kill -9 mid outbox batch: the survivor settles every command and sends none twice', async () => {
  const { owner } = await pairOverMainAndFbe({ EMAG_MAIN_SYNC_TYPES: 'offers,commands', EMAG_CONFLICT_STRATEGY: 'local_priority' });
  await waitFor('main mirrored', async () => (await db.sql`select 1 from emag_sync_runs where account = 'main' and stream = 'offers' and status = 'succeeded' limit 1`).length > 0);
  const offers = await db.sql<{ id: string }[]>`select id from emag_offers where account = 'main' and deleted_at is null order by id limit 20`;
  sandbox.setLatency(800);
  try {
    const from = sandbox.log.length;
    const ids = await db.sql<{ id: string }[]>`insert into emag_commands (account, kind, payload)
      select 'main', 'stock_update', jsonb_build_object('id', o.id, 'stock', 900 + (o.id % 50)) from unnest(${db.sql.array(offers.map((o) => Number(o.id)))}::bigint[]) o (id)
      returning id`;
    await waitFor('a stock update on its way', async () => sandbox.log.slice(from).some((e) => e.resource === 'offer_stock'), 30_000);
    await kill9(owner.proc);
    sandbox.setLatency(60);
    await waitFor('every command settled', async () => {
      const r = await db.sql`select count(*)::int as n from emag_commands where id in ${db.sql(ids.map((i) => i.id))} and status = 'done'`;
      return r[0].n === ids.length;
    }, 45_000);
    const sent = sandbox.log.slice(from).filter((e) => e.account === 'main' && e.resource === 'offer_stock').map((e) => e.path);
    assert.equal(new Set(sent).size, sent.length, `each stock update sent once: ${sent.join(', ')}`);
    noViolations();
  } finally {
    sandbox.setLatency(60);
  }
});

test('a new owner’s budget starts from the old owner’s last logged requests, on the database clock', async () => {
  await db.sql`insert into emag_api_calls (at, account, resource, action, status, duration_ms)
    values (now() - interval '200 milliseconds', 'hu', 'product_offer', 'read', 200, 50),
           (now() - interval '2 seconds', 'hu', 'product_offer', 'read', 200, 50),
           (now() - interval '5 minutes', 'hu', 'order', 'read', 200, 50)`;
  const recent = await recentCalls(db.sql, 'hu');
  assert.equal(recent.length, 1, 'only the last minute counts, latest per resource');
  assert.equal(recent[0].resource, 'product_offer');
  assert.ok(recent[0].agoMs >= 200 && recent[0].agoMs < 1500, `${recent[0].agoMs} ms ago`);
  const budget = new AccountBudget(12, 3);
  await new Promise((r) => setTimeout(r, 400));
  budget.noteSent(recent);
  const waited = await budget.other.take();
  assert.ok(waited >= 50, `the first request of the new owner waited ${waited} ms`);
});

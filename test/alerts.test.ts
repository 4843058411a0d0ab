/**
 * Alerts end to end: a daemon against the sandbox and a local webhook receiver. A refused IP fires
 * exactly one signed `auth` notification (delivered on the third try), a restart does not notify it
 * again, healing resolves it exactly once; unacknowledged orders fire with auto-acknowledge off; the
 * history matches. Then delivery on its own against misbehaving receivers, and bad configuration.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import { type AccountFacts, evaluateRules, healthScore } from '../src/alerts/rules.ts';
import { Notifier, type Notification } from '../src/alerts/notify.ts';
import { connectUrl } from '../src/db/connect.ts';
import { Leases } from '../src/db/leases.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { type Daemon, startDaemon } from '../src/daemon.ts';
import { createLogger } from '../src/log.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { sandboxEnv, TEST_ACCOUNTS } from './helpers/setup.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SECRET = 'webhook-hmac-test-key';
const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

interface Received {
  body: string;
  json: Notification;
  signature: string | undefined;
  answered: number;
}

/** A webhook receiver that records every POST and answers with `answer(body)` (200 "ok" by default). */
async function receiver(answer: (n: Notification, req: IncomingMessage, res: ServerResponse) => boolean | undefined = () => undefined): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const json = JSON.parse(body) as Notification;
      const entry: Received = { body, json, signature: req.headers['x-emag-sync-signature'] as string | undefined, answered: 0 };
      got.push(entry);
      if (answer(json, req, res)) {
        entry.answered = res.statusCode;
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      entry.answered = 200;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/B000/secret-path`, got, server };
}

async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves after the engine evaluated `n` more times (an event, not a sleep). */
async function evaluations(daemon: Daemon, n: number): Promise<void> {
  const target = daemon.alerts.evaluations + n;
  while (daemon.alerts.evaluations < target) await once(daemon.alerts, 'evaluated');
}

describe('alerts from a daemon against the sandbox', () => {
  let sandbox: Sandbox;
  let db: TestDatabase;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let daemon: Daemon | null = null;
  let env: Record<string, string>;

  const delivered = (type: string, state: string) => hook.got.filter((r) => r.json.alert.type === type && r.json.alert.state === state);

  before(async () => {
    [sandbox, db] = await Promise.all([startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: 5, orders: 0 }, { ...TEST_ACCOUNTS[1], offers: 5 }] }), testDatabase()]);
    // The auth notification is refused twice (HTTP 500) before the receiver takes it.
    let refusals = 0;
    hook = await receiver((n, _req, res) => {
      if (n.alert.type === 'auth' && n.alert.state === 'firing' && refusals < 2) {
        refusals++;
        res.writeHead(500, { 'Content-Type': 'text/html' }).end('<html>oops</html>');
        return true;
      }
      return undefined;
    });
    env = sandboxEnv(sandbox, db, {
      EMAG_LOG_LEVEL: 'silent',
      EMAG_MAIN_SYNC_TYPES: 'orders',
      EMAG_MAIN_ORDERS_INTERVAL: '0.05',
      EMAG_FBE_SYNC_TYPES: 'offers',
      EMAG_FBE_SYNC_INTERVAL: '0.05',
      EMAG_AUTO_ACKNOWLEDGE: 'false',
      EMAG_ORDERS_START_DATE: new Date(Date.now() - 86_400_000).toISOString(),
      EMAG_ALERT_INTERVAL: '0.2',
      EMAG_ALERT_RETRY_SECONDS: '0.2',
      EMAG_ALERT_WEBHOOK_URL: hook.url,
      EMAG_ALERT_WEBHOOK_SECRET: SECRET,
      EMAG_ALERT_UNACKNOWLEDGED_MINUTES: '0.01',
      // Runs every 3 s here: stale data is not what this test is about.
      EMAG_ALERT_STALE_INTERVALS: '10000',
    });
  });

  after(async () => {
    await daemon?.stop();
    await sandbox?.close();
    await db?.close();
    hook?.server.close();
  });

  it('a refused IP fires one signed auth notification, delivered on the third try', async () => {
    sandbox.account('fbe').allowedIp = false;
    sandbox.account('main').addOrders(1);
    daemon = await startDaemon(loadConfig(env), log);
    const firing = await waitFor('the auth notification delivered', () => delivered('auth', 'firing').find((r) => r.answered === 200));
    const attempts = delivered('auth', 'firing');
    assert.equal(attempts.length, 3, 'two refused attempts, then the one taken');
    assert.deepEqual(attempts.map((a) => a.answered), [500, 500, 200]);
    assert.ok(attempts.every((a) => a.body === firing.body), 'every attempt carries the same notification');
    for (const a of attempts) assert.equal(a.signature, `sha256=${createHmac('sha256', SECRET).update(a.body).digest('hex')}`);
    const alert = firing.json.alert;
    assert.equal(alert.severity, 'critical');
    assert.equal(alert.account, 'fbe');
    assert.equal(alert.stream, undefined);
    assert.equal(alert.until, undefined);
    assert.match(alert.action, /whitelist this server's public IP in the eMAG seller settings/i);
    assert.match(firing.json.text, /CRITICAL auth \(fbe\)/);
    assert.deepEqual(Object.keys(alert).sort(), ['account', 'action', 'id', 'message', 'severity', 'since', 'state', 'type']);
  });

  it('unacknowledged_orders fires for a new order when auto-acknowledge is off', async () => {
    const n = await waitFor('the unacknowledged_orders notification', () => delivered('unacknowledged_orders', 'firing')[0]);
    assert.equal(n.json.alert.account, 'main');
    assert.equal(n.json.alert.severity, 'critical');
    assert.match(n.json.alert.message, /1 new order\(s\) of main/);
    assert.match(n.json.alert.action, /EMAG_AUTO_ACKNOWLEDGE/);
  });

  it('/api/status, /health and /metrics agree on the health score of the active alerts', async () => {
    assert.ok(daemon);
    const base = daemon.server.url;
    const status = (await (await fetch(`${base}/api/status`)).json()) as { healthScore: number; alerts: Array<{ type: string; severity: string }>; recent: { errorsLastHour: number } };
    const health = (await (await fetch(`${base}/health`)).json()) as { status: string; checks: Record<string, Array<{ observedValue: unknown }>> };
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const critical = status.alerts.filter((a) => a.severity === 'critical').length;
    const warning = status.alerts.length - critical;
    assert.ok(status.alerts.some((a) => a.type === 'auth'));
    assert.equal(status.healthScore, Math.max(0, 100 - 30 * critical - 10 * warning));
    assert.ok(status.recent.errorsLastHour >= 2, 'auth and unacknowledged_orders counted from the history');
    assert.equal(health.checks['alerts:healthScore'][0].observedValue, status.healthScore);
    assert.equal(health.status, 'warn');
    assert.match(metrics, new RegExp(`^emag_sync_health_score ${status.healthScore}$`, 'm'));
    assert.match(metrics, /^emag_sync_alerts_active\{type="auth",severity="critical"\} 1$/m);
    assert.match(metrics, /^emag_alert_notifications_total\{result="retried"\} 2$/m);
  });

  it('a restart does not notify the active alerts again', async () => {
    assert.ok(daemon);
    await daemon.stop();
    const [{ last }] = await db.sql`select coalesce(max(id), 0)::int as last from emag_sync_runs`;
    daemon = await startDaemon(loadConfig(env), log);
    // The account is still refused, so the alert holds; several evaluations pass without a word.
    await waitFor('a failed fbe run after the restart', async () => (await db.sql`select 1 from emag_sync_runs where account = 'fbe' and status = 'failed' and id > ${last}`).length > 0);
    await evaluations(daemon, 4);
    assert.equal(delivered('auth', 'firing').length, 3);
    assert.equal(delivered('unacknowledged_orders', 'firing').length, 1);
    assert.equal(daemon.alerts.active().filter((a) => a.type === 'auth').length, 1);
  });

  it('healing the whitelist resolves the alert exactly once, and the history rows match', async () => {
    assert.ok(daemon);
    sandbox.account('fbe').allowedIp = true;
    // A run now, as a person would start one after fixing the whitelist (the next slot may be minutes away).
    daemon.scheduler.poke('fbe', 'offers');
    const resolved = await waitFor('the resolved notification', () => delivered('auth', 'resolved')[0]);
    const [firing] = delivered('auth', 'firing');
    assert.equal(resolved.json.alert.id, firing.json.alert.id);
    assert.equal(resolved.json.alert.since, firing.json.alert.since);
    assert.ok(resolved.json.alert.until && resolved.json.alert.until > resolved.json.alert.since);
    assert.match(resolved.json.text, /RESOLVED auth \(fbe\)/);
    assert.equal(resolved.signature, `sha256=${createHmac('sha256', SECRET).update(resolved.body).digest('hex')}`);
    await evaluations(daemon, 3);
    assert.equal(delivered('auth', 'resolved').length, 1);

    const rows = await db.sql`select * from emag_alerts where type = 'auth'`;
    assert.equal(rows.length, 1);
    const row = rows[0];
    assert.equal(row.id, firing.json.alert.id);
    assert.equal(row.account, 'fbe');
    assert.equal(row.severity, 'critical');
    assert.equal(row.started_at.toISOString(), firing.json.alert.since);
    assert.equal(row.cleared_at.toISOString(), resolved.json.alert.until);
    assert.equal(row.notify_result, 'delivered');
    assert.ok(row.notified_at >= row.started_at);
    await waitFor('the resolved delivery recorded', async () => (await db.sql`select 1 from emag_alerts where id = ${row.id} and resolved_notify_result = 'delivered'`).length > 0);

    const cleared = (await (await fetch(`${daemon.server.url}/api/alerts?state=cleared`)).json()) as { alerts: Array<{ id: string; state: string; startedAt: string; clearedAt: string; notifyResult: string; resolvedNotifyResult: string }> };
    const listed = cleared.alerts.find((a) => a.id === row.id);
    assert.ok(listed);
    assert.equal(listed.state, 'cleared');
    assert.equal(listed.startedAt, firing.json.alert.since);
    assert.equal(listed.clearedAt, resolved.json.alert.until);
    assert.equal(listed.resolvedNotifyResult, 'delivered');
    const resolvedToo = (await (await fetch(`${daemon.server.url}/api/alerts?state=resolved`)).json()) as { alerts: Array<{ id: string }> };
    assert.deepEqual(resolvedToo.alerts.map((a) => a.id), cleared.alerts.map((a) => a.id), 'resolved means cleared');
    const active = (await (await fetch(`${daemon.server.url}/api/alerts?state=active`)).json()) as { alerts: Array<{ type: string }> };
    assert.ok(active.alerts.every((a) => a.type !== 'auth'));
    assert.ok(active.alerts.some((a) => a.type === 'unacknowledged_orders'));
    const future = (await (await fetch(`${daemon.server.url}/api/alerts?since=2100-01-01T00:00:00Z`)).json()) as { alerts: Array<{ type: string }> };
    assert.ok(future.alerts.every((a) => a.type !== 'auth'), 'since: only alerts active at or after it');
    for (const bad of ['state=open', 'since=yesterday', 'limit=0', 'limit=1001']) {
      const res = await fetch(`${daemon.server.url}/api/alerts?${bad}`);
      assert.equal(res.status, 400, bad);
    }

    // Nothing secret or personal left the daemon: no credentials, no webhook path, no customer.
    const everything = hook.got.map((r) => r.body).join('\n');
    for (const secret of [...TEST_ACCOUNTS.flatMap((a) => [a.username, a.password]), SECRET, 'secret-path']) assert.ok(!everything.includes(secret), `a body leaks ${secret}`);
    const [customer] = await db.sql`select customer from emag_orders where account = 'main' limit 1`;
    const name = (customer?.customer as { name?: string } | null)?.name;
    if (name) assert.ok(!everything.includes(name), 'a body leaks a customer name');
  });
});

describe('the rules', () => {
  const t = loadConfig({ EMAG_ACCOUNTS: '' }, { requireAccounts: false }).alerts.thresholds;
  const now = new Date('2026-12-01T10:00:00Z');
  const ago = (min: number) => new Date(now.getTime() - min * 60_000);
  const quiet: AccountFacts = { name: 'main', streams: [], calls: null, lateUnacknowledged: 0, outbox: { failedLastHour: 0, pendingLong: 0, conflicts: 0 }, unownedSeconds: null };
  const judge = (a: Partial<AccountFacts>) => evaluateRules({ now, upSince: ago(600), database: { ok: true, error: null }, accounts: [{ ...quiet, ...a }] }, t).map((c) => `${c.type}:${c.severity}`);
  const runs = (...statuses: Array<[string, string | null]>) => statuses.map(([status, errorKind], i) => ({ status, errorKind, finishedAt: ago(i) }));

  it('judge each type at its default threshold, and not below it', () => {
    assert.deepEqual(judge({}), []);
    const orders = (minutes: number) => judge({ streams: [{ stream: 'orders', periodSeconds: 300, runs: runs(['succeeded', null]), lastSuccessAt: ago(minutes) }] });
    assert.deepEqual(orders(29), []);
    assert.deepEqual(orders(31), ['stale:warning']);
    assert.deepEqual(orders(91), ['stale:critical'], 'critical at 3× the threshold');
    const offers = (minutes: number) => judge({ streams: [{ stream: 'offers', periodSeconds: 3600, runs: [], lastSuccessAt: ago(minutes) }] });
    assert.deepEqual(offers(119), []);
    assert.deepEqual(offers(121), ['stale:warning']);
    const failing = (...r: Array<[string, string | null]>) => judge({ streams: [{ stream: 'orders', periodSeconds: 300, runs: runs(...r), lastSuccessAt: ago(1) }] });
    assert.deepEqual(failing(['failed', 'server'], ['failed', 'server'], ['succeeded', null]), []);
    assert.deepEqual(failing(['failed', 'server'], ['failed', 'timeout'], ['failed', 'server']), ['sync_failing:critical']);
    assert.deepEqual(failing(['failed', 'auth'], ['failed', 'auth'], ['failed', 'auth']), ['auth:critical'], 'refused credentials are told once, as auth');
    assert.deepEqual(failing(['succeeded', null], ['failed', 'auth']), [], 'a later success heals auth');
    assert.deepEqual(judge({ calls: { calls: 19, failed: 19, rateLimited: 0, p95Ms: 100 } }), [], 'too few calls to judge a rate');
    assert.deepEqual(judge({ calls: { calls: 100, failed: 10, rateLimited: 0, p95Ms: 100 } }), []);
    assert.deepEqual(judge({ calls: { calls: 100, failed: 11, rateLimited: 1, p95Ms: 5001 } }), ['high_error_rate:warning', 'slow_responses:warning', 'rate_limit_pressure:warning']);
    assert.deepEqual(judge({ lateUnacknowledged: 1 }), ['unacknowledged_orders:critical']);
    assert.deepEqual(judge({ outbox: { failedLastHour: 0, pendingLong: 1, conflicts: 2 } }), ['outbox_failing:warning', 'conflicts_waiting:warning']);
    assert.deepEqual(judge({ unownedSeconds: 119 }), []);
    assert.deepEqual(judge({ unownedSeconds: 120 }), ['account_unowned:critical']);
    const refused = (kind: string) => evaluateRules({ now, upSince: ago(600), database: { ok: true, error: null }, accounts: [{ ...quiet, name: 'fbe', streams: [{ stream: 'offers', periodSeconds: 3600, runs: runs(['failed', kind]), lastSuccessAt: ago(1) }] }] }, t)[0];
    assert.match(refused('auth').action, /^Fix the credentials: set EMAG_FBE_USERNAME \/ EMAG_FBE_PASSWORD/);
    assert.match(refused('ip_not_whitelisted').action, /^Whitelist this server's public IP in the eMAG seller settings/);
    assert.equal(refused('auth').key, refused('ip_not_whitelisted').key, 'one auth alert per account, whichever the refusal');
    const down = evaluateRules({ now, upSince: ago(600), database: { ok: false, error: 'connect ECONNREFUSED' }, accounts: null }, t);
    assert.deepEqual(down.map((c) => c.type), ['database']);
  });

  it('score 100 − 30 per critical − 10 per warning, floored at 0, and 0 without a database', () => {
    assert.equal(healthScore([]), 100);
    assert.equal(healthScore([{ type: 'auth', severity: 'critical' }, { type: 'stale', severity: 'warning' }]), 60);
    assert.equal(healthScore(Array.from({ length: 4 }, () => ({ type: 'auth', severity: 'critical' as const }))), 0);
    assert.equal(healthScore([{ type: 'database', severity: 'critical' }]), 0);
  });
});

/** A TCP proxy to the database that can be cut (connections refused) and restored on the same port. */
async function databaseProxy(target: URL): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: TcpServer;
  let port = 0;
  const listen = async () => {
    server = createTcpServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  const url = new URL(target);
  url.host = `127.0.0.1:${port}`;
  const cut = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return { url: url.toString(), cut, restore: listen, close: cut };
}

describe('the database alert during an outage', () => {
  it('is notified while the database is down and written to the history once it is back', async (t) => {
    const db = await testDatabase();
    t.after(() => db.close());
    const hook = await receiver();
    t.after(() => hook.server.close());
    const proxy = await databaseProxy(new URL(db.url));
    t.after(() => proxy.close());
    const sql = connectUrl(proxy.url, 2);
    t.after(() => sql.end({ timeout: 1 }));
    const config = loadConfig({ EMAG_ACCOUNTS: '', EMAG_ALERT_WEBHOOK_URL: hook.url, EMAG_ALERT_RETRY_SECONDS: '0.1' }, { requireAccounts: false });
    const engine = new AlertEngine({ sql, config, log });
    await engine.start();
    t.after(() => engine.stop());

    await proxy.cut();
    await engine.evaluate();
    assert.deepEqual(engine.active(), [], 'one evaluation is not enough');
    await engine.evaluate();
    assert.deepEqual(engine.active().map((a) => a.type), ['database']);
    assert.equal(engine.healthScore(), 0);
    const firing = await waitFor('the database notification', () => hook.got.find((r) => r.json.alert.type === 'database' && r.json.alert.state === 'firing'));
    assert.match(firing.json.alert.message, /The database does not answer/);
    assert.doesNotMatch(firing.body, /ci-only-local-password|postgres:\/\//);

    await proxy.restore();
    await engine.evaluate();
    const [row] = await db.sql`select * from emag_alerts where type = 'database'`;
    assert.ok(row, 'written once the database answers');
    assert.equal(row.id, firing.json.alert.id);
    assert.equal(row.cleared_at, null, 'one good evaluation does not clear it');
    await engine.evaluate();
    assert.deepEqual(engine.active(), []);
    const resolved = await waitFor('the resolved notification', () => hook.got.find((r) => r.json.alert.type === 'database' && r.json.alert.state === 'resolved'));
    assert.equal(resolved.json.alert.id, row.id);
    await waitFor('both notifications recorded', async () => {
      const [r] = await db.sql`select notify_result, resolved_notify_result, cleared_at from emag_alerts where id = ${row.id}`;
      return r.notify_result === 'delivered' && r.resolved_notify_result === 'delivered' && r.cleared_at !== null;
    });
    assert.equal(hook.got.length, 2);
  });
});

describe('the engine over a database of its own', () => {
  it('fires account_unowned once the lease was free for the threshold, and clears when an instance takes it', async (t) => {
    const db = await testDatabase();
    t.after(() => db.close());
    const config = loadConfig({ EMAG_ACCOUNTS: 'main', EMAG_MAIN_USERNAME: 'u', EMAG_MAIN_PASSWORD: 'p', EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_ALERT_UNOWNED_MINUTES: '0.005' });
    // A lease of the same name in another database of the server is not this account's owner.
    const elsewhere = new URL(db.url);
    elsewhere.pathname = '/postgres';
    const foreign = new Leases(connectUrl(elsewhere.toString(), 1, { persistent: true }));
    assert.equal(await foreign.acquire('main'), true);
    t.after(() => foreign.releaseAll());
    const engine = new AlertEngine({ sql: db.sql, config, log });
    await engine.start();
    t.after(() => engine.stop());
    // The first evaluation sees the account unowned; the threshold starts there.
    await engine.evaluate();
    await new Promise((r) => setTimeout(r, 400)); // the 0.3-s threshold itself must pass
    await engine.evaluate();
    await engine.evaluate();
    assert.deepEqual(engine.active().map((a) => `${a.type}:${a.account}`), ['account_unowned:main']);
    const owner = new Leases(connectUrl(db.url, 1, { persistent: true }));
    t.after(() => owner.releaseAll());
    assert.equal(await owner.acquire('main'), true);
    await engine.evaluate();
    assert.equal(engine.active().length, 1, 'clears only after two evaluations');
    await engine.evaluate();
    assert.deepEqual(engine.active(), []);
    const [row] = await db.sql`select type, account, severity, cleared_at, notify_result from emag_alerts`;
    assert.equal(row.type, 'account_unowned');
    assert.equal(row.severity, 'critical');
    assert.ok(row.cleared_at);
    await waitFor('the notification result recorded', async () => (await db.sql`select 1 from emag_alerts where notify_result = 'no_webhook' and resolved_notify_result = 'no_webhook'`).length > 0);
  });
});

describe('a stop right after a delivery', () => {
  it('has recorded it, so the next start neither notifies it again nor forgets the alert', async (t) => {
    const db = await testDatabase();
    t.after(() => db.close());
    const hook = await receiver();
    t.after(() => hook.server.close());
    const config = loadConfig({ EMAG_ACCOUNTS: 'main', EMAG_MAIN_USERNAME: 'u', EMAG_MAIN_PASSWORD: 'p', EMAG_MAIN_SYNC_TYPES: 'commands', EMAG_ALERT_WEBHOOK_URL: hook.url });
    await db.sql`insert into emag_commands (account, kind, payload, status, error, done_at) values ('main', 'stock_update', '{"id": 1, "stock": 1}', 'failed', 'refused', now())`;
    // Its own connections, closed at once after stop, as the daemon closes the database right after.
    const sql = connectUrl(db.url, 2);
    const first = new AlertEngine({ sql, config, log });
    await first.start();
    await first.evaluate();
    await first.evaluate();
    await waitFor('the outbox_failing notification', () => hook.got.find((r) => r.json.alert.type === 'outbox_failing'));
    await first.stop();
    await sql.end({ timeout: 0 });
    const [row] = await db.sql`select id, notify_result from emag_alerts where type = 'outbox_failing'`;
    assert.equal(row.notify_result, 'delivered', 'recorded before stop resolved');

    const second = new AlertEngine({ sql: db.sql, config, log });
    await second.start();
    t.after(() => second.stop());
    await second.evaluate();
    await second.evaluate();
    assert.deepEqual(second.active().map((a) => a.id), [row.id], 'the same alert, taken back');
    assert.equal(hook.got.length, 1);
  });
});

describe('webhook delivery', () => {
  const fast = { webhookSecret: null, intervalMs: 1000, webhookTimeoutMs: 300, retryFirstMs: 50, giveUpMs: 700, thresholds: loadConfig({ EMAG_ACCOUNTS: '' }, { requireAccounts: false }).alerts.thresholds };
  const sample: Notification = { text: 'test', alert: { id: 'x', type: 'test', severity: 'warning', message: 'm', action: 'a', state: 'firing', since: new Date().toISOString() } };
  let bad: Server;
  let badUrl: string;
  const hits: Record<string, number> = {};

  before(async () => {
    bad = createServer((req, res) => {
      req.resume();
      const path = req.url ?? '';
      hits[path] = (hits[path] ?? 0) + 1;
      if (path === '/500') res.writeHead(500).end('no');
      else if (path === '/redirect') res.writeHead(302, { Location: '/elsewhere' }).end();
      else if (path === '/html') res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Sign in to the Wi-Fi</body></html>');
      // /hang never answers.
    });
    await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
    badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
  });
  after(() => {
    bad.closeAllConnections();
    bad.close();
  });

  for (const [path, reason] of [
    ['/500', /HTTP 500/],
    ['/hang', /no answer within 0.3 s/],
    ['/redirect', /redirected \(HTTP 302\)/],
    ['/html', /HTML page/],
  ] as const) {
    it(`retries a webhook answering ${path.slice(1)} and reports it undelivered after the give-up time`, async () => {
      const results: string[] = [];
      const notifier = new Notifier({ ...fast, webhookUrls: [`${badUrl}${path}`] }, log, (r) => results.push(r));
      const outcome = await notifier.deliver(sample);
      assert.equal(outcome.result, 'undelivered');
      assert.match(outcome.error ?? '', reason);
      assert.ok(!(outcome.error ?? '').includes(path), 'the webhook path is not reported');
      assert.ok(hits[path] >= 2, `retried (${hits[path]} attempts)`);
      assert.equal(results.at(-1), 'undelivered');
      assert.ok(results.includes('retried'));
    });
  }

  it('reports a refused connection without the webhook path', async () => {
    const notifier = new Notifier({ ...fast, giveUpMs: 150, webhookUrls: ['http://127.0.0.1:59999/hooks/T0/B0/SECRETPATH'] }, log);
    const outcome = await notifier.deliver(sample);
    assert.equal(outcome.result, 'undelivered');
    assert.match(outcome.error ?? '', /^#1 http:\/\/127\.0\.0\.1:59999\/…: network error: .*ECONNREFUSED/);
    assert.doesNotMatch(outcome.error ?? '', /SECRETPATH/);
  });

  it('names a self-signed certificate as the reason, without retrying', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'emag-sync-cert-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    assert.equal(made.status, 0, 'openssl generates a throwaway certificate');
    let attempts = 0;
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
      attempts++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    t.after(() => tls.close());
    const notifier = new Notifier({ ...fast, webhookUrls: [`https://127.0.0.1:${(tls.address() as AddressInfo).port}/hook`] }, log);
    const outcome = await notifier.deliver(sample);
    assert.equal(outcome.result, 'undelivered');
    assert.match(outcome.error ?? '', /TLS certificate not trusted: self[- ]signed certificate/i);
    assert.equal(attempts, 0);
  });
});

describe('configuration and the alerts command', () => {
  const base = { EMAG_ACCOUNTS: 'main', EMAG_MAIN_USERNAME: 'u', EMAG_MAIN_PASSWORD: 'p' };

  it('refuses a malformed webhook URL and a threshold that is not a positive number, naming the variable', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
        return [];
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems;
      }
    };
    const url = problems({ EMAG_ALERT_WEBHOOK_URL: 'https://hooks.example.com/ok,not a url/T0/SECRETPATH' });
    assert.deepEqual(url, ['EMAG_ALERT_WEBHOOK_URL: entry 2 is not an http(s) URL']);
    assert.deepEqual(problems({ EMAG_ALERT_WEBHOOK_URL: 'ftp://example.com/x' }), ['EMAG_ALERT_WEBHOOK_URL: entry 1 is not an http(s) URL']);
    const userinfo = problems({ EMAG_ALERT_WEBHOOK_URL: 'https://bot:hunter2@chat.example.com/hooks/SECRETPATH' });
    assert.equal(userinfo.length, 1);
    assert.match(userinfo[0], /^EMAG_ALERT_WEBHOOK_URL: entry 1 carries a user and password/);
    assert.doesNotMatch(userinfo.join(), /hunter2|SECRETPATH/);
    for (const v of ['0', '-5', 'abc', '1e3', ' ']) {
      const p = problems({ EMAG_ALERT_STALE_ORDERS_MINUTES: v });
      if (v.trim() === '') assert.deepEqual(p, []);
      else assert.deepEqual(p, [`EMAG_ALERT_STALE_ORDERS_MINUTES: "${v}" is not a positive number`]);
    }
    assert.deepEqual(problems({ EMAG_ALERT_ERROR_RATE_PERCENT: '150' }), ['EMAG_ALERT_ERROR_RATE_PERCENT: 150 is more than 100 (percent)']);
    assert.equal(loadConfig({ ...base, EMAG_ALERT_INTERVAL: '0.5' }).alerts.intervalMs, 500);
  });

  it('`start` with a malformed webhook URL exits 78 naming the variable, not the URL', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...base, EMAG_ALERT_WEBHOOK_URL: 'hooks.example.com/T0/SECRETPATH' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const [code] = await once(child, 'exit');
    assert.equal(code, 78, out);
    assert.match(out, /EMAG_ALERT_WEBHOOK_URL: entry 1 is not an http\(s\) URL/);
    assert.doesNotMatch(out, /SECRETPATH/);
  });

  it('`alerts test` sends a signed test notification to each webhook and reports each answer', async () => {
    const ok = await receiver();
    const failing = await receiver((_n, _req, res) => {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('maintenance');
      return true;
    });
    try {
      const run = async (urls: string[]) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'alerts', 'test'], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', EMAG_ALERT_WEBHOOK_URL: urls.join(','), EMAG_ALERT_WEBHOOK_SECRET: SECRET, EMAG_ALERT_WEBHOOK_TIMEOUT: '5' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        child.stderr.on('data', (c) => (out += c));
        const [code] = await once(child, 'exit');
        return { code, out };
      };
      const good = await run([ok.url]);
      assert.equal(good.code, 0, good.out);
      assert.match(good.out, /^✔ #1 http:\/\/127\.0\.0\.1:\d+\/…: HTTP 200 in \d+ ms \("ok"\)$/m);
      assert.equal(ok.got.length, 1);
      assert.equal(ok.got[0].json.alert.type, 'test');
      assert.equal(ok.got[0].signature, `sha256=${createHmac('sha256', SECRET).update(ok.got[0].body).digest('hex')}`);

      const mixed = await run([ok.url, failing.url]);
      assert.equal(mixed.code, 1, mixed.out);
      assert.match(mixed.out, /^✔ #1 /m);
      assert.match(mixed.out, /^✘ #2 http:\/\/127\.0\.0\.1:\d+\/…: HTTP 503 \("maintenance"\)$/m);
      assert.doesNotMatch(mixed.out, /secret-path/);

      const none = await run([]);
      assert.equal(none.code, 78, none.out);
      assert.match(none.out, /EMAG_ALERT_WEBHOOK_URL/);
    } finally {
      ok.server.close();
      failing.server.close();
    }
  });
});

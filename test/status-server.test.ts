/**
 * The status server over real HTTP against a real Postgres: /health (pass, warn, 503 fail),
 * /api/status (live progress, next sync, alerts, no secrets), /api/runs validation, /metrics, and
 * the server's behaviour on bad requests.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { connectUrl, type Sql } from '../src/db/connect.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { Scheduler } from '../src/scheduler.ts';
import { commandCounts } from '../src/db/commands.ts';
import { unacknowledgedCounts } from '../src/db/orders.ts';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import { type StatusContext, type StatusServer, startStatusServer } from '../src/server/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';

const PASSWORD = 's3cret-test';
const USERNAME = 'seller-main@example.com';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const config = loadConfig({
  EMAG_ACCOUNTS: 'main,fbe,spare,old',
  EMAG_MAIN_USERNAME: USERNAME,
  EMAG_MAIN_PASSWORD: PASSWORD,
  EMAG_FBE_USERNAME: 'u',
  EMAG_FBE_PASSWORD: PASSWORD,
  EMAG_SPARE_USERNAME: 'u',
  EMAG_SPARE_PASSWORD: PASSWORD,
  EMAG_OLD_USERNAME: 'u',
  EMAG_OLD_PASSWORD: PASSWORD,
  EMAG_OLD_ENABLED: 'false',
  // Only offers, so the expected checks and alerts do not depend on the default stream list.
  EMAG_MAIN_SYNC_TYPES: 'offers',
  EMAG_FBE_SYNC_TYPES: 'offers',
  EMAG_SPARE_SYNC_TYPES: 'offers',
  EMAG_OLD_SYNC_TYPES: 'offers',
  EMAG_SYNC_PORT: '0',
  EMAG_SYNC_ADMIN_TOKEN: ADMIN_TOKEN,
});
const HOUR = 3_600_000;
const NEXT_RUN = new Date(Date.now() + 7 * 60_000);
const metrics = new Metrics({ version: '9.9.9-test' });
const log = createLogger('silent');

let db: TestDatabase;
const servers: StatusServer[] = [];

/** A context over the test database with a scheduler that runs and knows its next slot. */
function context(over: Partial<StatusContext> = {}): StatusContext {
  return {
    sql: db.sql,
    config,
    metrics,
    scheduler: { running: true, nextRun: () => NEXT_RUN, activeRuns: () => [] },
    log,
    startedAt: new Date(Date.now() - 3 * HOUR),
    version: '9.9.9-test',
    database: { where: 'test PostgreSQL', embedded: false },
    ownedAccounts: () => ['main', 'fbe'],
    // An engine that has not evaluated yet knows of no alert.
    alerts: new AlertEngine({ sql: db.sql, config, log }),
    ...over,
  };
}

/** An alert engine over `sql` that evaluated twice, so the conditions that hold have fired. */
async function evaluated(sql: Sql): Promise<AlertEngine> {
  const engine = new AlertEngine({ sql, config, log, startedAt: new Date(Date.now() - 3 * HOUR) });
  await engine.evaluate();
  await engine.evaluate();
  return engine;
}

async function start(over: Partial<StatusContext> = {}): Promise<StatusServer> {
  const server = await startStatusServer(context(over));
  servers.push(server);
  return server;
}

async function insertRun(
  sql: Sql,
  r: { account: string; stream?: string; status: string; startedAgoMs: number; finishedAgoMs?: number; error?: string; errorKind?: string; pagesDone?: number; pagesTotal?: number; seen?: number },
): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    insert into emag_sync_runs (account, stream, trigger, status, started_at, finished_at, error, error_kind, pages_done, pages_total,
      items_seen, items_inserted, items_updated, items_unchanged, api_requests)
    values (${r.account}, ${r.stream ?? 'offers'}, 'schedule', ${r.status}, ${new Date(Date.now() - r.startedAgoMs)},
      ${r.finishedAgoMs === undefined ? null : new Date(Date.now() - r.finishedAgoMs)}, ${r.error ?? null}, ${r.errorKind ?? null},
      ${r.pagesDone ?? 0}, ${r.pagesTotal ?? null}, ${r.seen ?? 0}, 120, 30, 150, ${r.pagesDone ?? 0})
    returning id`;
  return Number(row.id);
}

/** Sends raw bytes and returns everything the server answered before closing. */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(text);
    });
  });
}

type HealthDoc = { status: string; version: string; serviceId: string; checks: Record<string, Array<Record<string, unknown>>> };

before(async () => {
  db = await testDatabase();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await db?.close();
});

describe('GET /health', () => {
  it('passes when the database answers and every enabled account is fresh', async () => {
    await db.sql`delete from emag_sync_runs`;
    await insertRun(db.sql, { account: 'main', status: 'succeeded', startedAgoMs: 6 * 60_000, finishedAgoMs: 5 * 60_000 });
    await insertRun(db.sql, { account: 'fbe', status: 'partial', startedAgoMs: 11 * 60_000, finishedAgoMs: 10 * 60_000 });
    // Just started: the account without runs is waiting for its first sync, not stale.
    const server = await start({ startedAt: new Date() });
    const res = await fetch(`${server.url}/health`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/health+json');
    const body = (await res.json()) as HealthDoc;
    assert.equal(body.status, 'pass');
    assert.equal(body.serviceId, 'emag-sync');
    assert.equal(body.version, '9.9.9-test');
    const dbCheck = body.checks['database:connection'][0];
    assert.equal(dbCheck.status, 'pass');
    assert.equal(dbCheck.observedUnit, 'ms');
    assert.equal(typeof dbCheck.observedValue, 'number');
    assert.equal(body.checks['scheduler:running'][0].status, 'pass');
    const fresh = body.checks['account:main:freshness'][0];
    assert.equal(fresh.componentId, 'offers');
    assert.ok(Math.abs((fresh.observedValue as number) - 300) < 30, `age ${fresh.observedValue}`);
    assert.equal(fresh.affectedEndpoints, undefined);
    assert.equal(body.checks['account:spare:freshness'][0].status, 'pass');
    assert.equal(body.checks['account:old:freshness'], undefined, 'disabled accounts are not checked');
  });

  it('warns on stale data, a never-synced account and a failed last run, still with 200', async () => {
    await db.sql`delete from emag_sync_runs`;
    await insertRun(db.sql, { account: 'main', status: 'succeeded', startedAgoMs: 3 * HOUR + 60_000, finishedAgoMs: 3 * HOUR });
    await insertRun(db.sql, { account: 'fbe', status: 'succeeded', startedAgoMs: 21 * 60_000, finishedAgoMs: 20 * 60_000 });
    await insertRun(db.sql, { account: 'fbe', status: 'failed', startedAgoMs: 2 * 60_000, finishedAgoMs: 60_000, error: 'fbe: product_offer/read: not authorised (HTTP 401)', errorKind: 'auth' });
    const server = await start();
    const res = await fetch(`${server.url}/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as HealthDoc;
    assert.equal(body.status, 'warn');
    const mainFresh = body.checks['account:main:freshness'][0];
    assert.equal(mainFresh.status, 'warn');
    assert.match(String(mainFresh.output), /last success 3h ago, expected every 1h/);
    assert.deepEqual(mainFresh.affectedEndpoints, ['/api/runs?account=main&stream=offers']);
    assert.equal(body.checks['account:spare:freshness'][0].status, 'warn');
    assert.match(String(body.checks['account:spare:freshness'][0].output), /never synced/);
    assert.equal(body.checks['account:fbe:freshness'][0].status, 'pass');
    const fbeLast = body.checks['account:fbe:lastRun'][0];
    assert.equal(fbeLast.status, 'warn');
    assert.equal(fbeLast.observedValue, 'failed');
    assert.match(String(fbeLast.output), /not authorised.*check the account credentials/);
    assert.equal(body.checks['account:main:lastRun'][0].status, 'pass');
  });

  it('fails with 503 when the database is unreachable, and warns on a stopped scheduler', async () => {
    const dead = connectUrl('postgres://u:p@127.0.0.1:1/x', 1);
    try {
      const scheduler = new Scheduler({ sql: dead, config, log, budgets: new Map() });
      // Wired like the daemon: the database-backed gauges read the dead database at scrape time.
      const metrics = new Metrics({ defaultMetrics: false });
      metrics.setDatabaseSources({ unacknowledged: () => unacknowledgedCounts(dead), commands: () => commandCounts(dead) });
      const server = await start({ sql: dead, scheduler, metrics, alerts: await evaluated(dead) });
      const res = await fetch(`${server.url}/health`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as HealthDoc;
      assert.equal(body.status, 'fail');
      assert.equal(body.checks['database:connection'][0].status, 'fail');
      assert.match(String(body.checks['database:connection'][0].output), /database unavailable/);
      assert.doesNotMatch(JSON.stringify(body), /u:p@/);
      assert.equal(body.checks['scheduler:running'][0].status, 'warn');
      assert.equal(body.checks['account:main:freshness'][0].status, 'warn');

      const status = await fetch(`${server.url}/api/status`);
      assert.equal(status.status, 200);
      const s = (await status.json()) as { database: { ok: boolean }; healthScore: number; alerts: Array<{ type: string }>; accounts: Array<{ name: string; status: string }> };
      assert.equal(s.database.ok, false);
      assert.equal(s.healthScore, 0);
      assert.ok(s.alerts.some((a) => a.type === 'database'));
      assert.equal(s.accounts.find((a) => a.name === 'main')?.status, 'unknown');

      const m = await fetch(`${server.url}/metrics`);
      assert.equal(m.status, 200, 'metrics still serve without a database');
      const text = await m.text();
      assert.match(text, /^emag_sync_health_score 0$/m);
      assert.match(text, /# TYPE emag_commands gauge/, 'the database-backed gauges are there, empty');
    } finally {
      await dead.end({ timeout: 0 });
    }
  });
});

describe('GET /api/status, /api/runs, /metrics', () => {
  let server: StatusServer;
  let runningId: number;

  before(async () => {
    // Continues the warn state: main stale, fbe failed on credentials, spare never synced.
    runningId = await insertRun(db.sql, { account: 'main', status: 'running', startedAgoMs: 30_000, pagesDone: 3, pagesTotal: 12, seen: 300 });
    await db.sql`insert into emag_quarantine (account, stream, reason) values ('fbe', 'offers', 'no id'), ('fbe', 'offers', 'bad price')`;
    const calls = Array.from({ length: 30 }, (_, i) => ({
      account: 'fbe',
      resource: 'product_offer',
      action: 'read',
      status: i < 2 ? 429 : i < 10 ? 500 : 200,
      duration_ms: 120,
      error: i < 2 ? 'rate_limited' : i < 10 ? 'server' : null,
    }));
    await db.sql`insert into emag_api_calls ${db.sql(calls)}`;
    server = await start({ alerts: await evaluated(db.sql) });
  });

  it('shows each account with live progress, next sync, errors and alerts', async () => {
    const res = await fetch(`${server.url}/api/status`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const text = await res.text();
    const s = JSON.parse(text);
    assert.equal(s.service, 'emag-sync');
    assert.equal(s.scheduler.running, true);
    assert.ok(s.uptimeSeconds >= 3 * 3600 - 5);
    const byName = Object.fromEntries(s.accounts.map((a: { name: string }) => [a.name, a]));
    assert.equal(byName.main.status, 'syncing');
    assert.equal(byName.main.nextSync, NEXT_RUN.toISOString());
    const running = byName.main.streams[0].running;
    assert.equal(running.runId, runningId);
    assert.equal(running.pagesDone, 3);
    assert.equal(running.pagesTotal, 12);
    assert.equal(running.percent, 25);
    assert.equal(running.itemsSeen, 300);
    assert.equal(running.inserted, 120);
    assert.equal(byName.fbe.status, 'failing');
    assert.match(byName.fbe.streams[0].lastError.message, /not authorised/);
    assert.equal(byName.fbe.streams[0].running, null);
    assert.equal(byName.spare.status, 'not_owned');
    assert.equal(byName.old.status, 'disabled');
    assert.equal(byName.old.enabled, false);

    assert.equal(s.recent.quarantinedLastHour, 2);
    assert.equal(s.recent.apiErrorsLastHour, 10);
    assert.equal(s.recent.failedRunsLastHour, 1);
    assert.equal(s.recent.errorsLastHour, 1, 'one critical alert in the history of the last hour');
    assert.equal(s.recent.warningsLastHour, 4);
    const types = s.alerts.map((a: { type: string; account?: string }) => `${a.type}:${a.account ?? ''}`).sort();
    assert.deepEqual(types, ['auth:fbe', 'high_error_rate:fbe', 'rate_limit_pressure:fbe', 'stale:main', 'stale:spare']);
    const refused = s.alerts.find((a: { type: string }) => a.type === 'auth');
    assert.equal(refused.severity, 'critical');
    assert.match(refused.action, /EMAG_FBE_USERNAME/);
    assert.equal(s.healthScore, 100 - 30 - 4 * 10);

    for (const secret of [PASSWORD, USERNAME, ADMIN_TOKEN, 'marketplace-api.emag']) assert.ok(!text.includes(secret), `body leaks ${secret}`);
  });

  it('lists runs newest first and validates the query', async () => {
    const all = await fetch(`${server.url}/api/runs`);
    assert.equal(all.status, 200);
    const { runs } = (await all.json()) as { runs: Array<{ id: number; account: string; status: string; startedAt: string }> };
    assert.equal(runs.length, 4);
    assert.equal(runs[0].id, runningId);
    assert.ok(runs.every((r, i) => i === 0 || r.startedAt <= runs[i - 1].startedAt));

    const one = (await (await fetch(`${server.url}/api/runs?account=fbe&stream=offers&limit=1`)).json()) as { runs: Array<{ account: string; status: string; error: string }> };
    assert.equal(one.runs.length, 1);
    assert.equal(one.runs[0].account, 'fbe');
    assert.equal(one.runs[0].status, 'failed');

    const unknown = await fetch(`${server.url}/api/runs?account=nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: string }).error, 'unknown_account');
    for (const bad of ['limit=0', 'limit=501', 'limit=abc', 'limit=2.5', 'stream=bogus']) {
      const res = await fetch(`${server.url}/api/runs?${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(((await res.json()) as { error: string }).error, 'bad_request');
    }
    const max = await fetch(`${server.url}/api/runs?limit=500`);
    assert.equal(max.status, 200);
  });

  it('serves Prometheus text with the database-derived gauges', async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /emag_sync_runs_total/);
    assert.match(text, /process_cpu_user_seconds_total/);
    assert.match(text, /^emag_sync_last_success_timestamp_seconds\{account="fbe",stream="offers"\} \d+/m);
    assert.match(text, /^emag_sync_health_score \d+$/m);
  });

  it('answers a burst of 200 concurrent probes from one snapshot', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, () => fetch(`${server.url}/health`).then(async (r) => ({ status: r.status, body: (await r.json()) as HealthDoc }))));
    assert.ok(answers.every((a) => a.status === 200));
    const times = new Set(answers.map((a) => a.body.checks['database:connection'][0].time));
    assert.ok(times.size <= 2, `one probe per second expected, got ${times.size} different probe times`);
  });
});

describe('requests the server refuses', () => {
  let server: StatusServer;
  before(async () => {
    server = await start();
  });

  it('answers unknown paths with 404 JSON and wrong methods with 405 and Allow', async () => {
    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys((await missing.json()) as object).sort(), ['error', 'message']);

    const post = await fetch(`${server.url}/health`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await post.json()) as { error: string }).error, 'method_not_allowed');
  });

  it('serves HEAD wherever GET is, without a body', async () => {
    const res = await fetch(`${server.url}/api/status`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(await res.text(), '');
  });

  it('answers 400 JSON for a malformed URL and for garbage, and keeps serving', async () => {
    const malformed = await raw(server.url, 'GET /%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 /);
    assert.match(malformed, /"error":"bad_request"/);

    const garbage = await raw(server.url, '\x00\x01 this is not HTTP at all\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.match(garbage, /application\/json/);

    const withBody = await raw(server.url, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    assert.match(withBody, /^HTTP\/1\.1 200 /, 'a body on GET is ignored');

    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  it('turns a handler exception into a 500 without details, logs it, and keeps serving', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const broken = await start({
      log: createLogger('error', sink),
      scheduler: { running: true, nextRun: () => { throw new Error('scheduler exploded'); }, activeRuns: () => [] },
    });
    const res = await fetch(`${broken.url}/api/status`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: string; message: string };
    assert.equal(body.error, 'internal_error');
    assert.doesNotMatch(body.message, /exploded/);
    assert.ok(lines.some((l) => l.includes('scheduler exploded')), 'the detail is logged');
    assert.equal((await fetch(`${broken.url}/health`)).status, 200);
  });

  it('closes promptly with an idle keep-alive connection open', async () => {
    const lonely = await startStatusServer(context());
    const { hostname, port } = new URL(lonely.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    // One request on a keep-alive connection, then it sits idle, as a browser's or a probe's would.
    const answered = new Promise<string>((resolve) => socket.once('data', (d) => resolve(d.toString())));
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.match(await answered, /^HTTP\/1\.1 200 [\s\S]*Connection: keep-alive/i);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const started = performance.now();
    await lonely.close();
    await closed;
    assert.ok(performance.now() - started < 500, `close took ${Math.round(performance.now() - started)} ms`);
  });
});

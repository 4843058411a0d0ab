/**
 * The console's API over real HTTP, against a real Postgres and the sandbox eMAG API, with a real
 * scheduler behind the control routes: every read route, every control route in every auth case
 * (none configured, missing, wrong, right), the bad-input answers, the 421 Host check, and the event
 * stream (delivery during a run, many clients, a client that stops reading is dropped).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Config, ConfigError, loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { Scheduler } from '../src/scheduler.ts';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import type { RunEvents } from '../src/server/context.ts';
import { type StatusServer, startStatusServer } from '../src/server/server.ts';
import type { RunEvent, SyncDeps } from '../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { syncDeps, TEST_ACCOUNTS } from './helpers/setup.ts';

const TOKEN = 'console-test-token-0123456789abcdef';
const MAIN_OFFERS = 250;
const FBE_OFFERS = 3000;

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;
let scheduler: Scheduler;
let runEvents: RunEvents;
let metrics: Metrics;
let alerts: AlertEngine;
/** With the admin token configured. */
let server: StatusServer;
/** Without one: every control route answers 403. */
let openServer: StatusServer;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  json: any;
}

/** One request with full control of the headers (fetch would not let a test set Host). */
function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: string | Buffer | object; contentType?: string | null; host?: string; headers?: Record<string, string>; from?: string } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.contentType !== null && method === 'POST') headers['content-type'] = opts.contentType ?? 'application/json';
  if (opts.host) headers.host = opts.host;
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    // `from`: another loopback source address, so failed-auth counts of one test do not limit the others.
    const req = request(url, { method, headers, localAddress: opts.from }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const get = (path: string, opts: Parameters<typeof call>[3] = {}) => call(server.url, 'GET', path, opts);
const post = (path: string, body: object | string | undefined, opts: Parameters<typeof call>[3] = {}) => call(server.url, 'POST', path, { token: TOKEN, body, ...opts });

/** One parsed Server-Sent Event. */
// biome-ignore lint/suspicious/noExplicitAny: event data is read field by field
type Sse = { event: string; data: any };

/** Parsed Server-Sent Events of one connection. */
class EventClient {
  readonly events: Sse[] = [];
  #buffer = '';
  #waiters: Array<() => void> = [];
  readonly ready: Promise<void>;
  #close: () => void = () => {};

  constructor(base: string) {
    this.ready = new Promise((resolve, reject) => {
      const req = request(new URL('/api/events', base), (res) => {
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^text\/event-stream/);
        res.setEncoding('utf8');
        res.on('data', (d: string) => this.#feed(d));
        resolve();
      });
      req.on('error', reject);
      req.end();
      this.#close = () => req.destroy();
    });
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    let end = this.#buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) this.events.push({ event, data: JSON.parse(data) });
      end = this.#buffer.indexOf('\n\n');
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves with the first event matching `test` (already received or to come). */
  async waitFor(test: (e: Sse) => boolean, timeoutMs = 30_000): Promise<Sse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(test);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such event within ${timeoutMs} ms; got: ${this.events.map((e) => `${e.event}/${e.data.type ?? ''}`).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#close();
  }
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runStatus(id: number): Promise<string> {
  const [row] = await db.sql<{ status: string }[]>`select status from emag_sync_runs where id = ${id}`;
  return row.status;
}

before(async () => {
  [sandbox, db] = await Promise.all([
    startSandbox({
      accounts: [
        { ...TEST_ACCOUNTS[0], offers: MAIN_OFFERS, orders: 20 },
        { ...TEST_ACCOUNTS[1], offers: FBE_OFFERS, orderType: 2 },
      ],
      sharedSkus: 10,
    }),
    testDatabase(),
  ]);
  ({ config, deps } = await syncDeps(sandbox, db, {
    EMAG_ACCOUNTS: 'main,fbe,wrong',
    EMAG_WRONG_BASE_URL: sandbox.url,
    EMAG_WRONG_USERNAME: 'main-user',
    EMAG_WRONG_PASSWORD: 'not-the-password',
    EMAG_WRONG_SYNC_TYPES: 'offers',
    EMAG_MAIN_SYNC_TYPES: 'offers,orders,commands',
    EMAG_FBE_SYNC_TYPES: 'offers',
    EMAG_SYNC_ADMIN_TOKEN: TOKEN,
    EMAG_SYNC_ALLOWED_HOSTS: 'console.internal',
    EMAG_ALERT_INTERVAL: '0.1',
  }));
  metrics = deps.metrics as Metrics;
  runEvents = new EventEmitter();
  deps.onRunEvent = (e) => runEvents.emit('run', e);
  scheduler = new Scheduler(deps);
  alerts = new AlertEngine({ sql: db.sql, config, log: createLogger('silent') });
  await alerts.start();
  const context = { ...mainOnlyContext(), ownedAccounts: () => ['main', 'fbe', 'wrong'], runEvents, budgets: deps.budgets, heartbeatMs: 300 };
  server = await startStatusServer(context);
  openServer = await startStatusServer({ ...context, config: { ...config, adminToken: null } });
  // One complete offers and orders run of main, for the read routes.
  await scheduler.trigger(config.accounts[0], 'offers', 'full', 'manual');
  await scheduler.trigger(config.accounts[0], 'orders', 'full', 'manual');
});

after(async () => {
  await alerts?.stop();
  await scheduler?.stop();
  await server?.close();
  await openServer?.close();
  await sandbox?.close();
  await db?.close();
});

/** Every control route, with a body that would be acceptable. */
const CONTROL_ROUTES: Array<[string, object]> = [
  ['/api/sync', { account: 'main', stream: 'offers' }],
  ['/api/runs/1/cancel', {}],
  ['/api/accounts/main/test', {}],
  ['/api/commands/1/retry', {}],
  ['/api/commands/1/cancel', {}],
  ['/api/conflicts/1/resolve', { keep: 'emag' }],
];

describe('control routes: authentication', () => {
  it('answers 403 on every control route when no token is configured, whatever the request carries', async () => {
    for (const [path, body] of CONTROL_ROUTES) {
      for (const token of [undefined, 'wrong', TOKEN]) {
        const res = await call(openServer.url, 'POST', path, { token, body });
        assert.equal(res.status, 403, `${path} with ${token ?? 'no token'}`);
        assert.equal(res.json.error, 'control endpoints are disabled: set EMAG_SYNC_ADMIN_TOKEN');
      }
    }
  });

  it('answers 401 with WWW-Authenticate to a missing or wrong token, and never echoes it', async () => {
    for (const [i, [path, body]] of CONTROL_ROUTES.entries()) {
      const from = `127.0.0.${10 + i}`;
      const missing = await post(path, body, { token: undefined, from });
      assert.equal(missing.status, 401, path);
      assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
      const wrong = await post(path, body, { token: 'wrong-token-but-long-enough-1234', from });
      assert.equal(wrong.status, 401, path);
      assert.match(String(wrong.headers['www-authenticate']), /^Bearer/);
      assert.doesNotMatch(wrong.text, /wrong-token-but-long-enough/);
      const basic = await post(path, body, { token: undefined, from, headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
      assert.equal(basic.status, 401, `${path} with Basic`);
    }
  });

  it('lets the right token through to the route itself', async () => {
    for (const [path, body] of CONTROL_ROUTES) {
      const res = await post(path, body);
      assert.ok(![401, 403, 415, 429].includes(res.status), `${path}: ${res.status} ${res.text}`);
    }
    // Leave nothing running for the next tests.
    await until('no runs', async () => scheduler.activeRuns().length === 0);
  });

  it('accepts only JSON: another content type is 415, a GET is 405 with Allow', async () => {
    const form = await post('/api/sync', 'account=main&stream=offers', { contentType: 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
    const none = await post('/api/sync', '{"account":"main","stream":"offers"}', { contentType: null });
    assert.equal(none.status, 415);
    const getSync = await get('/api/sync');
    assert.equal(getSync.status, 405);
    assert.equal(getSync.headers.allow, 'POST');
  });

  it('slows an address down with 429 after 10 failures in a minute, even with the right token then', async () => {
    const fresh = await startStatusServer(mainOnlyContext());
    try {
      for (let i = 0; i < 10; i++) assert.equal((await call(fresh.url, 'POST', '/api/commands/1/retry', { token: `wrong-${i}`, body: {} })).status, 401);
      const limited = await call(fresh.url, 'POST', '/api/commands/1/retry', { token: TOKEN, body: {} });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      // Reads stay open.
      assert.equal((await call(fresh.url, 'GET', '/api/status')).status, 200);
    } finally {
      await fresh.close();
    }
  });
});

describe('POST /api/sync on an account another instance owns', () => {
  it('answers 409 naming the owner problem, and starts nothing', async () => {
    const partial = await startStatusServer(mainOnlyContext());
    try {
      const res = await call(partial.url, 'POST', '/api/sync', { token: TOKEN, body: { account: 'fbe', stream: 'offers' } });
      assert.equal(res.status, 409);
      assert.equal(res.json.error, 'not_owned');
      assert.equal(scheduler.activeRuns().length, 0);
    } finally {
      await partial.close();
    }
  });
});

describe('POST /api/sync and POST /api/runs/<id>/cancel', () => {
  it('starts a run (202 with its id), refuses a second one with 409 naming it, and cancels it', async () => {
    sandbox.setLatency(150);
    const events = new EventClient(server.url);
    await events.ready;
    try {
      const started = await post('/api/sync', { account: 'fbe', stream: 'offers', mode: 'full' });
      assert.equal(started.status, 202, started.text);
      assert.equal(started.json.runs.length, 1);
      const { account, stream, runId } = started.json.runs[0];
      assert.deepEqual([account, stream], ['fbe', 'offers']);
      assert.equal(typeof runId, 'number');
      assert.equal(await runStatus(runId), 'running');

      const again = await post('/api/sync', { account: 'fbe', stream: 'offers' });
      assert.equal(again.status, 409);
      assert.equal(again.json.runId, runId);
      assert.match(again.json.message, new RegExp(`run ${runId}`));

      // Live events: started, then progress with pages advancing.
      await events.waitFor((e) => e.event === 'run' && e.data.type === 'started' && e.data.run.id === runId);
      const progress = await events.waitFor((e) => e.event === 'run' && e.data.type === 'progress' && e.data.run.id === runId && e.data.run.pagesDone >= 2);
      assert.ok(progress.data.run.pagesTotal >= 30);

      const cancel = await post(`/api/runs/${runId}/cancel`, {});
      assert.equal(cancel.status, 202);
      const finished = await events.waitFor((e) => e.event === 'run' && e.data.type === 'finished' && e.data.run.id === runId);
      assert.equal(finished.data.run.status, 'cancelled');
      assert.match(finished.data.run.error, /cancelled from the console/);
      const [row] = await db.sql<{ status: string; pages_done: number }[]>`select status, pages_done from emag_sync_runs where id = ${runId}`;
      assert.equal(row.status, 'cancelled');
      assert.ok(row.pages_done >= 2, 'the run keeps what it committed');
      // The run is stored as the event said.
      const one = await get(`/api/runs/${runId}`);
      assert.equal(one.json.status, 'cancelled');

      const notRunning = await post(`/api/runs/${runId}/cancel`, {});
      assert.equal(notRunning.status, 409);
      assert.equal((await post('/api/runs/999999/cancel', {})).status, 404);
      assert.equal((await post('/api/runs/abc/cancel', {})).status, 400);
    } finally {
      events.close();
      sandbox.setLatency(0);
    }
  });

  it('starts every stream of every owned account with "all"', async () => {
    const res = await post('/api/sync', { account: 'all', stream: 'all' });
    assert.equal(res.status, 202, res.text);
    const started = res.json.runs.map((r: { account: string; stream: string }) => `${r.account}/${r.stream}`).sort();
    assert.deepEqual(started, ['fbe/offers', 'main/commands', 'main/offers', 'main/orders', 'wrong/offers']);
    await until('all runs ended', async () => scheduler.activeRuns().length === 0, 60_000);
    for (const r of res.json.runs) assert.notEqual(await runStatus(r.runId), 'running');
  });

  it('checks the account first (404), then the body (400 naming the field)', async () => {
    const unknown = await post('/api/sync', { account: 'nope', stream: 'bogus' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error, 'unknown_account');
    const cases: Array<[object | string, RegExp]> = [
      ['{"account": "main",', /not valid JSON/],
      ['[1,2]', /JSON object/],
      [{ account: 'main', stream: 'offers', extra: 1, other: 2 }, /unknown field\(s\): extra, other/],
      [{ stream: 'offers' }, /^account: required/],
      [{ account: 'main' }, /^stream: required/],
      [{ account: 42, stream: 'offers' }, /^account: must be/],
      [{ account: 'main', stream: 'bogus' }, /^stream: must be/],
      [{ account: 'main', stream: 'rma' }, /^stream: main does not sync rma/],
      [{ account: 'main', stream: 'offers', mode: 'turbo' }, /^mode: must be one of/],
      [{ account: 'main', stream: 'offers', filters: { status: 1 } }, /^filters: only with mode "selective"/],
      [{ account: 'main', stream: 'orders', mode: 'selective', filters: { status: 1 } }, /^mode: selective needs a stream that supports it \(offers\)/],
      [{ account: 'main', stream: 'offers', mode: 'selective' }, /^filters: selective needs/],
      [{ account: 'main', stream: 'offers', mode: 'selective', filters: { colour: 'red' } }, /^filters\.colour: unknown filter/],
      [{ account: 'main', stream: 'offers', mode: 'selective', filters: { status: 'x' } }, /^filters\.status:/],
    ];
    for (const [body, message] of cases) {
      const res = await post('/api/sync', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.json.message, message, JSON.stringify(body));
    }
    assert.equal(scheduler.activeRuns().length, 0, 'no bad request started anything');
  });

  it('runs a selective scan with filters, which finds only the matching offer and deletes nothing', async () => {
    const known = sandbox.account('main').offers[5];
    const res = await post('/api/sync', { account: 'main', stream: 'offers', mode: 'selective', filters: { part_number: String(known.part_number) } });
    assert.equal(res.status, 202, res.text);
    const { runId } = res.json.runs[0];
    const run = await until('the selective run to end', async () => {
      const r = await get(`/api/runs/${runId}`);
      return r.json.status !== 'running' && r.json;
    });
    assert.equal(run.status, 'succeeded');
    assert.equal(run.itemsSeen, 1);
    assert.equal(run.deleted, 0);
    assert.equal((await get('/api/offers?account=main')).json.total, MAIN_OFFERS);
  });

  it('refuses bodies over 64 KiB with 413', async () => {
    const big = JSON.stringify({ account: 'main', stream: 'offers', pad: 'x'.repeat(70 * 1024) });
    const res = await post('/api/sync', big);
    assert.equal(res.status, 413);
  });
});

describe('POST /api/accounts/<name>/test', () => {
  it('gives the verdict of `emag-sync test`, as JSON', async () => {
    const ok = await post('/api/accounts/main/test', {});
    assert.equal(ok.status, 200);
    assert.equal(ok.json.ok, true);
    assert.match(ok.json.message, /API access works/);
    const wrong = await post('/api/accounts/wrong/test', {});
    assert.equal(wrong.status, 200);
    assert.equal(wrong.json.ok, false);
    assert.equal(wrong.json.kind, 'auth');
    assert.match(wrong.json.message, /wrong username\/password/);
    assert.doesNotMatch(wrong.text, /not-the-password/);
    assert.equal((await post('/api/accounts/nope/test', {})).status, 404);
  });
});

describe('outbox controls', () => {
  it('retries a failed command and cancels a pending one; 404 unknown, 409 in the wrong state', async () => {
    const [failed] = await db.sql<{ id: string }[]>`
      insert into emag_commands (account, kind, payload, status, attempts, error) values ('main', 'stock_update', '{"id": 1, "stock": 3}', 'failed', 5, 'eMAG said no') returning id`;
    const [done] = await db.sql<{ id: string }[]>`
      insert into emag_commands (account, kind, payload, status) values ('main', 'stock_update', '{"id": 2, "stock": 3}', 'done') returning id`;
    const retry = await post(`/api/commands/${failed.id}/retry`, {});
    assert.equal(retry.status, 200);
    const [row] = await db.sql<{ status: string; attempts: number; error: string | null }[]>`select status, attempts, error from emag_commands where id = ${failed.id}`;
    assert.deepEqual({ ...row }, { status: 'pending', attempts: 0, error: null });
    assert.equal((await post(`/api/commands/${failed.id}/retry`, {})).status, 409);
    const cancel = await post(`/api/commands/${failed.id}/cancel`, {});
    assert.equal(cancel.status, 200);
    assert.equal((await db.sql`select status from emag_commands where id = ${failed.id}`)[0].status, 'cancelled');
    assert.equal((await post(`/api/commands/${done.id}/cancel`, {})).status, 409);
    assert.equal((await post('/api/commands/999999/retry', {})).status, 404);
    assert.equal((await post('/api/commands/999999/cancel', {})).status, 404);

    const list = await get('/api/commands?account=main&status=cancelled');
    assert.equal(list.status, 200);
    assert.ok(list.json.items.some((c: { id: number }) => c.id === Number(failed.id)));
    assert.equal((await get('/api/commands?kind=bogus')).status, 400);
  });

  it('resolves a parked conflict once; 400 for a bad keep, 404 unknown', async () => {
    const [cmd] = await db.sql<{ id: string }[]>`
      insert into emag_commands (account, kind, payload, status) values ('main', 'offer_update', '{"id": 3, "sale_price": 10}', 'conflict') returning id`;
    const [conflict] = await db.sql<{ id: string }[]>`
      insert into emag_conflicts (command_id, account, offer_id, local, emag) values (${cmd.id}, 'main', 3, '{"sale_price": 10}', '{"sale_price": 12}') returning id`;
    const listed = await get('/api/conflicts');
    assert.ok(listed.json.items.some((c: { id: number }) => c.id === Number(conflict.id)));
    assert.equal((await post(`/api/conflicts/${conflict.id}/resolve`, { keep: 'both' })).status, 400);
    assert.equal((await post(`/api/conflicts/${conflict.id}/resolve`, {})).status, 400);
    const ok = await post(`/api/conflicts/${conflict.id}/resolve`, { keep: 'emag' });
    assert.equal(ok.status, 200);
    assert.equal((await db.sql`select status from emag_commands where id = ${cmd.id}`)[0].status, 'cancelled');
    assert.equal((await post(`/api/conflicts/${conflict.id}/resolve`, { keep: 'local' })).status, 409);
    assert.equal((await post('/api/conflicts/999999/resolve', { keep: 'local' })).status, 404);
  });
});

describe('read routes', () => {
  it('pages, filters and searches offers; a row has its raw record', async () => {
    const page1 = await get('/api/offers?account=main&limit=100');
    assert.equal(page1.status, 200);
    assert.equal(page1.json.total, MAIN_OFFERS);
    assert.equal(page1.json.items.length, 100);
    assert.deepEqual([page1.json.page, page1.json.limit], [1, 100]);
    const page3 = await get('/api/offers?account=main&limit=100&page=3');
    assert.equal(page3.json.items.length, MAIN_OFFERS - 200);
    const ids = new Set([...page1.json.items, ...page3.json.items].map((o: { id: number }) => o.id));
    assert.equal(ids.size, page1.json.items.length + page3.json.items.length, 'pages do not overlap');

    const known = sandbox.account('main').offers[17];
    const sku = String(known.part_number);
    const found = await get(`/api/offers?account=main&q=${encodeURIComponent(sku)}`);
    assert.equal(found.json.total, 1);
    assert.equal(found.json.items[0].part_number, sku);
    const byName = await get(`/api/offers?q=${encodeURIComponent(String(known.name).slice(0, 12))}`);
    assert.ok(byName.json.items.some((o: { id: number }) => o.id === known.id));

    const detail = await get(`/api/offers/main/${known.id}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.json.raw.part_number, sku);
    assert.equal((await get('/api/offers/main/999999999')).status, 404);
    assert.equal((await get(`/api/offers/nope/${known.id}`)).status, 404);

    const status = await get('/api/offers?account=main&status=1&limit=500');
    assert.ok(status.json.items.every((o: { status: number }) => o.status === 1));
  });

  it('finds nothing for SQL-looking or very long searches', async () => {
    for (const q of ["' or 1=1 --", "%' ; drop table emag_offers; --", '%', '_', 'x'.repeat(4000)]) {
      const res = await get(`/api/offers?q=${encodeURIComponent(q)}`);
      assert.equal(res.status, 200, q.slice(0, 20));
      assert.equal(res.json.total, 0, q.slice(0, 20));
    }
    assert.equal((await get('/api/offers?account=main')).json.total, MAIN_OFFERS, 'the table is still there');
  });

  it('answers 400 naming the parameter for bad paging and values, 404 for an unknown account', async () => {
    for (const [path, name] of [
      ['/api/offers?page=-1', 'page'],
      ['/api/offers?page=0', 'page'],
      ['/api/offers?limit=1e9', 'limit'],
      ['/api/offers?limit=501', 'limit'],
      ['/api/offers?status=x', 'status'],
      ['/api/products?page=abc', 'page'],
      ['/api/orders?limit=0', 'limit'],
      ['/api/commands?page=1.5', 'page'],
      ['/api/runs?before=-3', 'before'],
      ['/api/runs?status=done', 'status'],
      ['/api/conflicts?status=maybe', 'status'],
    ]) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      assert.match(res.json.message, new RegExp(`^${name}:`), path);
    }
    assert.equal((await get('/api/offers?account=nope')).status, 404);
    assert.equal((await get('/api/orders?account=nope')).status, 404);
  });

  it('lists the unified catalog and orders', async () => {
    const products = await get('/api/products?limit=5');
    assert.equal(products.status, 200);
    assert.ok(products.json.total >= MAIN_OFFERS);
    assert.equal(products.json.items.length, 5);
    assert.ok(products.json.items.every((p: { part_number: string; source_account: string }) => p.part_number && p.source_account));
    const orders = await get('/api/orders?account=main&limit=500');
    assert.equal(orders.status, 200);
    const [{ n }] = await db.sql<{ n: number }[]>`select count(*)::int as n from emag_orders where account = 'main'`;
    assert.ok(n > 0);
    assert.equal(orders.json.total, n);
    const first = orders.json.items[0];
    const byId = await get(`/api/orders?q=${first.id}`);
    assert.equal(byId.json.items[0].id, first.id);
  });

  it('pages the run history by keyset, newest first, filtered', async () => {
    const all = await get('/api/runs?limit=500');
    const total = all.json.runs.length;
    assert.ok(total >= 5);
    const first = await get('/api/runs?limit=2');
    assert.equal(first.json.runs.length, 2);
    assert.equal(first.json.next, first.json.runs[1].id);
    const second = await get(`/api/runs?limit=2&before=${first.json.next}`);
    assert.deepEqual(
      [...first.json.runs, ...second.json.runs].map((r: { id: number }) => r.id),
      all.json.runs.slice(0, 4).map((r: { id: number }) => r.id),
    );
    const cancelled = await get('/api/runs?status=cancelled&account=fbe&stream=offers');
    assert.ok(cancelled.json.runs.length >= 1);
    assert.ok(cancelled.json.runs.every((r: { status: string; account: string }) => r.status === 'cancelled' && r.account === 'fbe'));
    assert.equal((await get('/api/runs/999999')).status, 404);
  });

  it('answers unknown paths with 404 and wrong methods with 405 and Allow', async () => {
    assert.equal((await get('/api/nothing')).status, 404);
    assert.equal((await get('/api/offers/main')).status, 404);
    const wrong = await call(server.url, 'POST', '/api/offers', { body: {} });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, HEAD');
    const del = await call(server.url, 'DELETE', '/api/runs/1/cancel');
    assert.equal(del.status, 405);
    assert.equal(del.headers.allow, 'POST');
  });
});

describe('the page and the Host check', () => {
  it('serves the page with a strict CSP, no framing, no referrer, nosniff', async () => {
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(page.text, /<script>|<script [^>]*>[^<]/, 'no inline script');
    for (const asset of ['/console/app.js', '/console/style.css']) assert.equal((await get(asset)).status, 200, asset);
  });

  it('answers 421 to a foreign Host name, and serves IPs, localhost and the allowed names', async () => {
    const port = new URL(server.url).port;
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io']) {
      const res = await get('/api/status', { host });
      assert.equal(res.status, 421, host);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`, '10.1.2.3', `console.internal:${port}`, 'CONSOLE.INTERNAL']) {
      const res = await get('/health', { host });
      assert.notEqual(res.status, 421, host);
    }
  });
});

describe('EMAG_SYNC_ALLOWED_HOSTS', () => {
  it('is refused at start (exit 78) when an entry is not a host name, naming the variable', () => {
    const base = { EMAG_ACCOUNTS: 'main', EMAG_MAIN_USERNAME: 'u', EMAG_MAIN_PASSWORD: 'p' };
    assert.deepEqual(loadConfig({ ...base, EMAG_SYNC_ALLOWED_HOSTS: 'Console.Internal, emag-sync.example.com' }).allowedHosts, ['console.internal', 'emag-sync.example.com']);
    for (const bad of ['http://evil.example', 'evil.example:8001', 'evil.example/x', 'a b']) {
      assert.throws(
        () => loadConfig({ ...base, EMAG_SYNC_ALLOWED_HOSTS: bad }),
        (err: unknown) => err instanceof ConfigError && err.exitCode === 78 && err.problems.some((p) => p.startsWith('EMAG_SYNC_ALLOWED_HOSTS:')),
        bad,
      );
    }
  });
});

describe('GET /api/events', () => {
  it('sends a status heartbeat with the status document', async () => {
    const client = new EventClient(server.url);
    await client.ready;
    try {
      const beat = await client.waitFor((e) => e.event === 'status', 5000);
      assert.equal(beat.data.service, 'emag-sync');
      assert.deepEqual(
        beat.data.accounts.map((a: { name: string }) => a.name),
        ['main', 'fbe', 'wrong'],
      );
    } finally {
      client.close();
    }
  });

  it('sends alert started and cleared as a stream starts and stops failing', async () => {
    const client = new EventClient(server.url);
    await client.ready;
    try {
      // The first heartbeat is the baseline: alerts already active then are not "started".
      await client.waitFor((e) => e.event === 'status', 5000);
      await db.sql`insert into emag_sync_runs (account, stream, trigger, status, started_at, finished_at, error, error_kind)
        values ('fbe', 'offers', 'schedule', 'failed', now(), now(), 'fbe: product_offer/read: not authorised (HTTP 401)', 'auth')`;
      const started = await client.waitFor((e) => e.event === 'alert' && e.data.type === 'started' && e.data.alert.type === 'auth' && e.data.alert.account === 'fbe', 10_000);
      assert.equal(started.data.alert.severity, 'critical');
      await db.sql`insert into emag_sync_runs (account, stream, trigger, status, started_at, finished_at)
        values ('fbe', 'offers', 'schedule', 'succeeded', now(), now())`;
      await client.waitFor((e) => e.event === 'alert' && e.data.type === 'cleared' && e.data.alert.type === 'auth' && e.data.alert.account === 'fbe', 10_000);
    } finally {
      client.close();
    }
  });

  it('serves 200 clients at once while /health keeps answering', async () => {
    const clients = Array.from({ length: 200 }, () => new EventClient(server.url));
    try {
      await Promise.all(clients.map((c) => c.ready));
      await until('200 clients', async () => metrics.eventClients.get().then((m) => (m.values[0]?.value ?? 0) >= 200));
      const health = await Promise.all(Array.from({ length: 20 }, () => get('/health')));
      assert.ok(health.every((h) => h.status === 200 || h.status === 503));
      runEvents.emit('run', fakeRun(424242, 'started', ''));
      await Promise.all(clients.map((c) => c.waitFor((e) => e.event === 'run' && e.data.run.id === 424242, 10_000)));
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('drops a client that stops reading instead of buffering for it, and keeps serving the others', async () => {
    const dropped = async () => (await metrics.eventClientsDropped.get()).values[0]?.value ?? 0;
    const before = await dropped();
    const reader = new EventClient(server.url);
    await reader.ready;
    const { hostname, port } = new URL(server.url);
    const stalled: Socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    // Read the answer's first bytes, then never again.
    await new Promise<void>((resolve) => stalled.once('data', () => resolve()));
    stalled.pause();
    try {
      const padding = 'x'.repeat(64 * 1024);
      let id = 500_000;
      // Kernel buffers take a few MB first; keep sending until the server gives up on the stalled one.
      await until(
        'the stalled client to be dropped',
        async () => {
          // Slowly enough for the client that reads (in this same process) to keep up.
          for (let i = 0; i < 8; i++) {
            runEvents.emit('run', fakeRun(id++, 'finished', padding));
            await new Promise((r) => setTimeout(r, 2));
          }
          return (await dropped()) > before;
        },
        60_000,
      );
      assert.equal(await dropped(), before + 1, 'only the stalled client was dropped');
      runEvents.emit('run', fakeRun(id, 'finished', ''));
      await reader.waitFor((e) => e.event === 'run' && e.data.run.id === id, 30_000);
    } finally {
      stalled.destroy();
      reader.close();
    }
  });
});

/** A run event as executeRun emits it, for feeding the stream directly. */
/** A status server's context in which this instance owns `main` only, without run events (the shared one adds them). */
function mainOnlyContext() {
  return {
    sql: db.sql,
    config,
    metrics,
    scheduler,
    log: createLogger('silent'),
    startedAt: new Date(),
    version: 'test',
    database: { where: 'test', embedded: false },
    ownedAccounts: () => ['main'],
    alerts,
  };
}

function fakeRun(runId: number, type: RunEvent['type'], error: string): RunEvent {
  return {
    type,
    run: {
      runId,
      account: 'main',
      stream: 'offers',
      mode: 'full',
      trigger: 'manual',
      status: type === 'finished' ? 'failed' : 'running',
      startedAt: new Date(),
      finishedAt: type === 'finished' ? new Date() : null,
      counters: { pages_done: 0, pages_total: null, items_seen: 0, items_inserted: 0, items_updated: 0, items_unchanged: 0, items_deleted: 0, items_failed: 0, items_stale: 0, api_requests: 0, rate_limit_waits: 0 },
      error: error || null,
    },
  };
}

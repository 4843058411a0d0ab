import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { type StatusServer, startStatusServer } from '../src/server/server.ts';
import { STREAMS_SPEC } from '../src/streams/registry.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { Stream } from '../src/config.ts';
import type { TestDatabase } from './helpers/db.ts';
import { harness, sandboxEnv } from './helpers/setup.ts';

let db: TestDatabase;
let deps: SyncDeps;
let sandbox: Sandbox;
let server: StatusServer;
const dir = mkdtempSync(join(tmpdir(), 'emag-export-test-'));

/** Names a CSV writer gets wrong: quotes, commas, line breaks, diacritics, a leading space. */
const NAMES = ['Cană „Ștefan” 330 ml, albă', 'Tricou "Oversize", mărimea XL', 'Două\nrânduri', ' spațiu în față', ''];

harness(
  [
    { offers: 60, orders: 20, orderHistoryDays: 5, rmas: 8 },
    { offers: 25, orders: 5, orderHistoryDays: 5, orderType: 2 },
  ],
  { sharedSkus: 10 },
  async (h) => {
    ({ db, deps, sandbox } = h);
    for (const account of deps.config.accounts) {
      for (const stream of ['offers', 'orders', 'rma'] as Stream[]) {
        const spec = STREAMS_SPEC[stream]!;
        const r = await executeRun(deps, account, stream, spec.fn, { mode: spec.defaultMode, trigger: 'cli' });
        assert.notEqual(r.status, 'failed', `${account.name}/${stream}: ${r.error}`);
      }
    }
    const ids = await db.sql<{ id: string }[]>`select id from emag_offers where account = 'main' order by id limit ${NAMES.length}`;
    for (const [i, { id }] of ids.entries()) {
      await db.sql`update emag_offers set name = ${NAMES[i]}, sale_price = 1234567890.1234, ean = ${['594', 'a,"b"']}::text[] where account = 'main' and id = ${id}`;
    }
    await db.sql`update emag_offers set updated_at = '2020-01-01T00:00:00Z' where account = 'fbe'`;
    await db.sql`insert into emag_commands (account, kind, payload) values ('main', 'stock_update', '{"id": 1, "stock": 3}')`;
    server = await startStatusServer({
      sql: db.sql,
      config: deps.config,
      metrics: new Metrics({ defaultMetrics: false }),
      scheduler: { running: true, nextRun: () => null, activeRuns: () => [] },
      log: createLogger('silent'),
      startedAt: new Date(),
      version: 'test',
      database: { where: 'test', embedded: false },
      ownedAccounts: () => ['main', 'fbe'],
      alerts: new AlertEngine({ sql: db.sql, config: deps.config, log: createLogger('silent') }),
    });
  },
);

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]) {
  const env = { ...process.env, ...sandboxEnv(sandbox, db) };
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'export', ...args], { env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
}

type OfferText = { account: string; id: string; name: string | null; sale_price: string | null; ean: string; raw: string; updated_at: string; deleted_at: string | null; stock: string | null };

/** The mirror's offers with every value as Postgres renders it. */
async function mirrorOffers(where = db.sql`true`): Promise<OfferText[]> {
  return db.sql<OfferText[]>`
    select account, id::text, name, sale_price::text, to_jsonb(ean)::text as ean, raw::text, stock::text,
      to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at,
      to_char(deleted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as deleted_at
    from emag_offers where ${where} order by account, id`;
}

test('offers CSV has exactly the mirror’s rows and parses back with a CSV parser, values exact', async () => {
  const out = join(dir, 'offers.csv');
  const r = cli(['offers', '--output', out]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const text = readFileSync(out, 'utf8');
  // RFC 4180: CRLF after every record, a header first.
  assert.ok(text.endsWith('\r\n'));
  const header = text.slice(0, text.indexOf('\r\n')).split(',');
  const [{ n }] = await db.sql<{ n: string }[]>`select count(*) as n from information_schema.columns where table_name = 'emag_offers' and table_schema = current_schema()`;
  assert.equal(header.length, Number(n), 'every column');
  const rows = parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
  const mirror = await mirrorOffers();
  assert.equal(rows.length, mirror.length);
  assert.equal(rows.length, 85);
  for (const [i, m] of mirror.entries()) {
    const row = rows[i];
    assert.equal(row.account, m.account);
    assert.equal(row.id, m.id);
    assert.equal(row.name, m.name ?? '');
    assert.equal(row.sale_price, m.sale_price ?? '', 'numbers exactly as stored');
    assert.equal(row.stock, m.stock ?? '');
    assert.deepEqual(JSON.parse(row.ean), JSON.parse(m.ean), 'arrays as JSON');
    assert.deepEqual(JSON.parse(row.raw), JSON.parse(m.raw), 'nested values as JSON in one cell');
    assert.equal(row.updated_at, m.updated_at, 'ISO 8601 UTC');
    assert.equal(row.deleted_at, m.deleted_at ?? '');
  }
  for (const name of NAMES) assert.ok(rows.some((row) => row.name === name), `name ${JSON.stringify(name)} comes back`);
  assert.match(rows.find((row) => row.name === NAMES[0])!.sale_price, /^1234567890\.1234$/);
});

test('--account and --since filter; JSON lines are one object per row', async () => {
  const fbe = cli(['offers', '--account', 'fbe', '--format', 'jsonl']);
  assert.equal(fbe.status, 0, fbe.stderr.toString());
  const lines = fbe.stdout.toString('utf8').split('\n');
  assert.equal(lines.pop(), '', 'every line ends with a newline');
  const objects = lines.map((l) => JSON.parse(l));
  assert.equal(objects.length, 25);
  assert.ok(objects.every((o) => o.account === 'fbe' && typeof o.raw === 'object' && Array.isArray(o.ean) && o.updated_at === '2020-01-01T00:00:00.000000Z'));
  const recent = cli(['offers', '--since', '2021-06-01']);
  assert.equal(recent.status, 0);
  const recentRows = parse(recent.stdout.toString('utf8'), { columns: true }) as Record<string, string>[];
  assert.equal(recentRows.length, 60);
  assert.ok(recentRows.every((row) => row.account === 'main'));
  const none = cli(['offers', '--since', '2099-01-01T00:00:00Z', '--format', 'csv']);
  assert.equal(none.stdout.toString('utf8').split('\r\n').length, 2, 'only the header');
});

test('products, orders, order lines, returns and commands export every row', async () => {
  for (const [what, relation] of [
    ['products', 'emag_products'],
    ['orders', 'emag_orders'],
    ['order-lines', 'emag_order_lines'],
    ['rmas', 'emag_rmas'],
    ['commands', 'emag_commands'],
  ]) {
    const r = cli([what, '--format', 'jsonl']);
    assert.equal(r.status, 0, `${what}: ${r.stderr.toString()}`);
    const [{ n }] = await db.sql.unsafe<{ n: string }[]>(`select count(*) as n from ${relation}`);
    assert.ok(Number(n) > 0, `${relation} has rows`);
    const objects = r.stdout.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(objects.length, Number(n), what);
  }
  const lines = cli(['order-lines', '--account', 'fbe']);
  const rows = parse(lines.stdout.toString('utf8'), { columns: true }) as Record<string, string>[];
  const [{ n }] = await db.sql<{ n: string }[]>`select count(*) as n from emag_order_lines where account = 'fbe'`;
  assert.equal(rows.length, Number(n));
  assert.ok(rows.every((row) => JSON.parse(row.raw) && row.account === 'fbe'));
});

test('an unknown account, a malformed date, an unknown export or format are usage errors (exit 64) naming them', () => {
  const account = cli(['offers', '--account', 'nosuch']);
  assert.equal(account.status, 64);
  assert.match(account.stderr.toString(), /unknown account "nosuch"/);
  for (const since of ['2026-13-01', '2026-02-30', 'yesterday', '1']) {
    const r = cli(['offers', '--since', since]);
    assert.equal(r.status, 64, since);
    assert.match(r.stderr.toString(), new RegExp(`--since "${since}" is not a date`));
  }
  const what = cli(['customers']);
  assert.equal(what.status, 64);
  assert.match(what.stderr.toString(), /cannot export "customers"/);
  const format = cli(['offers', '--format', 'xml']);
  assert.equal(format.status, 64);
  assert.match(format.stderr.toString(), /--format must be csv or jsonl/);
});

test('GET /api/export streams the same bytes as the CLI, as an attachment', async () => {
  for (const query of [['offers', ''], ['offers', '?format=jsonl&account=main'], ['order-lines', '?since=2020-01-01']]) {
    const [what, qs] = query;
    const res = await fetch(`${server.url}/api/export/${what}${qs}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`^attachment; filename="emag-${what}.*\\.(csv|jsonl)"$`));
    assert.equal(res.headers.get('content-length'), null, 'streamed, not buffered');
    const body = Buffer.from(await res.arrayBuffer());
    const params = new URLSearchParams(qs);
    const args = [what, ...(params.get('format') ? ['--format', params.get('format')!] : []), ...(params.get('account') ? ['--account', params.get('account')!] : []), ...(params.get('since') ? ['--since', params.get('since')!] : [])];
    const cliOut = cli(args);
    assert.equal(cliOut.status, 0);
    assert.ok(body.length > 1000);
    assert.ok(body.equals(cliOut.stdout), `${what}${qs}: same bytes`);
  }
  assert.match((await fetch(`${server.url}/api/export/offers`)).headers.get('content-type') ?? '', /^text\/csv; charset=utf-8/);
  const head = await fetch(`${server.url}/api/export/commands?format=jsonl`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.match(head.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('GET /api/export refuses bad requests with JSON errors', async () => {
  const cases: Array<[string, number, RegExp, RequestInit?]> = [
    ['/api/export/customers', 404, /no export "customers"/],
    ['/api/export/offers?account=nosuch', 404, /no account named "nosuch"/],
    ['/api/export/offers?since=2026-02-30', 400, /since must be a date/],
    ['/api/export/offers?format=xml', 400, /format must be csv or jsonl/],
    ['/api/export/offers', 405, /POST is not allowed/, { method: 'POST' }],
    ['/api/export/%zz', 400, /malformed URL/],
  ];
  for (const [path, status, message, init] of cases) {
    const res = await fetch(`${server.url}${path}`, init);
    assert.equal(res.status, status, path);
    const body = (await res.json()) as { error: string; message: string };
    assert.match(body.message, message, path);
  }
});

/**
 * The sandbox eMAG API, over real HTTP: auth, envelope, paging, filters, order windows,
 * acknowledge, rate limits and violations, faults, determinism and mutators.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatLocal, parseLocal, startSandbox, windowViolations, type RequestLogEntry, type Sandbox } from '../src/sandbox/server.ts';

const ACCOUNTS = [
  { name: 'main', username: 'main-user', password: 'main-pass', offers: 250, orders: 400, rmas: 20 },
  { name: 'fbe', username: 'fbe-user', password: 'fbe-pass', offers: 60, orders: 40, orderType: 2 as const, rmas: 8 },
  { name: 'blocked', username: 'blocked-user', password: 'x', offers: 5, allowedIp: false },
];
const EPOCH = new Date('2026-03-15T10:00:00Z');

const basic = (user: string, pass: string): string => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
const MAIN = basic('main-user', 'main-pass');
const FBE = basic('fbe-user', 'fbe-pass');

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk loose JSON
  json: any;
}

async function call(sb: Sandbox, route: string, body: unknown = {}, auth: string | null = MAIN, init: RequestInit = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers.authorization = auth;
  const res = await fetch(`${sb.url}/${route}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // HTML and truncated bodies stay text.
  }
  return { status: res.status, headers: res.headers, text, json };
}

let sb: Sandbox;
before(async () => {
  // Limits lifted: functional tests must not wait for rate windows (the limit tests use their own).
  sb = await startSandbox({ accounts: ACCOUNTS, sharedSkus: 20, enforceLimits: false, epoch: EPOCH });
});
after(() => sb.close());

test('unknown users and wrong passwords get 401 with eMAG’s message, logged without an account', async () => {
  for (const auth of [null, basic('main-user', 'nope'), basic('ghost', 'x'), 'Bearer abc']) {
    const r = await call(sb, 'product_offer/read', {}, auth);
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { isError: true, messages: ['You are not allowed to use this API.'], errors: [], results: [] });
  }
  const last = sb.log[sb.log.length - 1];
  assert.equal(last.account, null);
  assert.equal(last.status, 401);
});

test('an account whose IP is not whitelisted gets isError with the invalid-IP message', async () => {
  const r = await call(sb, 'product_offer/read', {}, basic('blocked-user', 'x'));
  assert.equal(r.status, 200);
  assert.equal(r.json.isError, true);
  assert.deepEqual(r.json.messages, ['ERROR: Invalid vendor ip [127.0.0.1]']);
});

test('unknown routes answer 404 and bad JSON 400, both as isError envelopes', async () => {
  const missing = await call(sb, 'product_offer/explode');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.isError, true);
  assert.ok(missing.json.messages.length);
  const bad = await call(sb, 'product_offer/read', '{"currentPage": 1,');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.isError, true);
  const empty = await call(sb, 'vat/read', '');
  assert.equal(empty.json.isError, false);
});

test('offers page by id and count answers totals as strings', async () => {
  const count = await call(sb, 'product_offer/count', { itemsPerPage: 100 });
  assert.deepEqual(count.json.results, { noOfItems: '250', noOfPages: '3', itemsPerPage: 100 });
  const pages: Array<Record<string, unknown>> = [];
  for (let page = 1; page <= 4; page++) {
    const r = await call(sb, 'product_offer/read', { currentPage: page, itemsPerPage: 100 });
    assert.equal(r.json.isError, false);
    pages.push(...r.json.results);
    if (page === 3) assert.equal(r.json.results.length, 50);
    if (page === 4) assert.equal(r.json.results.length, 0);
  }
  assert.deepEqual(pages, sb.account('main').offers);
  const ids = pages.map((o) => o.id as number);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.ok(ids.every((id) => Number.isInteger(id) && id >= 1 && id <= 16_777_215));
  const tooMany = await call(sb, 'product_offer/read', { itemsPerPage: 101 });
  assert.equal(tooMany.json.isError, true);
  assert.match(tooMany.json.messages[0], /100/);
});

test('offers carry eMAG’s field shapes and the shared SKUs match across the first two accounts', async () => {
  const offer = sb.account('main').offers[0];
  assert.match(offer.sale_price as string, /^\d+\.\d{4}$/);
  assert.match(offer.part_number as string, /^SKU-\d{6,}$/);
  assert.match(offer.part_number_key as string, /^[0-9A-Z]{7}BM$/);
  assert.deepEqual(Object.keys((offer.stock as object[])[0]), ['warehouse_id', 'value']);
  assert.equal(typeof offer.offer_validation_status, 'object');
  const all = sb.account('main').offers;
  assert.ok(all.some((o) => typeof o.min_sale_price === 'string') && all.some((o) => typeof o.min_sale_price === 'number'));
  assert.ok(all.some((o) => typeof o.ean === 'string') && all.some((o) => Array.isArray(o.ean)));
  const fbeSkus = new Set(sb.account('fbe').offers.map((o) => o.part_number));
  const shared = all.filter((o) => fbeSkus.has(o.part_number));
  assert.equal(shared.length, 20);
  const pnks = new Set(all.map((o) => o.part_number_key));
  assert.equal(pnks.size, all.length);
});

test('offer filters: status, part_number, part_number_key, id, general_stock', async () => {
  const offers = sb.account('main').offers;
  const target = offers[17];
  const byStatus = await call(sb, 'product_offer/read', { status: 0 });
  assert.deepEqual(
    byStatus.json.results.map((o: { id: number }) => o.id),
    offers.filter((o) => o.status === 0).map((o) => o.id),
  );
  for (const f of [{ part_number: target.part_number }, { part_number_key: target.part_number_key }, { id: target.id }]) {
    const r = await call(sb, 'product_offer/read', f);
    assert.equal(r.json.results.length, 1);
    assert.equal(r.json.results[0].id, target.id);
    // Filtered reads expand the GPSR flags into lists (§2.8).
    assert.ok(Array.isArray(r.json.results[0].manufacturer));
  }
  assert.equal(typeof target.manufacturer, 'boolean');
  const low = await call(sb, 'product_offer/read', { general_stock: 5 });
  assert.ok(low.json.results.every((o: { general_stock: number }) => o.general_stock <= 5));
  assert.equal(low.json.results.length, offers.filter((o) => (o.general_stock as number) <= 5).length);
});

test('order windows: a Before needs its After, and a window may not exceed a month', async () => {
  const noAfter = await call(sb, 'order/read', { modifiedBefore: '2026-03-10 00:00:00' });
  assert.equal(noAfter.json.isError, true);
  assert.match(noAfter.json.messages[0], /modifiedAfter/);
  const tooLong = await call(sb, 'order/read', { createdAfter: '2026-01-01 00:00:00', createdBefore: '2026-02-15 00:00:00' });
  assert.equal(tooLong.json.isError, true);
  assert.match(tooLong.json.messages[0], /1 month/);
  const badDate = await call(sb, 'order/read', { modifiedAfter: '15/03/2026', modifiedBefore: '2026-03-15 00:00:00' });
  assert.equal(badDate.json.isError, true);

  const from = '2026-02-20 00:00:00';
  const to = '2026-03-15 12:00:00';
  const expected = sb
    .account('main')
    .orders.filter((o) => (o.modified as string) >= from && (o.modified as string) <= to)
    .map((o) => o.id);
  assert.ok(expected.length > 0);
  const seen: number[] = [];
  for (let page = 1; ; page++) {
    const r = await call(sb, 'order/read', { modifiedAfter: from, modifiedBefore: to, currentPage: page, itemsPerPage: 100 });
    assert.equal(r.json.isError, false);
    seen.push(...r.json.results.map((o: { id: number }) => o.id));
    if (r.json.results.length < 100) break;
  }
  assert.deepEqual(seen, expected);
  const count = await call(sb, 'order/count', { modifiedAfter: from, modifiedBefore: to });
  assert.equal(count.json.results.noOfItems, String(expected.length));
});

test('generated orders cover every status, vouchers, both payment modes and shared modified seconds', () => {
  const orders = sb.account('main').orders;
  assert.deepEqual([...new Set(orders.map((o) => o.status))].sort(), [0, 1, 2, 3, 4, 5]);
  assert.ok(orders.some((o) => (o.vouchers as unknown[]).length > 0));
  assert.ok(new Set(orders.map((o) => o.payment_mode_id)).size >= 2);
  const perSecond = new Map<unknown, number>();
  for (const o of orders) perSecond.set(o.modified, (perSecond.get(o.modified) ?? 0) + 1);
  assert.ok(Math.max(...perSecond.values()) >= 3);
  const cancelled = orders.find((o) => o.status === 0)!;
  assert.deepEqual(Object.keys(cancelled.reason_cancellation as object), ['id', 'name']);
  const oldest = parseLocal(orders[0].date as string)!;
  assert.ok(EPOCH.getTime() - oldest > 60 * 24 * 3600 * 1000);
});

test('order/read without type returns seller orders only: an FBE account must ask for type 2', async () => {
  const plain = await call(sb, 'order/read', {}, FBE);
  assert.deepEqual(plain.json.results, []);
  const fbe = await call(sb, 'order/read', { type: 2 }, FBE);
  assert.equal(fbe.json.results.length, 40);
  assert.ok(fbe.json.results.every((o: { type: number }) => o.type === 2));
});

test('acknowledge moves 1 → 2 only, bumps modified, and is recorded per call', async () => {
  const main = sb.account('main');
  const [id] = main.addOrders(1, { modified: new Date(Date.now() - 3600_000) });
  const before = main.order(id)!.modified;
  const ack = await call(sb, `order/acknowledge/${id}`);
  assert.equal(ack.json.isError, false);
  const read = await call(sb, 'order/read', { id });
  assert.equal(read.json.results[0].status, 2);
  assert.notEqual(read.json.results[0].modified, before);
  const again = await call(sb, `order/acknowledge/${id}`);
  assert.equal(again.json.isError, true);
  const unknown = await call(sb, 'order/acknowledge/1');
  assert.equal(unknown.json.isError, true);
  assert.deepEqual(main.acknowledgements.slice(-3), [id, id, 1]);
});

test('a burst over 3/s gets 429s without envelope, and the log shows the violation', async () => {
  const limited = await startSandbox({ accounts: [ACCOUNTS[0]], epoch: EPOCH });
  try {
    const answers = await Promise.all(Array.from({ length: 8 }, () => call(limited, 'product_offer/count')));
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(answers.length - refused.length, 3);
    assert.deepEqual(refused[0].json, { message: 'API rate limit exceeded' });
    assert.equal(refused[0].headers.get('x-ratelimit-remaining-3second'), '0');
    assert.ok(refused[0].headers.has('x-ratelimit-limit-3second'));
    // The orders group has its own, larger budget: 12 at once all pass.
    const orders = await Promise.all(Array.from({ length: 12 }, () => call(limited, 'order/count')));
    assert.ok(orders.every((a) => a.status === 200));
    const v = windowViolations(limited.log);
    assert.deepEqual(
      v.map((x) => [x.account, x.group, x.window, x.count]),
      [['main', 'other', '1s', 8]],
    );
  } finally {
    await limited.close();
  }
});

test('windowViolations: crafted bursts are found, paced traffic is clean, 100k entries are quick', () => {
  const entry = (t: number, group: 'orders' | 'other' = 'other', account = 'a'): RequestLogEntry => ({
    t,
    account,
    group,
    method: 'POST',
    path: '/api-3/x/read',
    resource: 'x',
    action: 'read',
    status: 200,
  });
  // Four in (t-1000, t]: a violation. Three, then the fourth exactly 1000 ms after the first: none.
  assert.equal(windowViolations([0, 100, 200, 999].map((t) => entry(t))).length, 1);
  assert.equal(windowViolations([0, 100, 200, 1000].map((t) => entry(t))).length, 0);
  assert.equal(windowViolations([0, 100, 200, 999].map((t) => entry(t, 'orders'))).length, 0);
  // At eMAG's limits 3/s already caps a minute at 180, so a lower minute limit shows that window.
  const limits = { ordersPerSecond: 12, ordersPerMinute: 720, otherPerSecond: 3, otherPerMinute: 50 };
  const minute = windowViolations(
    Array.from({ length: 51 }, (_, i) => entry(i * 500)),
    limits,
  );
  assert.deepEqual(
    minute.map((x) => x.window),
    ['60s'],
  );
  const paced = Array.from({ length: 100_000 }, (_, i) => entry(i * 340, i % 2 ? 'other' : 'orders', `acc${i % 4}`));
  const started = performance.now();
  assert.deepEqual(windowViolations(paced), []);
  assert.ok(performance.now() - started < 500);
  assert.equal(windowViolations([entry(0), entry(1, 'other', null as unknown as string)]).length, 0);
});

test('every fault kind answers as specified, then normal service resumes', async () => {
  const expectations: Array<[string, (a: Answer) => void]> = [
    ['server_error', (a) => {
      assert.equal(a.status, 500);
      assert.match(a.headers.get('content-type')!, /html/);
    }],
    ['bad_gateway', (a) => {
      assert.equal(a.status, 502);
      assert.match(a.text, /Bad Gateway/);
    }],
    ['rate_limit', (a) => {
      assert.equal(a.status, 429);
      assert.deepEqual(a.json, { message: 'API rate limit exceeded' });
    }],
    ['malformed_json', (a) => {
      assert.equal(a.status, 200);
      assert.equal(a.json, null);
    }],
    ['html', (a) => {
      assert.equal(a.status, 200);
      assert.match(a.headers.get('content-type')!, /text\/html/);
    }],
    ['is_error', (a) => {
      assert.equal(a.status, 200);
      assert.equal(a.json.isError, true);
    }],
    ['invalid_ip', (a) => assert.deepEqual(a.json.messages, ['ERROR: Invalid vendor ip [127.0.0.1]'])],
    ['no_envelope', (a) => {
      assert.equal(a.status, 200);
      assert.equal(a.json.isError, undefined);
    }],
    ['results_not_list', (a) => {
      assert.equal(a.json.isError, false);
      assert.equal(a.json.results, null);
    }],
    ['same_page', (a) => {
      assert.equal(a.json.isError, false);
      assert.deepEqual(a.json.results.map((r: { id: number }) => r.id), Array.from({ length: 100 }, (_, i) => i + 1));
    }],
  ];
  for (const [kind, check] of expectations) {
    sb.fault({ kind: kind as never, account: 'main', resource: 'vat' });
    // A request that does not match the fault is served normally.
    assert.equal((await call(sb, 'handling_time/read')).json.isError, false);
    const answer = await call(sb, 'vat/read');
    check(answer);
    assert.equal(sb.log[sb.log.length - 1].status, answer.status);
    assert.equal((await call(sb, 'vat/read')).json.isError, false);
  }
  sb.fault({ kind: 'is_error', count: 2 });
  assert.equal((await call(sb, 'vat/read')).json.isError, true);
  assert.equal((await call(sb, 'vat/read', {}, FBE)).json.isError, true);
  assert.equal((await call(sb, 'vat/read')).json.isError, false);
  sb.fault({ kind: 'is_error', count: 5 });
  sb.clearFaults();
  assert.equal((await call(sb, 'vat/read')).json.isError, false);
});

test('a hung request never answers, and close() still returns promptly', async () => {
  const hanging = await startSandbox({ accounts: [ACCOUNTS[0]], epoch: EPOCH, enforceLimits: false });
  hanging.fault({ kind: 'hang' });
  const pending = call(hanging, 'vat/read', {}, MAIN, { signal: AbortSignal.timeout(300) });
  await assert.rejects(pending, /abort|timeout/i);
  assert.equal(hanging.log[0].status, 0);
  hanging.fault({ kind: 'hang' });
  const second = call(hanging, 'vat/read').catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  await hanging.close();
  assert.ok(performance.now() - started < 1000);
  assert.ok((await second) instanceof Error);
});

test('latency delays answers but not the logged arrival time', async () => {
  sb.setLatency(150);
  try {
    const sent = Date.now();
    const started = performance.now();
    await call(sb, 'vat/read');
    assert.ok(performance.now() - started >= 140);
    assert.ok(sb.log[sb.log.length - 1].t - sent < 100);
  } finally {
    sb.setLatency(0);
  }
});

test('the same seed generates identical data; another seed does not', async () => {
  const a = await startSandbox({ accounts: ACCOUNTS, sharedSkus: 20, seed: 7, epoch: EPOCH });
  const b = await startSandbox({ accounts: ACCOUNTS, sharedSkus: 20, seed: 7, epoch: EPOCH });
  const c = await startSandbox({ accounts: ACCOUNTS, sharedSkus: 20, seed: 8, epoch: EPOCH });
  try {
    for (const name of ['main', 'fbe']) {
      assert.deepEqual(a.account(name).offers, b.account(name).offers);
      assert.deepEqual(a.account(name).orders, b.account(name).orders);
      assert.deepEqual(a.account(name).rmas, b.account(name).rmas);
    }
    assert.deepEqual(a.account('main').changePrices(5), b.account('main').changePrices(5));
    assert.notDeepEqual(a.account('main').offers, c.account('main').offers);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('offer mutators show up in later reads, malformed offers are still served', async () => {
  const main = sb.account('main');
  const [changed] = main.changePrices(1);
  const before = (await call(sb, 'product_offer/read', { id: changed })).json.results[0];
  assert.equal(before.sale_price, main.offer(changed)!.sale_price);
  const added = main.addOffers(3);
  const removed = main.removeOffers(2);
  main.setStock(added[0], 0);
  const count = await call(sb, 'product_offer/count');
  assert.equal(count.json.results.noOfItems, String(250 + 3 - 2));
  assert.deepEqual((await call(sb, 'product_offer/read', { id: removed[0] })).json.results, []);
  const fresh = (await call(sb, 'product_offer/read', { id: added[0] })).json.results[0];
  assert.deepEqual(fresh.stock, [{ warehouse_id: 1, value: 0 }]);
  main.addOffers(4, { malformed: true });
  const last = await call(sb, 'product_offer/read', { currentPage: 1, itemsPerPage: 100, status: undefined });
  assert.equal(last.json.isError, false);
  const all = main.offers;
  const odd = all.slice(-4);
  assert.ok(odd.some((o) => o.id === undefined));
  assert.ok(odd.every((o) => o.sale_price === 'abc'));
});

test('order and return mutators show up in later reads', async () => {
  const main = sb.account('main');
  const tie = new Date(Date.now() - 120_000);
  const ids = main.addOrders(3, { modified: tie });
  const window = { modifiedAfter: formatLocal(tie), modifiedBefore: formatLocal(tie) };
  const read = await call(sb, 'order/read', window);
  assert.deepEqual(
    read.json.results.map((o: { id: number }) => o.id),
    ids,
  );
  main.cancelOrder(ids[0], 2);
  main.setOrderStatus(ids[1], 3);
  const cancelled = (await call(sb, 'order/read', { id: ids[0] })).json.results[0];
  assert.deepEqual(cancelled.reason_cancellation, { id: 2, name: 'Cancelled by the client' });
  assert.equal((await call(sb, 'order/read', { id: ids[1], status: [2, 3] })).json.results.length, 1);

  const [rma] = main.addRmas(1);
  const fresh = await call(sb, 'rma/read', { emag_id: rma });
  assert.equal(fresh.json.results[0].request_status, 2);
  main.advanceRma(rma, 3);
  const moved = await call(sb, 'rma/read', { emag_id: rma, request_status: 3 });
  assert.equal(moved.json.results.length, 1);
  assert.deepEqual(
    moved.json.results[0].status_history.map((h: { request_status: number }) => h.request_status),
    [2, 3],
  );
  assert.throws(() => main.advanceRma(rma, 2));
  const rmaCount = await call(sb, 'rma/count', { date_start: formatLocal(Date.now() - 3600_000) });
  assert.equal(rmaCount.json.results.noOfItems, '1');
  assert.equal((await call(sb, 'rma/read', {}, FBE)).json.results.length, 0);
  assert.equal((await call(sb, 'rma/read', { type: 2 }, FBE)).json.results.length, 8);
});

test('reference data and control endpoints', async () => {
  const vat = await call(sb, 'vat/read');
  assert.ok(vat.json.results.some((v: { is_default: boolean }) => v.is_default));
  assert.ok((await call(sb, 'courier_accounts/read')).json.results[0].account_id);
  assert.ok((await call(sb, 'handling_time/read')).json.results.length);
  const base = sb.url.replace(/\/api-3$/, '');
  const since = Date.now();
  await call(sb, 'vat/read');
  const log = (await (await fetch(`${base}/_sandbox/log?since=${since}`)).json()) as RequestLogEntry[];
  assert.ok(log.length >= 1 && log.every((e: RequestLogEntry) => e.t >= since));
  const mutate = await fetch(`${base}/_sandbox/mutate`, {
    method: 'POST',
    body: JSON.stringify({ account: 'main', action: 'addOrders', n: 2 }),
  });
  const { ids } = (await mutate.json()) as { ids: number[] };
  assert.equal(ids.length, 2);
  assert.ok(sb.account('main').order(ids[0]));
  await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ kind: 'is_error', account: 'main' }) });
  assert.equal((await call(sb, 'vat/read')).json.isError, true);
  // Limits are lifted here and the tests burst, so violations exist; the endpoint must list them.
  const violations = await (await fetch(`${base}/_sandbox/violations`)).json();
  assert.deepEqual(violations, windowViolations(sb.log));
  const logged = sb.log.length;
  await fetch(`${base}/_sandbox/latency`, { method: 'POST', body: JSON.stringify({ ms: 0 }) });
  assert.equal(sb.log.length, logged);
});

test('Bucharest local time round-trips, across DST too', () => {
  assert.equal(formatLocal(new Date('2026-07-01T09:30:05Z')), '2026-07-01 12:30:05');
  assert.equal(formatLocal(new Date('2026-01-15T22:00:00Z')), '2026-01-16 00:00:00');
  for (const iso of ['2026-03-29T00:59:59Z', '2026-03-29T01:00:00Z', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z']) {
    const ms = Date.parse(iso);
    const back = parseLocal(formatLocal(ms))!;
    // The repeated autumn hour resolves to its later occurrence; everything else round-trips.
    assert.ok(back === ms || back === ms + 3600_000, iso);
  }
  assert.equal(parseLocal('2026-07-01 12:30:05'), Date.parse('2026-07-01T09:30:05Z'));
  assert.equal(parseLocal('not a date'), null);
});

/**
 * The sandbox's AWB routes (awb/save with §6.1's validation, awb/read, awb/read_pdf) and its
 * callbacks (new order repeated until acknowledged, cancellation, return, AWB), over real HTTP.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';

const AUTH = `Basic ${Buffer.from('main-user:main-pass').toString('base64')}`;

// biome-ignore lint/suspicious/noExplicitAny: test assertions walk loose JSON
async function call(sb: Sandbox, route: string, body: unknown = {}, method = 'POST'): Promise<{ status: number; type: string; bytes: Buffer; json: any }> {
  const res = await fetch(`${sb.url}/${route}`, {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: method === 'GET' ? undefined : JSON.stringify(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown = null;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {}
  return { status: res.status, type: res.headers.get('content-type') ?? '', bytes, json };
}

/** A callback receiver: records every request's URL and answers 200. */
const received: URL[] = [];
let receiver: Server;
let receiverUrl: string;
let sb: Sandbox;

before(async () => {
  receiver = createServer((req, res) => {
    received.push(new URL(req.url ?? '/', 'http://receiver'));
    res.writeHead(200, { 'content-length': 0 }).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  sb = await startSandbox({
    accounts: [
      { name: 'main', username: 'main-user', password: 'main-pass', offers: 20, orders: 60, orderHistoryDays: 5, rmas: 10 },
      { name: 'fbe', username: 'fbe-user', password: 'fbe-pass', offers: 5, orders: 5, orderType: 2 },
    ],
    enforceLimits: false,
  });
});
after(async () => {
  await sb.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

/** An order of main in the given status. */
function orderIn(status: number): Record<string, unknown> {
  const o = sb.account('main').orders.find((x) => x.status === status);
  assert.ok(o, `the sandbox has an order in status ${status}`);
  return o;
}

/** A valid awb/save body for an order, from the order's own receiver data. */
function awbBody(order: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c = order.customer as Record<string, string>;
  return {
    order_id: order.id,
    sender: { name: 'Sandbox Seller SRL', contact: 'Depozit', phone1: '0722000111', locality_id: 8813, street: 'Str. Depozitului nr. 7' },
    receiver: { name: c.shipping_contact, contact: c.shipping_contact, phone1: c.shipping_phone, legal_entity: 0, locality_id: Number(c.shipping_locality_id), street: c.shipping_street },
    envelope_number: 0,
    parcel_number: 1,
    weight: 1.5,
    cod: 0,
    is_oversize: 0,
    ...extra,
  };
}

/** Waits until `check` holds (callbacks arrive asynchronously). */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('awb/save issues an AWB for an order in progress, finalizes it, and awb/read finds it by emag_id and reservation_id', async () => {
  const order = orderIn(2);
  const r = await call(sb, 'awb/save', awbBody(order, { courier_account_id: 1202 }));
  assert.equal(r.status, 200);
  assert.equal(r.json.isError, false, JSON.stringify(r.json.messages));
  const { reservation_id, awb, courier_name } = r.json.results;
  assert.ok(Number.isInteger(reservation_id));
  assert.equal(courier_name, 'Cargus');
  assert.match(awb[0].awb_number, /^2EMG\d+$/);
  assert.equal(sb.account('main').order(order.id as number)?.status, 4, 'the first AWB finalizes the order');

  const byId = await call(sb, 'awb/read', { emag_id: awb[0].emag_id });
  assert.equal(byId.json.isError, false);
  assert.equal(byId.json.results[0].order_id, order.id);
  assert.deepEqual(byId.json.results[0].courier, { courier_account_id: 1202, courier_name: 'Cargus' });
  assert.equal(byId.json.results[0].status.code, 'NEW');
  const byReservation = await call(sb, 'awb/read', { reservation_id });
  assert.equal(byReservation.json.results[0].emag_id, awb[0].emag_id);
  const missing = await call(sb, 'awb/read', { emag_id: 1 });
  assert.equal(missing.json.isError, true);
  const none = await call(sb, 'awb/read', {});
  assert.equal(none.json.isError, true);
});

test('awb/save refuses what §6.1 refuses, naming each problem, and issues nothing', async () => {
  const order = orderIn(3);
  const before = sb.account('main').awbs.length;
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [awbBody(order, { envelope_number: 0, parcel_number: 0 }), /envelope_number and parcel_number cannot both be 0/],
    [awbBody(order, { parcel_number: 1000 }), /parcel_number must be an integer between 0 and 999/],
    [awbBody(order, { envelope_number: -1 }), /envelope_number must be an integer/],
    [awbBody(order, { cod: undefined }), /cod is required/],
    [awbBody(order, { cod: -5 }), /cod must be a number between 0/],
    [awbBody(order, { is_oversize: undefined }), /is_oversize is required/],
    [awbBody(order, { sender: undefined }), /sender is required/],
    [awbBody(order, { sender: { name: 'AB', contact: 'x', phone1: '07220', locality_id: 8813, street: 'Str. X' } }), /sender.name must be a string of 3 to 255.*sender.phone1 must have 8 to 11 digits/s],
    [awbBody(order, { receiver: { name: 'Ana Pop', contact: 'Ana', phone1: '0722000111', locality_id: 999999, street: 'Str. Y 1' } }), /receiver.locality_id: 999999 is not a valid locality/],
    [awbBody(order, { receiver: { name: 'Ana Pop', contact: 'Ana', phone1: '0722000111', locality_id: 8813 } }), /receiver.street is required/],
    [awbBody(order, { courier_account_id: 988 }), /courier account 988 is inactive/],
    [awbBody(order, { courier_account_id: 5 }), /courier_account_id: 5 is not one of your courier accounts/],
    [awbBody(order, { observation: 'x'.repeat(256) }), /observation must be a string of at most 255/],
    [awbBody(order, { saturday_delivery: 2 }), /saturday_delivery can only be 0 or 1/],
    [awbBody(order, { order_id: 1 }), /order 1 does not exist/],
    [awbBody(orderIn(1)), /status 1; an AWB needs an order in progress/],
    [awbBody(orderIn(0)), /status 0; an AWB needs an order in progress/],
  ];
  for (const [body, expected] of cases) {
    const r = await call(sb, 'awb/save', body);
    assert.equal(r.status, 200);
    assert.equal(r.json.isError, true, `refused: ${expected}`);
    assert.match(r.json.messages.join(' '), expected);
  }
  const fbeOrder = sb.account('fbe').orders[0];
  const fbe = await fetch(`${sb.url}/awb/save`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('fbe-user:fbe-pass').toString('base64')}` },
    body: JSON.stringify(awbBody(fbeOrder as Record<string, unknown>)),
  }).then((x) => x.json() as Promise<{ isError: boolean; messages: string[] }>);
  assert.equal(fbe.isError, true);
  assert.match(fbe.messages.join(' '), /fulfilled by eMAG/);
  assert.equal(sb.account('main').awbs.length, before, 'no AWB was issued by a refused save');
});

test('a saved pickup address (address_id) stands for the sender address fields; addresses/read lists it', async () => {
  const addresses = await call(sb, 'addresses/read', {});
  const pickup = addresses.json.results.find((a: { address_type_id: number }) => a.address_type_id === 2);
  assert.ok(pickup);
  const order = orderIn(2);
  const r = await call(sb, 'awb/save', awbBody(order, { sender: { name: 'Sandbox Seller SRL', contact: 'Depozit', phone1: '+40722000111', address_id: pickup.address_id } }));
  assert.equal(r.json.isError, false, JSON.stringify(r.json.messages));
  const bad = await call(sb, 'awb/save', awbBody(orderIn(3), { sender: { name: 'Sandbox Seller SRL', contact: 'Depozit', phone1: '0722000111', address_id: 'nope' } }));
  assert.match(bad.json.messages.join(' '), /address nope is not one of your addresses/);
});

test('awb/read_pdf serves a valid PDF in the asked format, and JSON errors with HTTP 200', async () => {
  const order = orderIn(3);
  const saved = await call(sb, 'awb/save', awbBody(order));
  const emagId = saved.json.results.awb[0].emag_id;
  const a4 = await call(sb, `awb/read_pdf?emag_id=${emagId}&awb_format=A4`, undefined, 'GET');
  assert.equal(a4.status, 200);
  assert.equal(a4.type, 'application/pdf');
  const text = a4.bytes.toString('latin1');
  assert.ok(text.startsWith('%PDF-1.'), 'starts with the PDF header');
  assert.ok(text.trimEnd().endsWith('%%EOF'), 'ends with %%EOF');
  const startxref = Number(/startxref\n(\d+)\n%%EOF/.exec(text)?.[1]);
  assert.equal(text.slice(startxref, startxref + 4), 'xref', 'startxref points at the xref table');
  // Every object offset in the xref table points at that object.
  const offsets = [...text.matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
  for (const [i, o] of offsets.entries()) assert.ok(text.slice(o).startsWith(`${i + 1} 0 obj`), `object ${i + 1} at its offset`);
  assert.match(text, /MediaBox \[0 0 595 842\]/);
  assert.match(text, /AWB 2EMG/);
  const a6 = await call(sb, `awb/read_pdf?emag_id=${emagId}&awb_format=A6`, undefined, 'GET');
  assert.match(a6.bytes.toString('latin1'), /MediaBox \[0 0 298 420\]/);

  const unknown = await call(sb, 'awb/read_pdf?emag_id=12345', undefined, 'GET');
  assert.equal(unknown.status, 200);
  assert.equal(unknown.json.isError, true);
  assert.match(unknown.json.messages[0], /not a valid AWB/);
  const format = await call(sb, `awb/read_pdf?emag_id=${emagId}&awb_format=B5`, undefined, 'GET');
  assert.equal(format.json.isError, true);
  const noId = await call(sb, 'awb/read_pdf', undefined, 'GET');
  assert.equal(noId.json.isError, true);
});

test('callbacks: a new order is called until acknowledged, then no more; cancellations, returns and AWB changes are called once', async () => {
  received.length = 0;
  sb.setCallbacks('main', { url: `${receiverUrl}/callbacks/main?token=abc`, repeatMs: 40 });
  const main = sb.account('main');
  const [id] = main.addOrders(1);
  const forOrder = () => received.filter((u) => u.pathname === '/callbacks/main/order' && u.searchParams.get('order_id') === String(id));
  await until(() => forOrder().length >= 3, 'three calls of the new order');
  assert.equal(forOrder()[0].searchParams.get('token'), 'abc', 'the configured query is kept');
  const ack = await call(sb, `order/acknowledge/${id}`);
  assert.equal(ack.json.isError, false);
  // The scheduled repeat finds the order acknowledged and ends the notification.
  await until(() => sb.pendingCallbacks() === 0, 'the repeats to end');
  const calls = forOrder().length;
  assert.ok(sb.callbacks.filter((c) => c.event === 'order').every((c) => c.status === 200), 'every call was answered 200');
  assert.equal(forOrder().length, calls);

  const again = await call(sb, `order/acknowledge/${id}`);
  assert.equal(again.status, 400);
  assert.deepEqual(again.json.messages, ['Order is already in progress.']);

  main.cancelOrder(id, 2);
  await until(() => received.some((u) => u.pathname === '/callbacks/main/cancellation' && u.searchParams.get('order_id') === String(id)), 'the cancellation call');

  const [rma] = main.addRmas(1);
  await until(() => received.some((u) => u.pathname === '/callbacks/main/return' && u.searchParams.get('emag_id') === String(rma)), 'the new-return call');
  main.advanceRma(rma, 3);
  await until(() => received.filter((u) => u.pathname === '/callbacks/main/return' && u.searchParams.get('emag_id') === String(rma)).length === 2, 'the acknowledged-return call');

  const order = orderIn(2);
  const saved = await call(sb, 'awb/save', awbBody(order));
  const awbId = saved.json.results.awb[0].emag_id;
  const awbCalls = () => received.filter((u) => u.pathname === '/callbacks/main/awb' && u.searchParams.get('emag_id') === String(awbId));
  await until(() => awbCalls().length === 1, 'the AWB-issued call');
  assert.equal(awbCalls()[0].searchParams.get('order_id'), String(order.id));
  main.advanceAwb(awbId, 'DLV');
  await until(() => awbCalls().length === 2, 'the AWB-delivered call');
  const read = await call(sb, 'awb/read', { emag_id: awbId });
  assert.equal(read.json.results[0].status.code, 'DLV');
  await until(() => sb.pendingCallbacks() === 0, 'every call to end');
  sb.setCallbacks('main', null);
});

test('the new-order call repeats while the receiver is down, and the return id parameter is configurable', async () => {
  received.length = 0;
  // A port nobody listens on: every call fails, and eMAG keeps trying.
  sb.setCallbacks('main', { urls: { order: 'http://127.0.0.1:9/down' }, repeatMs: 20 });
  const [id] = sb.account('main').addOrders(1);
  await until(() => sb.callbacks.filter((c) => c.url.includes(`order_id=${id}`)).length >= 2, 'two failed calls');
  assert.ok(sb.callbacks.filter((c) => c.url.includes(`order_id=${id}`)).every((c) => c.status === 0));
  sb.account('main').setOrderStatus(id, 0);
  await until(() => sb.pendingCallbacks() === 0, 'the repeats to end once the order is no longer new');

  sb.setCallbacks('main', { url: `${receiverUrl}/cb`, returnParam: 'rma_id' });
  const [rma] = sb.account('main').addRmas(1);
  await until(() => received.some((u) => u.pathname === '/cb/return' && u.searchParams.get('rma_id') === String(rma)), 'the return call with rma_id');
  sb.setCallbacks('main', null);
});

test('the control endpoint sets and clears callback URLs, refusing bad input', async () => {
  const base = sb.url.replace(/\/api-3$/, '');
  const post = (body: unknown) => fetch(`${base}/_sandbox/callbacks`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal((await post({ account: 'ghost', url: receiverUrl })).status, 404);
  assert.equal((await post({ account: 'main', url: 'not a url' })).status, 400);
  assert.equal((await post({ account: 'main', url: receiverUrl, repeatMs: 1 })).status, 400);
  received.length = 0;
  assert.equal((await post({ account: 'main', url: `${receiverUrl}/ctl`, repeatMs: 50 })).status, 200);
  const [id] = sb.account('main').addOrders(1);
  await until(() => received.some((u) => u.pathname === '/ctl/order' && u.searchParams.get('order_id') === String(id)), 'the call');
  assert.equal((await post({ account: 'main', url: null })).status, 200);
  await call(sb, `order/acknowledge/${id}`);
  await until(() => sb.pendingCallbacks() === 0, 'the repeats to end');
});

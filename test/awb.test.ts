/**
 * AWBs through the outbox (`awb_create`) and `emag-sync awb pdf`, against the sandbox over HTTP:
 * one valid awb/save with the order's receiver and COD, the AWB stored, no second AWB for the same
 * order, invalid payloads never reaching eMAG, targets read from eMAG when not mirrored yet, AWB
 * statuses re-read until delivered, and the label fetched as a PDF.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { callbacksStream } from '../src/streams/callbacks.ts';
import { cashOnDelivery } from '../src/outbox/awb.ts';
import { enqueueCallback } from '../src/db/callbacks.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { commandsStream } from '../src/streams/commands.ts';
import { ordersStream } from '../src/streams/orders.ts';
import { referenceStream } from '../src/streams/reference.ts';
import { executeRun, type SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase } from './helpers/db.ts';
import { harness, sandboxEnv } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let deps: SyncDeps;
const SENDER = { EMAG_MAIN_AWB_SENDER_NAME: 'Sandbox Seller SRL', EMAG_MAIN_AWB_SENDER_PHONE: '0722 000 111' };

harness([{ offers: 20, orders: 80, orderHistoryDays: 3, rmas: 10 }, { offers: 5, orders: 5, orderHistoryDays: 3, orderType: 2 }], { env: SENDER }, async (h) => {
  ({ sandbox, db, deps } = h);
  const main = deps.config.accounts[0];
  for (const [stream, fn] of [['orders', ordersStream()], ['reference', referenceStream()]] as const) {
    const r = await executeRun(deps, main, stream, fn, { mode: 'incremental', trigger: 'cli' });
    assert.notEqual(r.status, 'failed', r.error ?? '');
  }
});

const main = () => deps.config.accounts[0];
const run = (fn: Parameters<typeof executeRun>[3], stream: 'commands' | 'callbacks' = 'commands') => executeRun(deps, main(), stream, fn, { mode: 'incremental', trigger: 'cli' });
async function insert(payload: unknown, kind = 'awb_create'): Promise<number> {
  const [row] = await db.sql<{ id: string }[]>`insert into emag_commands (account, kind, payload) values ('main', ${kind}, ${db.sql.json(payload as never)}) returning id`;
  return Number(row.id);
}
// biome-ignore lint/suspicious/noExplicitAny: test assertions walk loose JSON
const command = async (id: number): Promise<any> => (await db.sql`select status, error, result from emag_commands where id = ${id}`)[0];
// A 429 was refused before eMAG did anything (on a loaded machine the budget's spacing can bunch up
// on arrival); any other answer means eMAG processed the save.
const saves = (from: number) => sandbox.log.slice(from).filter((e) => e.account === 'main' && e.resource === 'awb' && e.action === 'save' && e.status !== 429);
const sandboxOrder = (pred: (o: Record<string, unknown>) => boolean) => {
  const o = sandbox.account('main').orders.find(pred);
  assert.ok(o, 'the sandbox has such an order');
  return o as Record<string, unknown> & { id: number; customer: Record<string, string> };
};

test('awb_create sends one valid awb/save with the order’s receiver and COD, and stores the AWB on the command and in emag_awbs', async () => {
  const order = sandboxOrder((o) => o.status === 2 && o.payment_mode_id === 1);
  const id = await insert({ order_id: order.id, parcels: 1, envelopes: 0, weight: 1.2, observation: 'fragil' });
  const from = sandbox.log.length;
  const r = await run(commandsStream());
  assert.equal(r.status, 'succeeded', r.error ?? '');
  const c = await command(id);
  assert.equal(c.status, 'done', c.error);
  const sent = saves(from);
  assert.equal(sent.length, 1, 'one awb/save');
  assert.equal(sent[0].status, 200);
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk loose JSON
  const body = sent[0].body as Record<string, any>;
  assert.equal(body.order_id, order.id);
  assert.equal(body.parcel_number, 1);
  assert.equal(body.envelope_number, 0);
  assert.equal(body.weight, 1.2);
  assert.equal(body.observation, 'fragil');
  assert.equal(body.cod, cashOnDelivery(order), 'cash on delivery: the order total');
  assert.ok(body.cod > 0);
  assert.equal(body.receiver.name, order.customer.shipping_contact);
  assert.equal(body.receiver.phone1, order.customer.shipping_phone);
  assert.equal(body.receiver.locality_id, Number(order.customer.shipping_locality_id));
  assert.equal(body.receiver.street, order.customer.shipping_street);
  assert.deepEqual(body.sender, { name: 'Sandbox Seller SRL', contact: 'Sandbox Seller SRL', phone1: '0722000111', address_id: '140231' }, 'sender: configured name and phone, the default pickup address');
  const issued = sandbox.account('main').awbs.at(-1)!;
  const number = (issued.awb as Array<{ awb_number: string }>)[0].awb_number;
  assert.deepEqual(c.result, {
    awb_number: number,
    emag_id: issued.emag_id,
    reservation_id: issued.reservation_id,
    courier_account_id: 1071,
    courier_name: 'Sameday',
    cod: body.cod,
  });
  const [row] = await db.sql`select * from emag_awbs where account = 'main' and emag_id = ${Number(issued.emag_id)}`;
  assert.equal(row.awb_number, number);
  assert.equal(Number(row.order_id), order.id);
  assert.equal(Number(row.command_id), id);
  assert.equal(row.status_code, 'NEW');
  assert.equal(row.parcels, 1);
  const [mirrored] = await db.sql`select status from emag_orders where account = 'main' and id = ${order.id}`;
  assert.equal(mirrored.status, 4, 'the order, finalized by its first AWB, was re-read');
});

test('a second identical command does not create a second AWB; "additional": true does', async () => {
  const order = sandboxOrder((o) => o.status === 3);
  const payload = { order_id: order.id, parcels: 2, envelopes: 1, weight: 3, cod: 0, courier_account_id: 1202 };
  const first = await insert(payload);
  const second = await insert(payload);
  const from = sandbox.log.length;
  await run(commandsStream());
  assert.equal(saves(from).length, 1, 'one awb/save for two identical commands');
  const [a, b] = [await command(first), await command(second)];
  assert.equal(a.status, 'done');
  assert.equal(b.status, 'done');
  assert.equal(b.result.emag_id, a.result.emag_id);
  assert.match(b.result.note, /already has an AWB/);
  assert.equal(a.result.courier_name, 'Cargus');

  const third = await insert({ ...payload, additional: true });
  await run(commandsStream());
  assert.equal(saves(from).length, 2);
  const c = await command(third);
  assert.equal(c.status, 'done', c.error);
  assert.notEqual(c.result.emag_id, a.result.emag_id);
  const [{ n }] = await db.sql`select count(*)::int as n from emag_awbs where account = 'main' and order_id = ${order.id}`;
  assert.equal(n, 2);
});

test('invalid awb_create payloads fail with a specific reason and never reach eMAG', async () => {
  const order = sandboxOrder((o) => o.status === 2);
  const cancelled = sandboxOrder((o) => o.status === 0);
  const fbe = sandbox.account('fbe').orders[0].id as number;
  const ok = { order_id: order.id, parcels: 1, envelopes: 0, weight: 1 };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...ok, parcels: 0, envelopes: 0 }, /parcels and envelopes cannot both be 0/],
    [{ ...ok, parcels: 1000 }, /parcels must be a whole number 0\.\.999/],
    [{ ...ok, envelopes: -1 }, /envelopes must be a whole number/],
    [{ ...ok, weight: 0 }, /weight \(kg\) must be a number above 0/],
    [{ ...ok, weight: 'heavy' }, /weight/],
    [{ ...ok, cod: -1 }, /cod must be a number from 0/],
    [{ ...ok, courier_account_id: 988 }, /courier account 988 is inactive/],
    [{ ...ok, courier_account_id: 4242 }, /courier_account_id 4242 is not one of main's courier accounts/],
    [{ ...ok, observation: 'x'.repeat(256) }, /observation must be a string of 0 to 255/],
    [{ ...ok, sender_address_id: 'x'.repeat(22) }, /sender_address_id/],
    [{ ...ok, sender: { phone1: '12' } }, /sender.phone1 must have 8 to 11 digits/],
    [{ ...ok, sender: { street: 'Str. X 1' } }, /sender.locality_id and sender.street go together/],
    [{ ...ok, sender: { colour: 'red' } }, /unknown sender key\(s\): colour/],
    [{ ...ok, additional: 'yes' }, /additional must be true or false/],
    [{ ...ok, size: 'XL' }, /unknown payload key\(s\) for awb_create: size/],
    [{ parcels: 1, envelopes: 0, weight: 1 }, /missing payload key\(s\) for awb_create: order_id/],
    [{ ...ok, order_id: cancelled.id }, /is cancelled \(status 0\)/],
    [{ ...ok, order_id: 1 }, /order 1 is not in the mirror of main, and eMAG does not know it either/],
    [{ ...ok, order_id: fbe }, /not in the mirror of main, and eMAG does not know it either/],
  ];
  const ids = [];
  for (const [payload] of cases) ids.push(await insert(payload));
  const from = sandbox.log.length;
  await run(commandsStream());
  for (const [i, [, pattern]] of cases.entries()) {
    const c = await command(ids[i]);
    assert.equal(c.status, 'failed', `#${i}`);
    assert.match(c.error, pattern, `#${i}: ${c.error}`);
  }
  assert.equal(saves(from).length, 0, 'no awb/save was sent');
});

test('without a configured sender phone the command fails before anything is sent', async () => {
  const order = sandboxOrder((o) => o.status === 3 && !sandbox.account('main').awbs.some((a) => a.order_id === o.id));
  const { syncDeps } = await import('./helpers/setup.ts');
  const { deps: bare } = await syncDeps(sandbox, db, { EMAG_MAIN_AWB_SENDER_PHONE: '' }, deps.budgets);
  const id = await insert({ order_id: order.id, parcels: 1, envelopes: 0, weight: 1 });
  const from = sandbox.log.length;
  await executeRun(bare, bare.config.accounts[0], 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
  const c = await command(id);
  assert.equal(c.status, 'failed');
  assert.match(c.error, /sender has no phone: give sender.phone1 in the payload or set EMAG_MAIN_AWB_SENDER_PHONE/);
  assert.equal(saves(from).length, 0);
});

test('a command whose order or return arrived after the last run is read from eMAG by id first', async () => {
  const [orderId] = sandbox.account('main').addOrders(1, { status: 2 });
  const id = await insert({ order_id: orderId, parcels: 1, envelopes: 0, weight: 0.5, sender: { name: 'Depozit Cluj', contact: 'Ion', phone1: '+40722000999', locality_id: 3358, street: 'Str. Fabricii 12' } });
  const [rma] = sandbox.account('main').addRmas(1);
  const rmaCmd = await insert({ emag_id: rma, request_status: 3 }, 'rma_status');
  const from = sandbox.log.length;
  await run(commandsStream());
  const c = await command(id);
  assert.equal(c.status, 'done', c.error);
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk loose JSON
  const body = saves(from)[0].body as Record<string, any>;
  assert.deepEqual(body.sender, { name: 'Depozit Cluj', contact: 'Ion', phone1: '+40722000999', locality_id: 3358, street: 'Str. Fabricii 12' });
  const r = await command(rmaCmd);
  assert.equal(r.status, 'done', r.error);
  assert.equal(sandbox.account('main').rmas.find((x) => x.emag_id === rma)?.request_status, 3);
});

test('an awb/save whose answer was lost is not sent again: the finalized order tells it went through', async () => {
  const order = sandboxOrder((o) => o.status === 2 && !sandbox.account('main').awbs.some((a) => a.order_id === o.id));
  const { syncDeps } = await import('./helpers/setup.ts');
  const { deps: quick } = await syncDeps(sandbox, db, { ...SENDER, EMAG_API_TIMEOUT: '1' }, deps.budgets);
  const id = await insert({ order_id: order.id, parcels: 1, envelopes: 0, weight: 1 });
  sandbox.fault({ kind: 'lost_response', account: 'main', resource: 'awb', action: 'save' });
  const from = sandbox.log.length;
  await executeRun(quick, quick.config.accounts[0], 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
  const first = await command(id);
  assert.equal(first.status, 'pending');
  assert.match(first.error, /outcome unknown/);
  await db.sql`update emag_commands set not_before = null where id = ${id}`;
  await executeRun(quick, quick.config.accounts[0], 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
  const second = await command(id);
  assert.equal(second.status, 'failed');
  assert.match(second.error, /may have issued the AWB .* its answer was lost/);
  assert.equal(saves(from).length, 1, 'awb/save went out once');
});

test('AWB statuses are re-read until delivered: by the AWB callback, and by the scheduled re-check', async () => {
  const order = sandboxOrder((o) => o.status === 2);
  const id = await insert({ order_id: order.id, parcels: 1, envelopes: 0, weight: 1 });
  await run(commandsStream());
  const { emag_id: awbId } = (await command(id)).result;
  sandbox.account('main').advanceAwb(awbId, 'TRN');
  assert.equal(await enqueueCallback(db.sql, { account: 'main', event: 'awb', targetId: order.id, awbId }, 100), 'queued');
  await run(callbacksStream(), 'callbacks');
  const status = async () => (await db.sql`select status_code, final_at from emag_awbs where emag_id = ${awbId}`)[0];
  assert.equal((await status()).status_code, 'TRN');
  assert.equal((await status()).final_at, null);

  // eMAG's AWB callback is lost; the scheduled run re-reads AWBs whose status is old.
  sandbox.account('main').advanceAwb(awbId, 'DLV');
  await db.sql`update emag_awbs set checked_at = now() - interval '1 hour' where emag_id = ${awbId}`;
  await run(callbacksStream(), 'callbacks');
  assert.equal((await status()).status_code, 'DLV');
  assert.ok((await status()).final_at, 'delivered: final, not read again');
  const from = sandbox.log.length;
  await db.sql`update emag_awbs set checked_at = now() - interval '1 hour' where emag_id = ${awbId}`;
  await run(callbacksStream(), 'callbacks');
  assert.equal(sandbox.log.slice(from).filter((e) => e.resource === 'awb').length, 0);
});

test('`emag-sync awb pdf` fetches the label and it is a PDF; errors exit 1, usage mistakes 64', async () => {
  const [awb] = sandbox.account('main').awbs;
  const dir = mkdtempSync(join(tmpdir(), 'emag-awb-'));
  const file = join(dir, 'label.pdf');
  const env = { PATH: process.env.PATH ?? '', ...sandboxEnv(sandbox, db, SENDER), EMAG_LOG_LEVEL: 'silent' };
  // Asynchronous: the sandbox answering the CLI lives in this process.
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'awb', ...args], { cwd: new URL('..', import.meta.url).pathname, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const ok = await cli('pdf', String(awb.emag_id), '--format', 'A6', '--output', file);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`AWB ${awb.emag_id} \\(A6, \\d+ bytes\\) written to`));
  const pdf = readFileSync(file);
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.match(pdf.toString('latin1'), /MediaBox \[0 0 298 420\][\s\S]*%%EOF\s*$/);
  assert.ok(sandbox.log.some((e) => e.path.endsWith('/awb/read_pdf') && e.method === 'GET' && e.status === 200));

  const unknown = await cli('pdf', '12345', '--output', join(dir, 'x.pdf'));
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /eMAG did not give the label of AWB 12345: .*not a valid AWB/);
  assert.equal((await cli('pdf', String(awb.emag_id), '--format', 'B5')).status, 64);
  assert.equal((await cli('pdf', 'abc')).status, 64);
  assert.equal((await cli('print', '1')).status, 64);
  const help = await cli('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: emag-sync awb pdf <emag_id>/);
});

/**
 * The `awb_create` command: a shipping label for a seller-fulfilled order through `awb/save` (§6.1).
 * The payload says how the parcel is packed; the receiver and the cash on delivery come from the
 * mirrored order, the sender from the payload, the account's configuration and its saved pickup
 * address (`addresses/read`). Everything eMAG would refuse is refused here first, so an invalid
 * command never reaches eMAG. An order that already has an AWB gets no second one unless the payload
 * says `"additional": true`; a send whose answer was lost is never repeated blindly.
 */
import { awbsOfOrder, upsertAwbs } from '../db/awbs.ts';
import type { CommandOutcome, CommandRow } from '../db/commands.ts';
import { markSent } from '../db/commands.ts';
import type { Db } from '../db/connect.ts';
import { orderForShipping } from '../db/orders.ts';
import { courierAccount, courierAccountCount } from '../db/reference.ts';
import { parseAwb, parseAwbSave } from '../emag/awb-record.ts';
import { EmagError } from '../emag/errors.ts';
import { readList } from '../emag/pages.ts';
import { acknowledgeOrder, refreshOrder } from './acknowledge.ts';
import type { OutboxContext } from './context.ts';
import { InvalidCommand, NotMirrored } from './invalid.ts';

/** A sender or receiver as awb/save takes it. */
export interface AwbParty {
  name?: string;
  contact?: string;
  phone1?: string;
  phone2?: string;
  legal_entity?: 0 | 1;
  address_id?: string;
  locality_id?: number;
  street?: string;
  zipcode?: string;
}

/** A validated `awb_create`. */
export interface AwbRequest {
  orderId: number;
  parcels: number;
  envelopes: number;
  weight: number;
  cod: number;
  courierAccountId: number | null;
  senderAddressId: string | null;
  observation: string | null;
  /** What the payload says of the sender (completed from the configuration when sent). */
  sender: AwbParty;
  receiver: AwbParty;
  lockerId: string | null;
  additional: boolean;
  /** The order's status in the mirror when validated. */
  orderStatus: number;
}

const MAX_ID = 4_294_967_295;

/** 8 to 11 digits with an optional leading +, as eMAG prints phones; spaces and dashes dropped. */
export function normalisePhone(v: unknown): string | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const phone = String(v).replace(/[\s().-]/g, '').replace(/^00/, '+');
  return /^\+?\d{8,11}$/.test(phone) ? phone : null;
}

function whole(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidCommand(`${what} must be a whole number ${min}..${max}, not ${JSON.stringify(v)}`);
  return v;
}

function amount(v: unknown, what: string, min: number, max: number, exclusiveMin = false): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (exclusiveMin && n === min) || n > max) {
    throw new InvalidCommand(`${what} must be a number ${exclusiveMin ? 'above' : 'from'} ${min} up to ${max}, not ${JSON.stringify(v)}`);
  }
  return Math.round(n * 1000) / 1000;
}

function text(v: unknown, what: string, min: number, max: number): string {
  if (typeof v !== 'string' || v.trim().length < min || v.length > max) throw new InvalidCommand(`${what} must be a string of ${min} to ${max} characters`);
  return v.trim();
}

/** Money as eMAG sends it: numbers or numeric strings; anything else is 0. */
const money = (v: unknown): number => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
};

/**
 * What the customer pays the courier for an order paid on delivery: its active lines with VAT, the
 * shipping tax (VAT included) and its vouchers (negative, VAT given apart), to the cent.
 */
export function cashOnDelivery(order: Record<string, unknown>): number {
  const lines = Array.isArray(order.products) ? (order.products as Record<string, unknown>[]) : [];
  let total = 0;
  for (const l of lines) {
    if (Number(l.status ?? 1) !== 1) continue;
    total += money(l.sale_price) * money(l.quantity) * (1 + money(l.vat));
  }
  total += money(order.shipping_tax);
  const vouchers = Array.isArray(order.vouchers) ? (order.vouchers as Record<string, unknown>[]) : [];
  for (const v of vouchers) total += money(v.sale_price) + money(v.sale_price_vat);
  return Math.max(0, Math.round(total * 100) / 100);
}

/** The receiver of an order's AWB, from its shipping data; throws InvalidCommand for what is missing. */
function receiverOf(orderId: number, order: Record<string, unknown>): AwbParty {
  const c = (order.customer && typeof order.customer === 'object' ? order.customer : {}) as Record<string, unknown>;
  const name = [c.shipping_contact, c.name, c.billing_name].find((v) => typeof v === 'string' && v.trim().length >= 3) as string | undefined;
  const phone = normalisePhone(c.shipping_phone) ?? normalisePhone(c.phone_1) ?? normalisePhone(c.billing_phone);
  const locality = Number(c.shipping_locality_id);
  const street = typeof c.shipping_street === 'string' ? c.shipping_street.trim() : '';
  const missing = [!name && 'name', !phone && 'phone', !(Number.isInteger(locality) && locality > 0) && 'locality', street.length < 3 && 'street'].filter(Boolean);
  if (missing.length > 0) throw new InvalidCommand(`order ${orderId} has no usable shipping ${missing.join(', ')} for the AWB receiver`);
  return {
    name: name!.trim().slice(0, 255),
    contact: name!.trim().slice(0, 255),
    phone1: phone!,
    legal_entity: Number(c.legal_entity) === 1 ? 1 : 0,
    locality_id: locality,
    street: street.slice(0, 255),
    ...(typeof c.shipping_postal_code === 'string' && c.shipping_postal_code ? { zipcode: c.shipping_postal_code } : {}),
  };
}

/** Validates an `awb_create` payload against §6.1 and the mirrored order; throws InvalidCommand. */
export async function validateAwb(db: Db, account: string, p: Record<string, unknown>): Promise<AwbRequest> {
  const orderId = whole(p.order_id, 'order_id', 1, MAX_ID);
  const parcels = whole(p.parcels, 'parcels', 0, 999);
  const envelopes = whole(p.envelopes, 'envelopes', 0, 9999);
  if (parcels === 0 && envelopes === 0) throw new InvalidCommand('parcels and envelopes cannot both be 0');
  const weight = amount(p.weight, 'weight (kg)', 0, 99_999, true);
  const cod = p.cod === undefined ? null : amount(p.cod, 'cod', 0, 999_999_999);
  const courierAccountId = p.courier_account_id === undefined ? null : whole(p.courier_account_id, 'courier_account_id', 1, MAX_ID);
  let senderAddressId: string | null = null;
  if (p.sender_address_id !== undefined) {
    if ((typeof p.sender_address_id !== 'string' && typeof p.sender_address_id !== 'number') || String(p.sender_address_id).length === 0 || String(p.sender_address_id).length > 21) {
      throw new InvalidCommand('sender_address_id must be an address id of at most 21 characters (addresses/read)');
    }
    senderAddressId = String(p.sender_address_id);
  }
  const observation = p.observation === undefined ? null : text(p.observation, 'observation', 0, 255);
  if (p.additional !== undefined && typeof p.additional !== 'boolean') throw new InvalidCommand('additional must be true or false');
  const sender: AwbParty = {};
  if (p.sender !== undefined) {
    if (!p.sender || typeof p.sender !== 'object' || Array.isArray(p.sender)) throw new InvalidCommand('sender must be an object {name, contact, phone1, phone2?, locality_id?, street?, zipcode?}');
    const s = p.sender as Record<string, unknown>;
    const unknown = Object.keys(s).filter((k) => !['name', 'contact', 'phone1', 'phone2', 'locality_id', 'street', 'zipcode'].includes(k));
    if (unknown.length > 0) throw new InvalidCommand(`unknown sender key(s): ${unknown.join(', ')}`);
    if (s.name !== undefined) sender.name = text(s.name, 'sender.name', 3, 255);
    if (s.contact !== undefined) sender.contact = text(s.contact, 'sender.contact', 1, 255);
    for (const k of ['phone1', 'phone2'] as const) {
      if (s[k] === undefined) continue;
      const phone = normalisePhone(s[k]);
      if (!phone) throw new InvalidCommand(`sender.${k} must have 8 to 11 digits (a leading + allowed)`);
      sender[k] = phone;
    }
    if (s.locality_id !== undefined) sender.locality_id = whole(s.locality_id, 'sender.locality_id', 1, MAX_ID);
    if (s.street !== undefined) sender.street = text(s.street, 'sender.street', 3, 255);
    if (s.zipcode !== undefined) sender.zipcode = text(s.zipcode, 'sender.zipcode', 1, 255);
    if ((sender.locality_id === undefined) !== (sender.street === undefined)) throw new InvalidCommand('sender.locality_id and sender.street go together (or neither: the saved pickup address is used)');
  }

  const order = await orderForShipping(db, account, orderId);
  if (!order) throw new NotMirrored('order', orderId, `order ${orderId} is not in the mirror of ${account}`);
  if (order.type !== null && order.type !== 3) throw new InvalidCommand(`order ${orderId} is fulfilled by eMAG (type ${order.type}); only seller-fulfilled orders get AWBs from the seller`);
  if (order.status === 0 || order.status === 5) throw new InvalidCommand(`order ${orderId} is ${order.status === 0 ? 'cancelled' : 'returned'} (status ${order.status}); it cannot be shipped`);
  if (courierAccountId !== null && (await courierAccountCount(db, account)) > 0) {
    const courier = await courierAccount(db, account, courierAccountId);
    if (!courier) throw new InvalidCommand(`courier_account_id ${courierAccountId} is not one of ${account}'s courier accounts (courier_accounts/read)`);
    if (courier.status !== 1) throw new InvalidCommand(`courier account ${courierAccountId} is inactive`);
    if (courier.courier_account_type !== null && ![2, 3].includes(courier.courier_account_type)) throw new InvalidCommand(`courier account ${courierAccountId} does not ship orders (type ${courier.courier_account_type})`);
  }
  const raw = order.raw;
  const receiver = receiverOf(orderId, raw);
  // Cash on delivery: the order's total when the customer pays the courier, else nothing.
  const codDue = order.payment_mode_id === 1 ? cashOnDelivery(raw) : 0;
  const details = (raw.details && typeof raw.details === 'object' && !Array.isArray(raw.details) ? raw.details : {}) as Record<string, unknown>;
  const lockerId = raw.delivery_mode === 'pickup' && typeof details.locker_id === 'string' && details.locker_id.length >= 3 ? details.locker_id : null;
  return {
    orderId,
    parcels,
    envelopes,
    weight,
    cod: cod ?? codDue,
    courierAccountId,
    senderAddressId,
    observation,
    sender,
    receiver,
    lockerId,
    additional: p.additional === true,
    orderStatus: order.status,
  };
}

/** A refusal is final; anything else leaves the outcome unknown. */
function refused(err: unknown): err is EmagError {
  return err instanceof EmagError && (err.kind === 'rejected' || err.kind === 'auth' || err.kind === 'ip_not_whitelisted');
}

/** The account's default pickup address id (addresses/read, type 2), or null. */
async function pickupAddress(ctx: OutboxContext): Promise<string | null> {
  const list = (await readList(ctx.client, 'addresses', {}, ctx.signal)).filter((a): a is Record<string, unknown> => !!a && typeof a === 'object');
  const pickups = list.filter((a) => Number(a.address_type_id) === 2);
  const chosen = pickups.find((a) => a.is_default === true || a.is_default === 1 || a.is_default === '1') ?? pickups[0];
  return chosen?.address_id === undefined || chosen.address_id === null ? null : String(chosen.address_id);
}

/** Issues the AWB of an `awb_create` command. */
export async function sendAwb(ctx: OutboxContext, cmd: CommandRow, v: AwbRequest): Promise<CommandOutcome> {
  const { sql, account, client, signal } = ctx;
  const existing = await awbsOfOrder(sql, account.name, v.orderId);
  if (existing.length > 0 && !v.additional) {
    const first = existing[0];
    return { status: 'done', result: { emag_id: first.emag_id, awb_number: first.awb_number, note: `order ${v.orderId} already has an AWB; add "additional": true for another` } };
  }
  if (cmd.sent_at !== null) {
    // An earlier send's answer was lost (timeout, crash). The first AWB finalizes the order: if it did,
    // the AWB exists and a resend would issue a second label.
    const status = Number((await refreshOrder(ctx, v.orderId))?.status ?? -1);
    if (status === 4 && v.orderStatus !== 4 && existing.length === 0) {
      return { status: 'failed', error: `an earlier awb/save may have issued the AWB (order ${v.orderId} is finalized now) but its answer was lost; check eMAG before inserting another command with "additional": true` };
    }
  }
  // The sender: the payload, then the account's configuration, then the order's vendor name.
  const vendorName = (await orderForShipping(sql, account.name, v.orderId))?.raw.vendor_name;
  const vendor = typeof vendorName === 'string' ? vendorName : null;
  const name = v.sender.name ?? account.awbSender.name ?? vendor;
  const phone = v.sender.phone1 ?? account.awbSender.phone;
  const up = `EMAG_${account.name.toUpperCase()}`;
  if (!name || name.length < 3) return { status: 'failed', error: `invalid command: the sender has no name: give sender.name in the payload or set ${up}_AWB_SENDER_NAME` };
  if (!phone) return { status: 'failed', error: `invalid command: the sender has no phone: give sender.phone1 in the payload or set ${up}_AWB_SENDER_PHONE` };
  const sender: AwbParty = { name, contact: v.sender.contact ?? account.awbSender.contact ?? name, phone1: phone, ...(v.sender.phone2 ? { phone2: v.sender.phone2 } : {}) };
  if (v.sender.locality_id !== undefined && v.sender.street !== undefined && v.senderAddressId === null) {
    Object.assign(sender, { locality_id: v.sender.locality_id, street: v.sender.street, ...(v.sender.zipcode ? { zipcode: v.sender.zipcode } : {}) });
  } else {
    const addressId = v.senderAddressId ?? (await pickupAddress(ctx));
    if (!addressId) return { status: 'failed', error: 'invalid command: the account has no pickup address (addresses/read): give sender.locality_id and sender.street, or sender_address_id' };
    sender.address_id = addressId;
  }
  if (v.orderStatus === 1) {
    // A new order is acknowledged first (1 → 2): eMAG issues AWBs only for orders in progress or later.
    const ack = await acknowledgeOrder(ctx, v.orderId);
    if (ack.state !== 'done') return { status: 'failed', error: `acknowledging order ${v.orderId} first failed: ${ack.state === 'failed' ? ack.error : 'it was cancelled'}` };
  }
  const body = {
    order_id: v.orderId,
    sender,
    receiver: v.receiver,
    ...(v.lockerId ? { locker_id: v.lockerId } : {}),
    is_oversize: 0,
    weight: v.weight,
    envelope_number: v.envelopes,
    parcel_number: v.parcels,
    cod: v.cod,
    ...(v.courierAccountId !== null ? { courier_account_id: v.courierAccountId } : {}),
    ...(v.observation ? { observation: v.observation } : {}),
  };
  await markSent(sql, [cmd.id]);
  let results: unknown;
  try {
    results = (await client.call<unknown>('awb', 'save', body, { idempotent: false, signal })).results;
  } catch (err) {
    if (refused(err)) return { status: 'failed', error: err.messages.length > 0 ? err.messages.join(' ') : err.message };
    if (signal.aborted) throw err;
    return { status: 'pending', error: `outcome unknown (${(err as Error).message}); the order is read before anything is sent again` };
  }
  const issued = parseAwbSave(results);
  if (issued.length === 0) return { status: 'failed', error: `awb/save answered without an AWB number: ${JSON.stringify(results).slice(0, 300)}` };
  await upsertAwbs(
    sql,
    account.name,
    issued.map((a) => ({ ...a, order_id: v.orderId, rma_id: null, parcels: v.parcels, envelopes: v.envelopes, weight: v.weight, cod: v.cod, command_id: cmd.id })),
  );
  // Best effort: the delivery status now, and the order as the first AWB finalized it.
  let readBack: string | null = null;
  try {
    for (const a of issued) {
      const read = await readList(client, 'awb', { emag_id: a.emag_id }, signal);
      if (read.length > 0) await upsertAwbs(sql, account.name, [{ ...parseAwb(read[0]), order_id: v.orderId }]);
    }
    await refreshOrder(ctx, v.orderId);
  } catch (err) {
    if (signal.aborted) throw err;
    readBack = `AWB issued; reading it back failed (${(err as Error).message}); the callbacks stream re-reads it`;
  }
  const a = issued[0];
  return {
    status: 'done',
    result: {
      awb_number: a.awb_number,
      emag_id: a.emag_id,
      reservation_id: a.reservation_id,
      courier_account_id: a.courier_account_id,
      courier_name: a.courier_name,
      cod: v.cod,
      ...(readBack ? { note: readBack } : {}),
    },
  };
}

/**
 * One account's AWBs (shipping labels, §6): `awb/save` with the validation of §6.1 (order or return,
 * sender and receiver fields, envelopes and parcels, COD, courier account), `awb/read` by `emag_id`
 * or `reservation_id`, and `awb/read_pdf` — a real PDF, or a JSON error with HTTP 200 as eMAG does.
 * The first AWB of an order finalizes it (status 4), as §5.2 says.
 */
import type { CallbackEvent } from './callbacks.ts';
import type { OrderBook } from './orders.ts';
import { labelPdf, PAPER } from './pdf.ts';
import { ADDRESSES, COURIER_ACCOUNTS, LOCALITY_IDS } from './reference.ts';
import { fail, filters, ok, raw, type Reply, type RouteInput } from './reply.ts';
import type { Returns } from './returns.ts';
import { formatLocal } from './time.ts';

/** An AWB as `awb/read` serves it. */
export type AwbRecord = Record<string, unknown>;

/** Delivery statuses an AWB moves through; DLV and RTN end it. */
export const AWB_STATUSES: Readonly<Record<string, { name: string; description: string }>> = {
  NEW: { name: 'New', description: 'AWB issued' },
  PKP: { name: 'Picked up', description: 'Parcel picked up by the courier' },
  TRN: { name: 'In transit', description: 'Parcel in transit' },
  DLV: { name: 'Delivered', description: 'AWB delivered' },
  RTN: { name: 'Returned', description: 'Parcel returned to the sender' },
};

const MAX_ID = 4_294_967_295;
const FLAGS = ['is_oversize', 'pickup_and_return', 'saturday_delivery', 'sameday_delivery', 'dropoff_locker', 'unboxing'] as const;

/** AWBs and their routes for one account. */
export class Awbs {
  readonly #byId = new Map<number, AwbRecord>();
  readonly #orders: OrderBook;
  readonly #returns: Returns;
  readonly #now: () => number;
  readonly #notify: (event: CallbackEvent, params: Record<string, number>) => void;
  #nextId: number;
  #nextReservation: number;
  /** Bodies of every accepted `awb/save`, in order. */
  readonly saved: Record<string, unknown>[] = [];

  /** AWBs of `orders`/`returns`; `notify` sends the account's AWB callback. */
  constructor(account: number, orders: OrderBook, returns: Returns, now: () => number, notify: (event: CallbackEvent, params: Record<string, number>) => void) {
    this.#orders = orders;
    this.#returns = returns;
    this.#now = now;
    this.#notify = notify;
    this.#nextId = 9_700_000 + account * 100_000;
    this.#nextReservation = 4_528_000 + account * 100_000;
  }

  /** Every AWB issued, oldest first (live objects). */
  get awbs(): AwbRecord[] {
    return [...this.#byId.values()];
  }

  /** One AWB by its emag_id. */
  awb(emagId: number): AwbRecord | undefined {
    return this.#byId.get(emagId);
  }

  /** Moves an AWB to a delivery status (the courier's doing) and sends the AWB callback. */
  advance(emagId: number, code: keyof typeof AWB_STATUSES): void {
    const awb = this.#byId.get(emagId);
    if (!awb) throw new Error(`no AWB ${emagId}`);
    awb.status = { code, ...AWB_STATUSES[code] };
    awb.modified = formatLocal(this.#now());
    this.#notify('awb', { order_id: awb.order_id as number, emag_id: emagId });
  }

  /** `awb/save`: one AWB per call, for an order (or a return with `rma_id`). */
  save(input: RouteInput): Reply {
    const b = input.body;
    const body = (Array.isArray(b) ? b[0] : b && typeof b === 'object' && 'data' in b ? (b as { data: unknown }).data : b) as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return fail('Invalid data: an AWB object is required.');
    const errors: string[] = [];
    const orderId = whole(body.order_id, 'order_id', 1, MAX_ID, errors, true);
    const rmaId = whole(body.rma_id, 'rma_id', 1, MAX_ID, errors, false);
    const order = orderId !== null ? this.#orders.order(orderId) : undefined;
    if (orderId !== null && !order) errors.push(`order_id: order ${orderId} does not exist or is not yours.`);
    if (order && order.type !== 3) errors.push(`order_id: order ${orderId} is fulfilled by eMAG; only seller-fulfilled orders get AWBs from the seller.`);
    if (order && rmaId === null && ![2, 3, 4].includes(order.status as number)) {
      errors.push(`order_id: order ${orderId} is in status ${order.status}; an AWB needs an order in progress, prepared or finalized.`);
    }
    if (rmaId !== null && !this.#returns.rmas.some((r) => r.emag_id === rmaId)) errors.push(`rma_id: return request ${rmaId} does not exist or is not yours.`);
    const forReturn = rmaId !== null;
    party(body.sender, 'sender', !forReturn, errors);
    party(body.receiver, 'receiver', forReturn, errors);
    const envelopes = whole(body.envelope_number, 'envelope_number', 0, 9999, errors, true);
    const parcels = whole(body.parcel_number, 'parcel_number', 0, 999, errors, true);
    if (envelopes === 0 && parcels === 0) errors.push('envelope_number and parcel_number cannot both be 0.');
    decimal(body.cod, 'cod', 0, 999_999_999, errors, true);
    decimal(body.insured_value, 'insured_value', 0, 999_999_999, errors, false);
    const weight = decimal(body.weight, 'weight', 0, 99_999, errors, false);
    if (body.is_oversize === undefined) errors.push('is_oversize is required (0 or 1).');
    for (const f of FLAGS) {
      if (body[f] !== undefined && body[f] !== 0 && body[f] !== 1) errors.push(`${f} can only be 0 or 1.`);
    }
    if (forReturn && body.pickup_and_return === 1) errors.push('pickup_and_return must be 0 for an AWB of a return.');
    if (body.observation !== undefined && (typeof body.observation !== 'string' || body.observation.length > 255)) errors.push('observation must be a string of at most 255 characters.');
    if (body.locker_id !== undefined && (typeof body.locker_id !== 'string' || body.locker_id.length < 3 || body.locker_id.length > 255)) errors.push('locker_id must be a string of 3 to 255 characters.');
    if (forReturn) {
      const date = typeof body.date === 'string' ? Date.parse(body.date.replace(' ', 'T')) : Number.NaN;
      if (!Number.isFinite(date)) errors.push('date is required for an AWB of a return (YYYY-mm-dd).');
      else if (formatLocal(date).slice(0, 10) <= formatLocal(this.#now()).slice(0, 10)) errors.push('date must be at least the next day.');
    }
    const courier = this.#courier(body.courier_account_id, forReturn, order?.enforced_vendor_courier_accounts, errors);
    if (errors.length > 0 || orderId === null || !courier) return fail(errors);

    const emagId = this.#nextId++;
    const reservationId = this.#nextReservation++;
    const number = `2EMG${String(emagId).padStart(8, '0')}`;
    const awb: AwbRecord = {
      emag_id: emagId,
      reservation_id: reservationId,
      order_id: orderId,
      rma_id: rmaId,
      type: 3,
      weight: weight ?? 1,
      ...(forReturn ? { awb_type: 2 } : {}),
      awb: [{ emag_id: emagId, awb_number: number, awb_barcode: `${number}001` }],
      status: { code: 'NEW', ...AWB_STATUSES.NEW },
      courier: { courier_account_id: courier.account_id, courier_name: courier.courier_name },
      created: formatLocal(this.#now()),
      modified: formatLocal(this.#now()),
    };
    this.#byId.set(emagId, awb);
    this.saved.push(body);
    if (!forReturn) this.#orders.finalizeByAwb(orderId);
    this.#notify('awb', { order_id: orderId, emag_id: emagId });
    return ok({
      reservation_id: reservationId,
      courier_id: courier.account_id,
      courier_name: courier.courier_name,
      awb: awb.awb,
    });
  }

  /** `awb/read`: by `emag_id` or `reservation_id`. */
  read(input: RouteInput): Reply {
    const f = filters(input);
    const errors: string[] = [];
    const emagId = whole(f.emag_id, 'emag_id', 1, MAX_ID, errors, false);
    const reservationId = whole(f.reservation_id, 'reservation_id', 1, MAX_ID, errors, false);
    if (emagId === null && reservationId === null && errors.length === 0) errors.push('emag_id or reservation_id is required.');
    if (errors.length > 0) return fail(errors);
    const found = [...this.#byId.values()].filter(
      (a) => (emagId === null || a.emag_id === emagId) && (reservationId === null || a.reservation_id === reservationId),
    );
    if (found.length === 0) return fail(`AWB ${emagId ?? reservationId} is not a valid AWB in eMAG database.`);
    return ok(found);
  }

  /** `awb/read_pdf?emag_id=…&awb_format=A4|A5|A6`: the label, or a JSON error with HTTP 200. */
  readPdf(input: RouteInput): Reply {
    const q = input.query;
    const emagId = Number(q.get('emag_id') ?? filters(input).emag_id);
    if (!Number.isInteger(emagId) || emagId < 1 || emagId > MAX_ID) return fail('emag_id is required: an integer between 1 and 4294967295.');
    const format = (q.get('awb_format') ?? 'A4').toUpperCase();
    if (!(format in PAPER)) return fail(`Invalid awb_format ${format}: the possible values are A4, A5, A6 (ZPL through awb/read_zpl).`);
    const awb = this.#byId.get(emagId);
    if (!awb) return fail(`AWB ${emagId} is not a valid AWB in eMAG database. You can read only AWBs issued via API.`);
    const barcode = (awb.awb as Array<{ awb_number: string }>)[0].awb_number;
    const courier = (awb.courier as { courier_name: string }).courier_name;
    const pdf = labelPdf([`AWB ${barcode}`, `Courier: ${courier}`, `Order: ${awb.order_id}`, `Format: ${format}`], format as keyof typeof PAPER);
    return { ...raw(pdf, 200, 'application/pdf'), headers: { 'Content-Disposition': `inline; filename="awb-${emagId}.pdf"` } };
  }

  #courier(raw: unknown, forReturn: boolean, enforced: unknown, errors: string[]) {
    const active = COURIER_ACCOUNTS.filter((c) => c.status === 1 && (c.courier_account_type === 3 || c.courier_account_type === (forReturn ? 1 : 2)));
    // An order may name the courier accounts it must ship with; an empty list means none from the API.
    const allowed = Array.isArray(enforced) ? active.filter((c) => enforced.map(Number).includes(c.account_id)) : active;
    if (raw === undefined || raw === null) {
      if (allowed.length === 0) errors.push('No courier account may be used for this order.');
      return allowed[0] ?? null;
    }
    const id = Number(raw);
    const found = COURIER_ACCOUNTS.find((c) => c.account_id === id);
    if (!Number.isInteger(id) || !found) {
      errors.push(`courier_account_id: ${JSON.stringify(raw)} is not one of your courier accounts.`);
      return null;
    }
    if (!active.includes(found)) {
      errors.push(`courier_account_id: courier account ${id} is inactive or cannot ship ${forReturn ? 'returns' : 'orders'}.`);
      return null;
    }
    if (!allowed.includes(found)) {
      errors.push(`courier_account_id: this order must be shipped with one of the courier accounts ${JSON.stringify(enforced)}.`);
      return null;
    }
    return found;
  }
}

/** Checks a sender/receiver (§6.1); `addressSide` is the side that may name a saved `address_id`. */
function party(raw: unknown, side: 'sender' | 'receiver', addressSide: boolean, errors: string[]): void {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(`${side} is required.`);
    return;
  }
  const p = raw as Record<string, unknown>;
  text(p.name, `${side}.name`, 3, 255, errors, true);
  text(p.contact, `${side}.contact`, 1, 255, errors, true);
  phone(p.phone1, `${side}.phone1`, errors, true);
  phone(p.phone2, `${side}.phone2`, errors, false);
  if (side === 'receiver' && p.legal_entity !== undefined && p.legal_entity !== 0 && p.legal_entity !== 1) errors.push('receiver.legal_entity can only be 0 or 1.');
  const addressId = p.address_id === undefined || p.address_id === null ? null : String(p.address_id);
  if (addressId !== null) {
    if (addressId.length > 21) errors.push(`${side}.address_id must be at most 21 characters.`);
    else if (!addressSide) errors.push(`${side}.address_id can only be sent on the ${side === 'sender' ? 'receiver' : 'sender'}.`);
    else if (!ADDRESSES.some((a) => a.address_id === addressId)) errors.push(`${side}.address_id: address ${addressId} is not one of your addresses.`);
    // A saved address replaces the address fields, so they are not required.
    else return;
  }
  const locality = whole(p.locality_id, `${side}.locality_id`, 1, MAX_ID, errors, true);
  if (locality !== null && !LOCALITY_IDS.has(locality)) errors.push(`${side}.locality_id: ${locality} is not a valid locality.`);
  text(p.street, `${side}.street`, 3, 255, errors, true);
  text(p.zipcode, `${side}.zipcode`, 1, 255, errors, false);
}

function text(v: unknown, what: string, min: number, max: number, errors: string[], required: boolean): void {
  if (v === undefined || v === null) {
    if (required) errors.push(`${what} is required.`);
    return;
  }
  if (typeof v !== 'string' || v.length < min || v.length > max) errors.push(`${what} must be a string of ${min} to ${max} characters.`);
}

function phone(v: unknown, what: string, errors: string[], required: boolean): void {
  if (v === undefined || v === null) {
    if (required) errors.push(`${what} is required.`);
    return;
  }
  if (typeof v !== 'string' || !/^\+?\d{8,11}$/.test(v)) errors.push(`${what} must have 8 to 11 digits (only a leading + is allowed).`);
}

/** An integer in range from a number or numeric string; null when absent (an error when required) or bad. */
function whole(v: unknown, what: string, min: number, max: number, errors: string[], required: boolean): number | null {
  if (v === undefined || v === null || v === '') {
    if (required) errors.push(`${what} is required.`);
    return null;
  }
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    errors.push(`${what} must be an integer between ${min} and ${max}.`);
    return null;
  }
  return n;
}

function decimal(v: unknown, what: string, min: number, max: number, errors: string[], required: boolean): number | null {
  if (v === undefined || v === null || v === '') {
    if (required) errors.push(`${what} is required.`);
    return null;
  }
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    errors.push(`${what} must be a number between ${min} and ${max}.`);
    return null;
  }
  return n;
}

/**
 * Validation of outbox commands before anything is sent: payload shape, known codes, ids that exist
 * in the mirror, and eMAG's status matrices. An invalid command fails with a specific reason and
 * never reaches eMAG.
 */
import type { CommandKind, CommandRow } from '../db/commands.ts';
import { COMMAND_KINDS } from '../db/commands.ts';
import type { Db } from '../db/connect.ts';
import { mirroredPrices } from '../db/offers.ts';
import { mirroredOrder } from '../db/orders.ts';
import { mirroredRmaStatus } from '../db/rmas.ts';
import { ATTACHMENT_TYPES, CANCELLATION_REASONS, orderMoveAllowed, rmaMoveAllowed } from '../emag/rules.ts';
import { type AwbRequest, validateAwb } from './awb.ts';
import { InvalidCommand, NotMirrored } from './invalid.ts';

/** The offer fields an `offer_update` may change (offer/save, API 4.4.9). */
export const OFFER_FIELDS = ['sale_price', 'recommended_price', 'min_sale_price', 'max_sale_price', 'status', 'handling_time', 'vat_id'] as const;
export type OfferField = (typeof OFFER_FIELDS)[number];

/** Payload keys each kind accepts. `expected` carries the values the ERP last saw (conflict checks). */
const KEYS: Record<CommandKind, { required: string[]; optional: string[] }> = {
  stock_update: { required: ['id', 'stock'], optional: ['expected'] },
  offer_update: { required: ['id'], optional: [...OFFER_FIELDS, 'expected'] },
  order_cancel: { required: ['order_id', 'reason'], optional: [] },
  order_status: { required: ['order_id', 'status'], optional: [] },
  invoice_attach: { required: ['order_id', 'url', 'name'], optional: ['type'] },
  rma_status: { required: ['emag_id', 'request_status'], optional: [] },
  awb_create: { required: ['order_id', 'parcels', 'envelopes', 'weight'], optional: ['cod', 'courier_account_id', 'sender_address_id', 'observation', 'sender', 'additional'] },
};

/** A command that passed validation, with what execution needs from the mirror. */
export type ValidCommand =
  | { kind: 'stock_update'; id: number; stock: number; expected: Record<string, unknown> | null }
  | { kind: 'offer_update'; id: number; fields: Partial<Record<OfferField, number>>; expected: Record<string, unknown> | null }
  | { kind: 'order_cancel'; orderId: number; reason: number }
  | { kind: 'order_status'; orderId: number; status: number }
  | { kind: 'invoice_attach'; orderId: number; url: string; name: string; type: number; orderType: number }
  | { kind: 'rma_status'; emagId: number; requestStatus: number }
  | { kind: 'awb_create'; awb: AwbRequest };

export { InvalidCommand, NotMirrored } from './invalid.ts';

function wholeNumber(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidCommand(`${what} must be a whole number ${min}..${max}, not ${JSON.stringify(v)}`);
  }
  return v;
}

function positive(v: unknown, what: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new InvalidCommand(`${what} must be a positive number, not ${JSON.stringify(v)}`);
  return Math.round(n * 10000) / 10000;
}

/** Checks a command's payload and its target in the mirror; throws InvalidCommand with the reason. */
export async function validateCommand(db: Db, cmd: Pick<CommandRow, 'account' | 'kind' | 'payload'>): Promise<ValidCommand> {
  if (!(COMMAND_KINDS as readonly string[]).includes(cmd.kind)) {
    throw new InvalidCommand(`unknown kind "${cmd.kind}" (kinds: ${COMMAND_KINDS.join(', ')})`);
  }
  const kind = cmd.kind as CommandKind;
  const p = cmd.payload as Record<string, unknown>;
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new InvalidCommand('payload must be a JSON object');
  const { required, optional } = KEYS[kind];
  const unknown = Object.keys(p).filter((k) => !required.includes(k) && !optional.includes(k));
  if (unknown.length > 0) throw new InvalidCommand(`unknown payload key(s) for ${kind}: ${unknown.join(', ')} (allowed: ${[...required, ...optional].join(', ')})`);
  const missing = required.filter((k) => p[k] === undefined || p[k] === null);
  if (missing.length > 0) throw new InvalidCommand(`missing payload key(s) for ${kind}: ${missing.join(', ')}`);
  const expected = p.expected === undefined ? null : (p.expected as Record<string, unknown>);
  if (expected !== null && (typeof expected !== 'object' || Array.isArray(expected))) throw new InvalidCommand('expected must be an object of offer fields');

  switch (kind) {
    case 'stock_update': {
      const id = wholeNumber(p.id, 'id', 1, 16_777_215);
      const stock = wholeNumber(p.stock, 'stock', 0, 65_535);
      await offerInMirror(db, cmd.account, id);
      return { kind, id, stock, expected };
    }
    case 'offer_update': {
      const id = wholeNumber(p.id, 'id', 1, 16_777_215);
      const fields: Partial<Record<OfferField, number>> = {};
      for (const f of ['sale_price', 'recommended_price', 'min_sale_price', 'max_sale_price'] as const) {
        if (p[f] !== undefined) fields[f] = positive(p[f], f);
      }
      if (p.status !== undefined) fields.status = wholeNumber(p.status, 'status', 0, 2);
      if (p.handling_time !== undefined) fields.handling_time = wholeNumber(p.handling_time, 'handling_time', 0, 255);
      if (p.vat_id !== undefined) fields.vat_id = wholeNumber(p.vat_id, 'vat_id', 1, 1_000_000);
      if (Object.keys(fields).length === 0) throw new InvalidCommand(`offer_update changes nothing: give at least one of ${OFFER_FIELDS.join(', ')}`);
      const offer = await offerInMirror(db, cmd.account, id);
      const min = fields.min_sale_price ?? offer.min_sale_price;
      const max = fields.max_sale_price ?? offer.max_sale_price;
      const sale = fields.sale_price ?? offer.sale_price;
      if (min !== null && max !== null && min > max) throw new InvalidCommand(`min_sale_price ${min} is above max_sale_price ${max}`);
      if (sale !== null && min !== null && sale < min) throw new InvalidCommand(`sale_price ${sale} is below min_sale_price ${min}`);
      if (sale !== null && max !== null && sale > max) throw new InvalidCommand(`sale_price ${sale} is above max_sale_price ${max}`);
      return { kind, id, fields, expected };
    }
    case 'order_cancel': {
      const orderId = wholeNumber(p.order_id, 'order_id', 1, Number.MAX_SAFE_INTEGER);
      const reason = wholeNumber(p.reason, 'reason', 1, 43);
      if (!CANCELLATION_REASONS.has(reason)) throw new InvalidCommand(`reason ${reason} is not a cancellation reason (1–3, 15–43)`);
      const order = await orderInMirror(db, cmd.account, orderId);
      // A new order is acknowledged first, then cancelled (1 → 2 → 0).
      if (order.status !== 1 && !orderMoveAllowed(order.status, 0)) throw new InvalidCommand(`order ${orderId} cannot be cancelled from status ${order.status}`);
      return { kind, orderId, reason };
    }
    case 'order_status': {
      const orderId = wholeNumber(p.order_id, 'order_id', 1, Number.MAX_SAFE_INTEGER);
      const status = wholeNumber(p.status, 'status', 2, 4);
      const order = await orderInMirror(db, cmd.account, orderId);
      if (!orderMoveAllowed(order.status, status)) throw new InvalidCommand(`order ${orderId} cannot move from status ${order.status} to ${status}`);
      return { kind, orderId, status };
    }
    case 'invoice_attach': {
      const orderId = wholeNumber(p.order_id, 'order_id', 1, Number.MAX_SAFE_INTEGER);
      const url = typeof p.url === 'string' ? p.url : '';
      let parsed: URL | null = null;
      try {
        parsed = new URL(url);
      } catch {}
      if (parsed?.protocol !== 'https:' || !/\.pdf$/i.test(parsed.pathname)) throw new InvalidCommand(`url must be an https URL of a PDF, not ${JSON.stringify(p.url)}`);
      if (typeof p.name !== 'string' || p.name.trim() === '' || p.name.length > 255) throw new InvalidCommand('name must be a non-empty string of at most 255 characters');
      const type = p.type === undefined ? 1 : wholeNumber(p.type, 'type', 1, 11);
      if (!ATTACHMENT_TYPES.has(type)) throw new InvalidCommand(`type ${type} is not an attachment type (${[...ATTACHMENT_TYPES].join(', ')})`);
      // Invoices go on FBE orders too, so any order type is fine here.
      const order = await orderInMirror(db, cmd.account, orderId, false);
      return { kind, orderId, url, name: p.name, type, orderType: order.type ?? 3 };
    }
    case 'rma_status': {
      const emagId = wholeNumber(p.emag_id, 'emag_id', 1, Number.MAX_SAFE_INTEGER);
      const requestStatus = wholeNumber(p.request_status, 'request_status', 1, 7);
      const rma = await mirroredRmaStatus(db, cmd.account, emagId);
      if (!rma) throw new NotMirrored('return', emagId, `return ${emagId} is not in the mirror of ${cmd.account}`);
      if (rma.request_status !== null && !rmaMoveAllowed(rma.request_status, requestStatus)) {
        throw new InvalidCommand(`return ${emagId} cannot move from status ${rma.request_status} to ${requestStatus}`);
      }
      return { kind, emagId, requestStatus };
    }
    case 'awb_create':
      return { kind, awb: await validateAwb(db, cmd.account, p) };
  }
}

async function offerInMirror(db: Db, account: string, id: number) {
  const offer = await mirroredPrices(db, account, id);
  if (!offer) throw new InvalidCommand(`offer ${id} is not in the mirror of ${account}`);
  return offer;
}

async function orderInMirror(db: Db, account: string, id: number, sellerFulfilledOnly = true) {
  const row = await mirroredOrder(db, account, id);
  if (!row) throw new NotMirrored('order', id, `order ${id} is not in the mirror of ${account}`);
  if (sellerFulfilledOnly && row.type !== null && row.type !== 3) throw new InvalidCommand(`order ${id} is fulfilled by eMAG (type ${row.type}); only seller-fulfilled orders can be changed`);
  return row;
}

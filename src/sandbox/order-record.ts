/**
 * Generates order records in the shape `order/read` serves (§5.1): customer, product lines with
 * voucher splits, money as strings or numbers, dates as Bucharest local time, `details` as `[]`
 * when empty, and `reason_cancellation` as an `{id, name}` object on cancelled orders.
 */
import type { Catalog } from './catalog.ts';
import { pnkFor, productContent, skuText } from './offer-record.ts';
import type { Random } from './random.ts';
import { formatLocal } from './time.ts';

/** An order as served. */
export type OrderRecord = Record<string, unknown>;

/** Cancellation reasons by id, as eMAG names them. */
export const CANCELLATION_REASONS: Readonly<Record<number, string>> = {
  1: 'Out of stock',
  2: 'Cancelled by the client',
  3: 'The client can not be contacted',
  15: 'Courier delivery term is too large',
  16: 'Transport tax is too large',
  17: 'Large delivery term until the product arrives in our warehouse',
  18: 'Better offer in another store',
  19: 'Payment order has not been paid',
  20: 'Undelivered order, courier reasons',
  21: 'Others',
  22: 'Order incomplete – automatic cancellation',
  23: 'The customer changed his mind',
  24: 'By customer request',
  25: 'Failed delivery',
  26: 'Late shipment',
  27: 'Irrelevant order',
  28: 'Canceled by SuperAdmin on seller request',
  29: 'Blacklisted customer',
  30: 'No VAT invoice',
  31: 'The eMAG Marketplace partner requested the order cancellation',
  32: 'The delivery estimate is too long',
  33: "The product is no longer available in the partner's stock",
  34: 'Other reasons',
  35: 'The delivery is too expensive',
  36: 'The customer found a better price elsewhere',
  37: 'The customer registered another eMAG order with a similar product',
  38: 'The customer changed his mind, does not need the product',
  39: 'The customer can purchase the product only by installments',
  40: 'Other reasons EIS',
  41: 'Out of stock – instalments',
  42: "No longer in the partner's stock – instalments",
  43: 'The delivery estimate is too long',
};

/** The `reason_cancellation` object eMAG serves for a reason id. */
export function cancellationReason(id: number): { id: number; name: string } {
  return { id, name: CANCELLATION_REASONS[id] ?? 'Others' };
}

const FIRST = ['Andrei', 'Maria', 'Ioana', 'Mihai', 'Elena', 'Alexandru', 'Ștefan', 'Ana', 'Cristina', 'Radu'];
const LAST = ['Popescu', 'Ionescu', 'Popa', 'Dumitru', 'Stan', 'Stoica', 'Gheorghe', 'Matei', 'Ciobanu', 'Rusu'];
const PLACES: ReadonlyArray<[string, string, string]> = [
  ['București', 'Sector 3', '8813'],
  ['Cluj-Napoca', 'Cluj', '3358'],
  ['Iași', 'Iași', '4722'],
  ['Timișoara', 'Timiș', '7441'],
  ['Brașov', 'Brașov', '1507'],
];

/** What the generator needs to know about one order. */
export interface OrderDraft {
  id: number;
  type: 2 | 3;
  status: number;
  created: number;
  modified: number;
  /** First product line id to use; the generator returns how many it used. */
  firstLineId: number;
}

/** Builds a complete order record; returns it with the number of line ids consumed. */
export function orderRecord(seed: number, rng: Random, catalog: Catalog, d: OrderDraft): { record: OrderRecord; lines: number } {
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  const name = `${last} ${first}`;
  const [city, suburb, localityId] = rng.pick(PLACES);
  const street = `Str. ${rng.pick(LAST)} nr. ${rng.int(1, 120)}`;
  const phone = `07${rng.int(20000000, 99999999)}`;
  const legal = rng.chance(0.1);
  const customerId = rng.int(1_000_000, 9_999_999);
  const customer = {
    id: customerId,
    mkt_id: customerId,
    name,
    email: `${rng.int(1e8, 9e8).toString(16)}@marketplace.emag.ro`,
    company: legal ? `${last} Trading SRL` : name,
    gender: rng.pick(['M', 'F']),
    code: legal ? `RO${rng.int(1e6, 4e7)}` : null,
    registration_number: legal ? `J40/${rng.int(100, 9999)}/2015` : null,
    bank: legal ? 'Banca Transilvania' : null,
    iban: legal ? `RO49BTRL${rng.int(1e7, 9e7)}${rng.int(1e7, 9e7)}` : null,
    fax: null,
    legal_entity: legal ? 1 : 0,
    is_vat_payer: legal ? 1 : 0,
    phone_1: phone,
    phone_2: null,
    phone_3: null,
    billing_name: name,
    billing_phone: phone,
    billing_country: 'RO',
    billing_suburb: suburb,
    billing_city: city,
    billing_locality_id: localityId,
    billing_street: street,
    billing_postal_code: String(rng.int(10000, 999999)).padStart(6, '0'),
    shipping_country: 'RO',
    shipping_suburb: suburb,
    shipping_city: city,
    shipping_locality_id: localityId,
    shipping_street: street,
    shipping_postal_code: String(rng.int(10000, 999999)).padStart(6, '0'),
    shipping_contact: name,
    shipping_phone: phone,
    created: formatLocal(d.created),
    modified: formatLocal(d.created),
  };
  // Romania's standard VAT rose from 19 % to 21 % on 2025-08-01.
  const vat = d.created < Date.UTC(2025, 6, 31, 21) ? '0.19' : '0.21';
  const hasVoucher = rng.chance(0.15);
  const voucherId = rng.int(100000, 9999999);
  const lineCount = rng.int(1, 3);
  const products: Record<string, unknown>[] = [];
  let total = 0;
  for (let i = 0; i < lineCount; i++) {
    const slot = catalog.randomSlot(rng);
    const sku = slot ? slot.sku : 90_000_000 + rng.int(1, 999_999);
    const productId = slot ? slot.id : rng.int(1, 16_777_215);
    const price = slot ? slot.salePrice : rng.int(1000, 100000) / 100;
    const quantity = rng.chance(0.8) ? 1 : rng.int(2, 4);
    total += price * quantity;
    const split =
      hasVoucher && i === 0
        ? [
            {
              voucher_id: voucherId,
              value: (-Math.min(price, 40)).toFixed(4),
              vat_value: (-Math.min(price, 40) * Number(vat)).toFixed(4),
              vat,
              offered_by: rng.pick(['eMAG', 'seller']),
              voucher_name: 'Voucher eMAG 40 lei',
            },
          ]
        : [];
    products.push({
      id: d.firstLineId + i,
      product_id: productId,
      mkt_id: productId,
      name: productContent(seed, sku).name,
      status: d.status === 2 && rng.chance(0.05) ? 0 : 1,
      part_number: skuText(sku),
      part_number_key: pnkFor(sku),
      ext_part_number: skuText(sku),
      created: formatLocal(d.created),
      modified: formatLocal(d.created),
      currency: 'RON',
      quantity,
      initial_qty: quantity,
      storno_qty: 0,
      sale_price: price.toFixed(4),
      original_price: price.toFixed(4),
      vat,
      details: '',
      serial_numbers: '',
      recycle_warranties: [],
      product_voucher_split: split,
      attachments: [],
    });
  }
  const paymentMode = rng.chance(0.6) ? 1 : rng.chance(0.9) ? 3 : 2;
  const shipping = rng.chance(0.4) ? 0 : 19.99;
  const gross = Math.round((total * (1 + Number(vat)) + shipping) * 100) / 100;
  const settled = d.status === 4 || d.status === 5;
  const paid = paymentMode === 3 ? d.status !== 1 || rng.chance(0.5) : settled && rng.chance(0.8);
  const pickup = rng.chance(0.25);
  const record: OrderRecord = {
    id: d.id,
    vendor_name: 'Sandbox Seller SRL',
    type: d.type,
    parent_id: null,
    date: formatLocal(d.created),
    modified: formatLocal(d.modified),
    payment_mode: paymentMode === 1 ? 'RAMBURS' : paymentMode === 3 ? 'CARD ONLINE' : 'ORDIN DE PLATA',
    detailed_payment_method: paymentMode === 1 ? 'Ramburs' : paymentMode === 3 ? 'Card online' : 'eCREDIT',
    delivery_mode: pickup ? 'pickup' : 'courier',
    details: pickup
      ? { locker_id: `${rng.int(1e7, 9e7).toString(16)}-dc38-11e8-a7d8-001a4a160153`, locker_name: 'easybox eMAG Showroom', locker_delivery_eligible: 1 }
      : rng.chance(0.5)
        ? []
        : { locker_delivery_eligible: rng.int(0, 1) },
    observation: null,
    status: d.status,
    payment_status: paid ? 1 : 0,
    customer,
    products,
    // The shipping tax arrives as a string on some orders and a number on others.
    shipping_tax: rng.chance(0.5) ? shipping : shipping.toFixed(2),
    shipping_tax_voucher_split: [],
    vouchers: hasVoucher
      ? [
          {
            voucher_id: voucherId,
            modified: formatLocal(d.created),
            created: formatLocal(d.created),
            status: 1,
            sale_price_vat: (-40 * Number(vat)).toFixed(4),
            sale_price: '-40.0000',
            voucher_name: 'Voucher eMAG 40 lei',
            vat,
            issue_date: formatLocal(d.created).slice(0, 10),
          },
        ]
      : [],
    proforms: [],
    attachments: settled && rng.chance(0.5) ? [{ name: 'Factura', url: `https://shop.example.com/invoices/${d.id}.pdf`, type: 1 }] : [],
    cashed_co: paymentMode === 3 && paid ? gross : 0,
    cashed_cod: paymentMode === 1 && paid ? gross : 0,
    cancellation_request: null,
    has_editable_products: d.status === 2 || d.status === 3 ? 1 : 0,
    refunded_amount: d.status === 5 ? String(gross) : '0',
    is_complete: rng.chance(0.95) ? 1 : 0,
    payment_mode_id: paymentMode,
    is_storno: d.status === 4 && rng.chance(0.05),
    enforced_vendor_courier_accounts: null,
  };
  if (d.status === 0) record.reason_cancellation = cancellationReason(rng.pick([2, 1, 23, 24, 3, 19]));
  return { record, lines: lineCount };
}

/**
 * Turns an offer's compact state into the record `product_offer/read` serves, with the field
 * shapes and quirks of the real API: prices as 4-decimal strings next to plain numbers, empty
 * objects as `[]`, `ean` sometimes a bare string, GPSR fields as flags unless filtered by id.
 * Product content (name, brand, EAN, …) derives from the SKU, so a SKU shared by two accounts
 * describes the same product in both.
 */
import { mixSeed, Random } from './random.ts';

/** The mutable state of one offer; everything else is derived from it and the seed. */
export interface OfferSlot {
  /** Seller offer id (1..16,777,215). */
  id: number;
  /** Number behind the SKU (`SKU-000123`) and PNK. */
  sku: number;
  /** Generator index within the account: seeds the offer's own draws. */
  n: number;
  /** 0 inactive, 1 active, 2 end of life. */
  status: number;
  /** Sale price without VAT. */
  salePrice: number;
  /** Stock in warehouse 1. */
  stock: number;
  /** Units reserved by unacknowledged orders (general_stock − estimated_stock). */
  reserved: number;
  /** Handling time in days. */
  handlingTime: number;
  /** VAT rate id (see vat/read). */
  vatId: number;
  /** validation_status value. */
  validation: number;
  /** offer_validation_status value: 1 valid, 2 invalid price. */
  offerValidation: number;
  /** Serve this offer with missing or wrongly typed fields (robustness tests). */
  malformed: boolean;
  /** Prices set by a save; unset, they follow the sale price. */
  recommendedPrice?: number;
  minPrice?: number;
  maxPrice?: number;
  /** In an active campaign: eMAG refuses stock changes (PATCH offer_stock answers 400). */
  campaignLocked?: boolean;
}

/** An offer as served: a loose JSON object, since real records are loose too. */
export type OfferRecord = Record<string, unknown>;

const TYPES: ReadonlyArray<[string, number]> = [
  ['Blender', 1203],
  ['Laptop', 2561],
  ['Mouse wireless', 2755],
  ['Fierbător', 1187],
  ['Aspirator vertical', 1310],
  ['Căști audio', 3091],
  ['Monitor LED', 2744],
  ['Espressor', 1176],
  ['Trotinetă electrică', 5630],
  ['Mașină de spălat rufe', 1034],
];
const BRANDS = ['Samsung', 'Philips', 'Bosch', 'Tefal', 'Xiaomi', 'Lenovo', 'Logitech', 'Braun', 'Arctic', 'Gorenje'];
const COLORS = ['Negru', 'Alb', 'Roșu', 'Argintiu', 'Albastru', 'Gri'];

/** validation_status descriptions, as the doc names them. */
export const VALIDATION: Readonly<Record<number, string>> = {
  0: 'Draft',
  1: 'In MKTP validation',
  2: 'Awaiting Brand validation',
  3: 'Waiting for EAN approval',
  4: 'New documentation validation pending',
  5: 'Rejected Brand',
  6: 'Invalid product - EAN rejected',
  8: 'Documentation rejected',
  9: 'Approved documentation',
  10: 'Blocked',
  11: 'Update awaiting approval',
  12: 'Update rejected',
};

/** The SKU text for a SKU number. */
export function skuText(sku: number): string {
  return 'SKU-' + String(sku).padStart(6, '0');
}

const PNK_SPACE = 36n ** 7n;
// Odd and not a multiple of 3, so it is coprime with 36^7: multiplication is then a bijection
// and distinct SKUs can never share a PNK.
const PNK_MULTIPLIER = 48271n * 7919n;

/** eMAG's product key for a SKU number: 7 base-36 characters plus "BM", like `D5DD9BBBM`. */
export function pnkFor(sku: number): string {
  const scrambled = (BigInt(sku) * PNK_MULTIPLIER + 12345678n) % PNK_SPACE;
  return scrambled.toString(36).toUpperCase().padStart(7, '0') + 'BM';
}

/** A valid EAN-13 (with check digit) derived from a number. */
function ean13(n: number): string {
  const body = ('594' + String(n % 1e9).padStart(9, '0')).slice(0, 12);
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(body[i]) * (i % 2 === 0 ? 1 : 3);
  return body + String((10 - (sum % 10)) % 10);
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/** The static product content of a SKU: the same in every account that sells it. */
export function productContent(seed: number, sku: number): { name: string; brand: string; categoryId: number } {
  const rng = new Random(mixSeed(seed, sku, 0x9e0d));
  const [type, categoryId] = rng.pick(TYPES);
  const brand = rng.pick(BRANDS);
  const model = `${brand.slice(0, 2).toUpperCase()}${rng.int(100, 9999)}`;
  return { name: `${type} ${brand} ${model}, ${rng.pick(COLORS)}`, brand, categoryId };
}

/**
 * Builds the served record. `detailed` is true when the read filtered by id, part_number or
 * part_number_key: only then does eMAG expand `manufacturer`/`eu_representative` from
 * completion flags into lists (§2.8).
 */
export function offerRecord(seed: number, account: number, slot: OfferSlot, detailed: boolean): OfferRecord {
  const product = productContent(seed, slot.sku);
  const p = new Random(mixSeed(seed, slot.sku, 0x9e0e));
  const o = new Random(mixSeed(seed, account, slot.n, 0x0ffe));
  const sku = skuText(slot.sku);
  const eans = [ean13(slot.sku * 7 + 11)];
  if (p.chance(0.15)) eans.push(ean13(slot.sku * 7 + 12));
  const eanAsString = p.chance(0.08);
  const hasManufacturer = p.chance(0.7);
  const hasEuRep = p.chance(0.3);
  const manufacturer = [{ name: `${product.brand} Ltd.`, address: 'Str. Fabricii 1, Cluj-Napoca, Romania', email: 'gpsr@example.com' }];
  const euRep = [{ name: 'EU Rep SRL', address: 'Bd. Unirii 10, București, Romania', email: 'eurep@example.com' }];
  const price = slot.salePrice;
  // Each price field keeps one type per offer, but the types differ between fields and offers.
  const money = (x: number): number | string => (o.chance(0.5) ? round4(x) : round4(x).toFixed(4));
  const recommended = money(slot.recommendedPrice ?? price * 1.15);
  const minPrice = money(slot.minPrice ?? price * 0.8);
  const maxPrice = money(slot.maxPrice ?? price * 1.6);
  const bestPrice = round4(price * (o.chance(0.6) ? 1 : 0.93));
  const numberOfOffers = o.int(1, 6);
  const errors = slot.validation === 8 ? [{ code: 'DOC_IMG', message: 'Imaginea principală nu respectă standardul.' }] : [];
  const record: OfferRecord = {
    id: slot.id,
    vendor_category_id: null,
    part_number: sku,
    part_number_key: pnkFor(slot.sku),
    name: product.name,
    brand: product.brand,
    category_id: product.categoryId,
    description: `<p>${product.name}</p>`,
    url: `https://shop.example.com/p/${sku.toLowerCase()}`,
    warranty: p.pick([12, 24, 36]),
    status: slot.status,
    sale_price: price.toFixed(4),
    recommended_price: recommended,
    min_sale_price: minPrice,
    max_sale_price: maxPrice,
    best_offer_sale_price: bestPrice,
    best_offer_recommended_price: round4(bestPrice * 1.15),
    currency: 'RON',
    stock: [{ warehouse_id: 1, value: slot.stock }],
    handling_time: [{ warehouse_id: 1, value: slot.handlingTime }],
    general_stock: slot.stock,
    estimated_stock: Math.max(0, slot.stock - slot.reserved),
    vat_id: slot.vatId,
    ean: eanAsString ? eans[0] : eans,
    images: [
      { url: `https://s13emagst.akamaized.net/products/${slot.sku}/main.jpg`, display_type: 1 },
      { url: `https://s13emagst.akamaized.net/products/${slot.sku}/2.jpg`, display_type: 2 },
    ],
    characteristics: [
      { id: 6506, value: p.pick(COLORS) },
      { id: 7764, value: String(p.int(1, 5)) + ' kg' },
    ],
    family: p.chance(0.8) ? [] : { id: 295 + (slot.sku % 50), name: `${product.brand} family`, family_type_id: 121 },
    validation_status: [{ value: slot.validation, description: VALIDATION[slot.validation] ?? 'Unknown', errors }],
    translation_validation_status: [{ value: 9, description: VALIDATION[9], errors: [] }],
    offer_validation_status: {
      value: slot.offerValidation,
      description: slot.offerValidation === 1 ? 'Valid' : 'Invalid price',
    },
    number_of_offers: numberOfOffers,
    buy_button_rank: o.int(1, numberOfOffers),
    ownership: p.chance(0.7) ? 1 : 2,
    genius_eligibility: o.chance(0.3) ? 1 : 0,
    genius_eligibility_type: o.pick([1, 2, 3]),
    genius_computed: 0,
    safety_information: p.chance(0.5) ? 'A nu se lăsa la îndemâna copiilor.' : null,
    manufacturer: detailed ? (hasManufacturer ? manufacturer : []) : hasManufacturer,
    eu_representative: detailed ? (hasEuRep ? euRep : []) : hasEuRep,
    green_tax: o.chance(0.3) ? round4(p.int(1, 50) / 10) : 0,
  };
  if (o.chance(0.4)) record.supply_lead_time = o.pick([2, 5, 7, 14]);
  if (slot.malformed) spoil(record, slot.n);
  return record;
}

/** Breaks a record in one of a few ways real integrations have met. */
function spoil(record: OfferRecord, n: number): void {
  record.sale_price = 'abc';
  switch (n % 4) {
    case 0:
      delete record.id;
      break;
    case 1:
      record.ean = Number(String(record.ean).replace(/\D/g, '').slice(0, 13));
      record.stock = null;
      record.general_stock = 'n/a';
      break;
    case 2:
      delete record.id;
      record.part_number = [record.part_number];
      record.offer_validation_status = [record.offer_validation_status];
      record.manufacturer = {};
      break;
    default:
      record.name = null;
      delete record.brand;
      record.status = String(record.status);
      record.validation_status = {};
      record.handling_time = [];
  }
}

/** Draws the initial state of offer number `n` of an account. */
export function newSlot(seed: number, account: number, n: number, id: number, sku: number, malformed: boolean): OfferSlot {
  const r = new Random(mixSeed(seed, account, n, 0x51a7));
  const statusRoll = r.next();
  const validationRoll = r.next();
  return {
    id,
    sku,
    n,
    status: statusRoll < 0.85 ? 1 : statusRoll < 0.95 ? 0 : 2,
    salePrice: round4(r.int(999, 899999) / 100 + r.int(0, 9999) / 1e6),
    stock: r.chance(0.15) ? 0 : r.int(1, 250),
    reserved: r.chance(0.1) ? r.int(1, 3) : 0,
    handlingTime: r.pick([0, 1, 1, 2, 3, 5]),
    vatId: r.chance(0.9) ? 1 : r.pick([2, 3, 4]),
    validation: validationRoll < 0.8 ? 9 : r.pick([1, 3, 4, 8, 11, 12]),
    offerValidation: r.chance(0.95) ? 1 : 2,
    malformed,
  };
}

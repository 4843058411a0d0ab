/**
 * One account's offers: generated state, the mutators tests use between runs, and the
 * product_offer / offer / offer_stock routes. Offers are kept as compact slots sorted by id and
 * expanded to full records only when served, so a 500k-offer catalog stays cheap to hold.
 */
import { isReply, matchesOneOf, readPage, slicePage, countReply } from './paging.ts';
import { newSlot, offerRecord, pnkFor, skuText, type OfferRecord, type OfferSlot } from './offer-record.ts';
import { mixSeed, Random } from './random.ts';
import { RenderedPages } from './rendered-pages.ts';
import { entities, fail, filters, ok, plain, type Reply, type RouteInput } from './reply.ts';

/** The largest offer id eMAG accepts. */
export const MAX_OFFER_ID = 16_777_215;

/** How many entities one save may carry (§1.5). */
const MAX_SAVE = 50;

/** Offer state and behaviour for one account. */
export class Catalog {
  readonly #seed: number;
  readonly #account: number;
  readonly #mutations: Random;
  /** Slots sorted by id. */
  #slots: OfferSlot[] = [];
  readonly #byId = new Map<number, OfferSlot>();
  #nextN = 1;
  #nextId: number;
  readonly #sharedSkus: number;
  /** Set by `prerender`: unfiltered pages served from their rendering while unchanged. */
  #rendered: RenderedPages | null = null;

  /**
   * Generates `count` offers. The first `sharedSkus` use SKU numbers 1..sharedSkus, which the
   * first two accounts both get; the rest use a range of their own per account.
   */
  constructor(seed: number, account: number, count: number, sharedSkus: number) {
    this.#seed = seed;
    this.#account = account;
    this.#sharedSkus = account < 2 ? sharedSkus : 0;
    this.#mutations = new Random(mixSeed(seed, account, 0xca7a));
    this.#nextId = new Random(mixSeed(seed, account, 0x1d)).int(1000, 5000);
    this.#append(count, false);
  }

  /** Every offer as an unfiltered `product_offer/read` serves it, in id order. */
  get offers(): OfferRecord[] {
    return this.#slots.map((s) => this.#record(s, false));
  }

  /** How many offers the account has. */
  get size(): number {
    return this.#slots.length;
  }

  /** One offer as served; `detailed` as when the read filters by id (GPSR lists instead of flags). */
  offer(id: number, detailed = false): OfferRecord | undefined {
    const slot = this.#byId.get(id);
    return slot && this.#record(slot, detailed);
  }

  /** The compact state of an offer, for order generation. */
  slot(id: number): OfferSlot | undefined {
    return this.#byId.get(id);
  }

  /** A random offer (by the given stream), or undefined for an empty catalog. */
  randomSlot(rng: Random): OfferSlot | undefined {
    return this.#slots.length ? this.#slots[rng.int(0, this.#slots.length - 1)] : undefined;
  }

  /** Changes the sale price of `n` random offers by 2–15 % up or down; returns their ids. */
  changePrices(n: number): number[] {
    const picked = this.#pick(n);
    for (const slot of picked) {
      const factor = 1 + (this.#mutations.chance(0.5) ? 1 : -1) * this.#mutations.int(2, 15) / 100;
      slot.salePrice = Math.round(slot.salePrice * factor * 10000) / 10000;
    }
    return picked.map((s) => s.id);
  }

  /** Adds `n` new offers after the highest id; `malformed` ones are served with odd fields. */
  addOffers(n: number, opts: { malformed?: boolean } = {}): number[] {
    return this.#append(n, opts.malformed ?? false).map((s) => s.id);
  }

  /** Removes `n` random offers; returns their ids. */
  removeOffers(n: number, only?: number[]): number[] {
    const ids = new Set(only ?? this.#pick(n).map((s) => s.id));
    this.#slots = this.#slots.filter((s) => !ids.has(s.id));
    for (const id of ids) this.#byId.delete(id);
    return [...ids];
  }

  /** Sets the stock of one offer. */
  setStock(id: number, stock: number): void {
    const slot = this.#byId.get(id);
    if (!slot) throw new Error(`no offer ${id}`);
    slot.stock = stock;
  }

  /** `product_offer/read`. */
  read(input: RouteInput): Reply {
    const f = filters(input);
    const page = readPage(f);
    if (isReply(page)) return page;
    const detailed = f.id !== undefined || f.part_number !== undefined || f.part_number_key !== undefined;
    const slots = slicePage(this.#filter(f), page);
    const render = (list: readonly OfferSlot[]) => list.map((s) => this.#record(s, detailed));
    if (this.#rendered) return this.#rendered.reply(`${page.currentPage}/${page.itemsPerPage}/${detailed}`, slots, render);
    return ok(render(slots));
  }

  /** Renders every page of 100 now and serves pages from their rendering from then on (benchmarks). */
  prerender(): void {
    this.#rendered = new RenderedPages();
    for (let p = 1; (p - 1) * 100 < this.#slots.length; p++) this.read({ body: { currentPage: p, itemsPerPage: 100 }, id: null, method: 'POST', query: new URLSearchParams() });
  }

  /** `product_offer/count`. */
  count(input: RouteInput): Reply {
    const f = filters(input);
    const page = readPage(f);
    if (isReply(page)) return page;
    return countReply(this.#filter(f).length, page);
  }

  /**
   * `product_offer/save` and `offer/save`: updates offer fields of existing ids (only the offer
   * part; product content is not simulated). `product_offer/save` also creates unknown ids.
   */
  save(input: RouteInput, create: boolean): Reply {
    const list = entities(input);
    if (!list) return fail('Invalid data: a list of offers is required.');
    if (list.length > MAX_SAVE) return fail(`Maximum number of entities per request exceeded (${MAX_SAVE}).`);
    // Validate every entity on a copy first: one bad entity refuses the whole request.
    const errors: string[] = [];
    const changes: Array<{ target: OfferSlot | number; draft: OfferSlot; entity: Record<string, unknown> }> = [];
    for (const [i, e] of list.entries()) {
      const id = Number(e.id);
      if (!Number.isInteger(id) || id < 1 || id > MAX_OFFER_ID) {
        errors.push(`Entity ${i}: invalid id.`);
        continue;
      }
      const slot = this.#byId.get(id);
      if (!slot && !create) {
        errors.push(`Entity ${i}: offer ${id} does not exist.`);
        continue;
      }
      const draft = { ...(slot ?? newSlot(this.#seed, this.#account, -1, id, 0, false)) };
      const problem = applyOfferFields(draft, e);
      if (problem) errors.push(`Entity ${i}: ${problem}`);
      else changes.push({ target: slot ?? id, draft, entity: e });
    }
    if (errors.length) return fail(errors);
    for (const { target, draft, entity } of changes) {
      if (typeof target === 'number') applyOfferFields(this.#insert(target), entity);
      else Object.assign(target, draft);
    }
    return ok([]);
  }

  /** `PATCH offer_stock/{id}` with `{"stock": N}`: 204 and no body on success. */
  patchStock(input: RouteInput): Reply {
    const slot = this.#byId.get(Number(input.id));
    if (!slot) return plain({ message: 'This offer does not exist' }, 404);
    const stock = (input.body as { stock?: unknown } | null)?.stock;
    if (!Number.isInteger(stock) || (stock as number) < 0 || (stock as number) > 65535) return plain({ message: 'Invalid content' }, 400);
    if (slot.campaignLocked) {
      return fail(
        [
          'Validation errors in your request',
          `The offer ${slot.id} is included in the active campaign "Black Friday", thus the stock has NOT been changed.`,
        ],
        400,
      );
    }
    slot.stock = stock as number;
    return { status: 204, body: '', contentType: 'text/plain' };
  }

  /** Puts an offer in (or out of) an active campaign, which locks its stock. */
  lockStock(id: number, locked = true): void {
    const slot = this.#byId.get(id);
    if (!slot) throw new Error(`no offer ${id}`);
    slot.campaignLocked = locked;
  }

  #record(slot: OfferSlot, detailed: boolean): OfferRecord {
    return offerRecord(this.#seed, this.#account, slot, detailed);
  }

  #filter(f: Record<string, unknown>): OfferSlot[] {
    const tests: Array<(s: OfferSlot) => boolean> = [];
    if (f.id !== undefined) tests.push((s) => matchesOneOf(s.id, f.id));
    if (f.status !== undefined) tests.push((s) => matchesOneOf(s.status, f.status));
    if (f.part_number !== undefined) tests.push((s) => skuText(s.sku) === String(f.part_number));
    if (f.part_number_key !== undefined) tests.push((s) => pnkFor(s.sku) === String(f.part_number_key));
    if (f.general_stock !== undefined) tests.push((s) => s.stock >= 0 && s.stock <= Number(f.general_stock));
    if (f.estimated_stock !== undefined) {
      tests.push((s) => Math.max(0, s.stock - s.reserved) <= Number(f.estimated_stock));
    }
    if (f.offer_validation_status !== undefined) {
      tests.push((s) => matchesOneOf(s.offerValidation, f.offer_validation_status));
    }
    if (f.validation_status !== undefined) tests.push((s) => matchesOneOf(s.validation, f.validation_status));
    if (!tests.length) return this.#slots;
    return this.#slots.filter((s) => tests.every((t) => t(s)));
  }

  #append(n: number, malformed: boolean): OfferSlot[] {
    const idGaps = new Random(mixSeed(this.#seed, this.#account, this.#nextN, 0x1d));
    const added: OfferSlot[] = [];
    for (let k = 0; k < n; k++) {
      const idx = this.#nextN++;
      const sku = idx <= this.#sharedSkus ? idx : this.#account * 10_000_000 + idx;
      // Gaps between ids, as real catalogs have after deletions.
      const id = this.#nextId;
      this.#nextId += idGaps.int(1, 3);
      if (id > MAX_OFFER_ID) throw new Error('sandbox catalog exhausted the offer id space');
      const slot = newSlot(this.#seed, this.#account, idx, id, sku, malformed);
      this.#slots.push(slot);
      this.#byId.set(id, slot);
      added.push(slot);
    }
    return added;
  }

  /** Creates an offer with a caller-chosen id (product_offer/save of a new id), keeping id order. */
  #insert(id: number): OfferSlot {
    const idx = this.#nextN++;
    const slot = newSlot(this.#seed, this.#account, idx, id, this.#account * 10_000_000 + idx, false);
    let at = this.#slots.length;
    while (at > 0 && this.#slots[at - 1].id > id) at--;
    this.#slots.splice(at, 0, slot);
    this.#byId.set(id, slot);
    if (id >= this.#nextId) this.#nextId = id + 1;
    return slot;
  }

  #pick(n: number): OfferSlot[] {
    return this.#mutations.sample(this.#slots.length, n).map((i) => this.#slots[i]);
  }
}

/** Applies the offer fields of a save entity; returns a problem description or null. */
function applyOfferFields(slot: OfferSlot, e: Record<string, unknown>): string | null {
  if (e.status !== undefined) {
    const status = Number(e.status);
    if (![0, 1, 2].includes(status)) return 'status must be 0, 1 or 2.';
    slot.status = status;
  }
  if (e.sale_price !== undefined) {
    const price = Number(e.sale_price);
    if (!Number.isFinite(price) || price <= 0) return 'sale_price must be a positive decimal.';
    slot.salePrice = Math.round(price * 10000) / 10000;
  }
  for (const [field, key] of [
    ['recommended_price', 'recommendedPrice'],
    ['min_sale_price', 'minPrice'],
    ['max_sale_price', 'maxPrice'],
  ] as const) {
    if (e[field] === undefined) continue;
    const value = Number(e[field]);
    if (!Number.isFinite(value) || value <= 0) return `${field} must be a positive decimal.`;
    slot[key] = Math.round(value * 10000) / 10000;
  }
  if ((slot.minPrice !== undefined && slot.salePrice < slot.minPrice) || (slot.maxPrice !== undefined && slot.salePrice > slot.maxPrice)) {
    return `sale_price ${slot.salePrice} is outside min_sale_price..max_sale_price.`;
  }
  if (e.vat_id !== undefined) slot.vatId = Number(e.vat_id);
  const stock = firstValue(e.stock);
  if (stock !== undefined) {
    if (!Number.isInteger(stock) || stock < 0) return 'stock value must be a non-negative integer.';
    slot.stock = stock;
  }
  const handling = firstValue(e.handling_time);
  if (handling !== undefined) slot.handlingTime = handling;
  return null;
}

/** Reads `[{warehouse_id, value}]` (or a bare number) as the warehouse-1 value. */
function firstValue(x: unknown): number | undefined {
  if (x === undefined || x === null) return undefined;
  if (Array.isArray(x)) return x.length ? Number((x[0] as { value?: unknown })?.value) : undefined;
  return Number(x);
}

/**
 * One account's return requests (RMA, §7): generated history with a status trail, the mutators
 * tests use, and rma/read, rma/count and rma/save with the status permission matrix.
 */
import type { Catalog } from './catalog.ts';
import { productContent } from './offer-record.ts';
import type { Notify, OrderBook } from './orders.ts';
import { countReply, isReply, matchesOneOf, readPage, slicePage } from './paging.ts';
import { mixSeed, Random } from './random.ts';
import { entities, fail, filters, ok, type Reply, type RouteInput } from './reply.ts';
import { formatLocal, parseLocal } from './time.ts';

/** A return request as served. */
export type RmaRecord = Record<string, unknown>;

/** Statuses a request never leaves. */
export const FINAL_RMA_STATUSES: readonly number[] = [4, 5, 7];

/** Allowed moves (§7.2); 1 (incomplete) is the customer's, so the seller cannot move it. */
const MOVES: Readonly<Record<number, readonly number[]>> = {
  1: [1, 2],
  2: [2, 3, 5],
  3: [3, 5, 6],
  4: [4],
  5: [5],
  6: [6, 4, 7],
  7: [7],
};

/** The trail of statuses that leads to each final or current status. */
const TRAILS: Readonly<Record<number, readonly number[]>> = {
  1: [1],
  2: [2],
  3: [2, 3],
  4: [2, 3, 6, 4],
  5: [2, 5],
  6: [2, 3, 6],
  7: [2, 3, 6, 7],
};

/** Statuses eMAG sends the return callback for (§1.6: new, acknowledged, received). */
const NOTIFIED: readonly number[] = [2, 3, 6];

/** Leaf ids of the return-reason tree (reference/rma-return-reasons-ro.tsv). */
const REASONS = [39, 43, 44, 45, 50, 51, 52, 55, 57, 58, 98, 99];

const DAY = 24 * 3600 * 1000;

interface Entry {
  record: RmaRecord;
  created: number;
}

/** RMA generation settings for one account. */
export interface ReturnsSpec {
  seed: number;
  account: number;
  rmas: number;
  historyDays: number;
  type: 2 | 3;
  /** The moment history is dated back from (epoch ms). */
  epoch: number;
}

/** Return requests and their behaviour for one account. */
export class Returns {
  readonly #entries: Entry[] = [];
  readonly #byId = new Map<number, Entry>();
  readonly #rng: Random;
  readonly #spec: ReturnsSpec;
  readonly #catalog: Catalog;
  readonly #orders: OrderBook;
  readonly #now: () => number;
  readonly #notify: Notify;
  #nextId: number;
  #nextLine: number;

  /** Generates `spec.rmas` requests over the history, referencing the account's orders; `notify` sends callbacks. */
  constructor(spec: ReturnsSpec, catalog: Catalog, orders: OrderBook, now: () => number, notify: Notify = () => {}) {
    this.#spec = spec;
    this.#notify = notify;
    this.#catalog = catalog;
    this.#orders = orders;
    this.#now = now;
    this.#rng = new Random(mixSeed(spec.seed, spec.account, 0x4a4a));
    this.#nextId = 2_000_000 + spec.account * 1_000_000 + this.#rng.int(1, 999);
    this.#nextLine = 50_000_000 + spec.account * 1_000_000;
    const start = Math.floor(spec.epoch / 1000) * 1000;
    const times = Array.from({ length: spec.rmas }, () => start - 60_000 - Math.floor(this.#rng.next() * spec.historyDays * DAY)).sort(
      (a, b) => a - b,
    );
    const settled = this.#settledOrders();
    for (const [i, t] of times.entries()) {
      // Every status appears when there are enough requests; the rest are drawn.
      const status = i < 7 && spec.rmas >= 7 ? 7 - i : this.#rng.pick([1, 2, 2, 3, 3, 4, 5, 6, 7, 7, 7]);
      this.#create(Math.floor(t / 1000) * 1000, status, spec.epoch, settled);
    }
  }

  /** Every request as served, in emag_id order (live objects). */
  get rmas(): RmaRecord[] {
    return this.#entries.map((e) => e.record);
  }

  /** Adds `n` new requests (status 2, new) dated now; returns their emag_ids. */
  addRmas(n: number): number[] {
    const at = Math.floor(this.#now() / 1000) * 1000;
    const settled = this.#settledOrders();
    return Array.from({ length: n }, () => {
      const { record } = this.#create(at, 2, at, settled);
      this.#notify('return', { emag_id: record.emag_id as number, order_id: record.order_id as number });
      return record.emag_id as number;
    });
  }

  /** Moves a request to `status` as the customer or eMAG would; throws on a move §7.2 forbids. */
  advanceRma(emagId: number, status: number): void {
    const e = this.#byId.get(emagId);
    if (!e) throw new Error(`no rma ${emagId}`);
    const from = e.record.request_status as number;
    if (!(MOVES[from] ?? []).includes(status)) throw new Error(`rma ${emagId}: ${from} → ${status} is not allowed`);
    this.#setStatus(e, status);
  }

  /** `rma/read`. */
  read(input: RouteInput): Reply {
    const selected = this.#select(input);
    if ('status' in selected) return selected;
    return ok(slicePage(selected.list, selected.page).map((e) => e.record));
  }

  /** `rma/count`. */
  count(input: RouteInput): Reply {
    const selected = this.#select(input);
    if ('status' in selected) return selected;
    return countReply(selected.list.length, selected.page);
  }

  /** `rma/save`: status changes by the seller, checked against the permission matrix. */
  save(input: RouteInput): Reply {
    const list = entities(input);
    if (!list) return fail('Invalid data: a list of return requests is required.');
    const errors: string[] = [];
    for (const r of list) {
      const e = this.#byId.get(Number(r.emag_id));
      if (!e) {
        errors.push(`Return request ${r.emag_id} does not exist.`);
        continue;
      }
      const from = e.record.request_status as number;
      const to = r.request_status === undefined ? from : Number(r.request_status);
      if (!(MOVES[from] ?? []).includes(to)) errors.push(`Return request ${r.emag_id}: status cannot change from ${from} to ${to}.`);
      else if (to !== from) this.#setStatus(e, to);
    }
    return errors.length ? fail(errors) : ok([]);
  }

  #select(input: RouteInput): { list: Entry[]; page: { currentPage: number; itemsPerPage: number } } | Reply {
    const f = filters(input);
    const page = readPage(f);
    if (isReply(page)) return page;
    const bound = (key: string): number | null | string => {
      if (f[key] === undefined) return null;
      const t = typeof f[key] === 'string' ? parseLocal(f[key] as string) : null;
      return t === null ? `Invalid ${key} value. Expected format YYYY-mm-dd HH:ii:ss.` : t;
    };
    const start = bound('date_start');
    const end = bound('date_end');
    if (typeof start === 'string') return fail(start);
    if (typeof end === 'string') return fail(end);
    if (Array.isArray(f.request_status)) return fail('request_status must be a single value.');
    // Like order/read, a missing type means seller-fulfilled requests only.
    const type = f.type ?? 3;
    const list = this.#entries.filter(
      (e) =>
        matchesOneOf(e.record.type, type) &&
        (start === null || e.created >= start) &&
        (end === null || e.created <= end) &&
        (f.request_status === undefined || matchesOneOf(e.record.request_status, f.request_status)) &&
        (f.order_id === undefined || matchesOneOf(e.record.order_id, f.order_id)) &&
        (f.emag_id === undefined || matchesOneOf(e.record.emag_id, f.emag_id)),
    );
    return { list, page };
  }

  #setStatus(e: Entry, status: number): void {
    e.record.request_status = status;
    const history = e.record.status_history as Array<{ request_status: number; date: string }>;
    history.push({ request_status: status, date: formatLocal(this.#now()) });
    if (status === 3 && !(e.record.awbs as unknown[]).length) {
      (e.record.awbs as unknown[]).push({ reservation_id: this.#rng.int(4_000_000, 9_999_999) });
    }
    if (NOTIFIED.includes(status)) this.#notify('return', { emag_id: e.record.emag_id as number, order_id: e.record.order_id as number });
  }

  /** Finalized and returned orders: the ones customers return products from. */
  #settledOrders(): Record<string, unknown>[] {
    return this.#orders.orders.filter((o) => o.status === 4 || o.status === 5);
  }

  /** Creates a request dated `created` whose status trail spreads up to `asOf`. */
  #create(created: number, status: number, asOf: number, orders: Record<string, unknown>[]): Entry {
    const rng = this.#rng;
    const emagId = this.#nextId;
    this.#nextId += rng.int(1, 25);
    const order = orders.length ? rng.pick(orders) : undefined;
    const slot = this.#catalog.randomSlot(rng);
    const reason = rng.pick(REASONS);
    const trail = TRAILS[status];
    const stepMs = Math.max(1000, Math.floor(Math.min(asOf - created, 10 * DAY) / trail.length));
    const line = order ? ((order.products as Record<string, unknown>[])[0] ?? {}) : {};
    const productId = (line.product_id as number | undefined) ?? slot?.id ?? rng.int(1, 16_777_215);
    const record: RmaRecord = {
      emag_id: emagId,
      order_id: (order?.id as number | undefined) ?? rng.int(300_000_000, 399_999_999),
      type: this.#spec.type,
      is_full_fbe: this.#spec.type === 2 ? 1 : 0,
      is_club: 0,
      customer_name: ((order?.customer as { name?: string } | undefined)?.name) ?? 'Popescu Ana',
      customer_company: null,
      customer_phone: `07${rng.int(20000000, 99999999)}`,
      products: [
        {
          id: this.#nextLine++,
          product_emag_id: rng.int(1_000_000, 99_999_999),
          product_id: productId,
          product_name: (line.name as string | undefined) ?? (slot ? productContent(this.#spec.seed, slot.sku).name : 'Produs'),
          quantity: 1,
          return_reason: reason,
          observations: rng.chance(0.3) ? 'Produsul nu pornește.' : null,
          diagnostic: null,
          reject_reason: null,
          refund_value: (line.sale_price as string | undefined) ?? '0.0000',
        },
      ],
      pickup_country: 'RO',
      pickup_suburb: 'Cluj',
      pickup_city: 'Cluj-Napoca',
      pickup_address: `Str. Memorandumului nr. ${rng.int(1, 40)}`,
      pickup_zipcode: '400114',
      pickup_locality_id: 3358,
      pickup_method: rng.pick([1, 1, 2, 3]),
      customer_account_iban: null,
      customer_account_bank: null,
      customer_account_beneficiary: null,
      replacement_product_emag_id: null,
      replacement_product_id: null,
      replacement_product_name: null,
      replacement_product_quantity: null,
      observations: null,
      request_status: status,
      return_type: rng.pick([1, 2, 3, 3, 3, 5]),
      return_reason: reason,
      return_address_id: null,
      return_tax_value: null,
      date: formatLocal(created),
      maximum_finalization_date: formatLocal(created + 14 * DAY),
      awbs: trail.includes(3) ? [{ reservation_id: rng.int(4_000_000, 9_999_999) }] : [],
      status_history: trail.map((s, i) => ({ request_status: s, date: formatLocal(created + i * stepMs) })),
    };
    const e = { record, created };
    this.#entries.push(e);
    this.#byId.set(emagId, e);
    return e;
  }
}

/**
 * One simulated seller account: credentials, its offers, orders and returns, and the mutators
 * tests and the demo use to change data between runs. Data is exposed exactly as it is served.
 */
import { type AWB_STATUSES, type AwbRecord, Awbs } from './awbs.ts';
import type { CallbackNotifier } from './callbacks.ts';
import { Catalog } from './catalog.ts';
import type { OfferRecord } from './offer-record.ts';
import type { OrderRecord } from './order-record.ts';
import { type Notify, OrderBook } from './orders.ts';
import { Returns, type RmaRecord } from './returns.ts';
import type { Clock } from './time.ts';

/** One account to simulate. */
export interface SandboxAccountSpec {
  /** Account name, e.g. 'main' or 'fbe'. */
  name: string;
  /** Basic-auth user. */
  username: string;
  /** Basic-auth password. */
  password: string;
  /** How many offers to generate. */
  offers: number;
  /** How many historical orders to generate. @default 0 */
  orders?: number;
  /** Days of order (and return) history, so some is older than a month. @default 120 */
  orderHistoryDays?: number;
  /** Order type: 2 for an FBE account. @default 3 */
  orderType?: 2 | 3;
  /** How many historical return requests to generate. @default 0 */
  rmas?: number;
  /** False answers every request as eMAG answers a non-whitelisted IP. @default true */
  allowedIp?: boolean;
  /** Render the offer pages at start and serve them pre-rendered while unchanged (benchmarks). @default false */
  prerenderPages?: boolean;
}

/** A simulated account's state and mutators. */
export class SandboxAccount {
  /** Account name. */
  readonly name: string;
  /** Basic-auth user. */
  readonly username: string;
  /** Basic-auth password. */
  readonly password: string;
  /** Whether the caller's IP counts as whitelisted. */
  allowedIp: boolean;
  /** Order and return type of this account (2 FBE, 3 seller-fulfilled). */
  readonly orderType: 2 | 3;
  /** Offers and their routes. */
  readonly catalog: Catalog;
  /** Orders and their routes. */
  readonly orderBook: OrderBook;
  /** Return requests and their routes. */
  readonly returns: Returns;
  /** AWBs (shipping labels) and their routes. */
  readonly awbBook: Awbs;
  readonly #clock: Clock;

  /**
   * Generates the account's data; `index` is its position in the options (seeds its data) and
   * history is dated back from `epoch`. Callbacks go out through `callbacks`, when given.
   */
  constructor(spec: SandboxAccountSpec, index: number, seed: number, sharedSkus: number, clock: Clock, epoch: number, callbacks?: CallbackNotifier) {
    this.name = spec.name;
    this.username = spec.username;
    this.password = spec.password;
    this.allowedIp = spec.allowedIp ?? true;
    this.orderType = spec.orderType ?? 3;
    this.#clock = clock;
    const now = (): number => clock.now();
    const historyDays = spec.orderHistoryDays ?? 120;
    this.catalog = new Catalog(seed, index, spec.offers, sharedSkus);
    if (spec.prerenderPages) this.catalog.prerender();
    const common = { seed, account: index, historyDays, type: this.orderType, epoch };
    const notify: Notify = (event, params, repeatWhile) => callbacks?.notify(spec.name, event, params, repeatWhile);
    this.orderBook = new OrderBook({ ...common, orders: spec.orders ?? 0 }, this.catalog, now, notify);
    this.returns = new Returns({ ...common, rmas: spec.rmas ?? 0 }, this.catalog, this.orderBook, now, notify);
    this.awbBook = new Awbs(index, this.orderBook, this.returns, now, notify);
  }

  /** Every offer as an unfiltered product_offer/read serves it, in id order (built on each call). */
  get offers(): OfferRecord[] {
    return this.catalog.offers;
  }

  /** One offer as served; `detailed` as when reading filtered by id (GPSR lists, not flags). */
  offer(id: number, detailed = false): OfferRecord | undefined {
    return this.catalog.offer(id, detailed);
  }

  /** Changes the sale_price of `n` random offers; returns their ids. */
  changePrices(n: number): number[] {
    return this.catalog.changePrices(n);
  }

  /** Removes one given offer. */
  removeOffer(id: number): void {
    this.catalog.removeOffers(1, [id]);
  }

  /** Puts an offer in an active campaign (or takes it out): eMAG then refuses stock changes. */
  lockStock(id: number, locked = true): void {
    this.catalog.lockStock(id, locked);
  }

  /** Adds `n` offers; `malformed` ones are served with missing or odd fields. Returns their ids. */
  addOffers(n: number, opts?: { malformed?: boolean }): number[] {
    return this.catalog.addOffers(n, opts);
  }

  /** Removes `n` random offers; returns their ids. */
  removeOffers(n: number): number[] {
    return this.catalog.removeOffers(n);
  }

  /** Sets one offer's stock. */
  setStock(id: number, stock: number): void {
    this.catalog.setStock(id, stock);
  }

  /** Every order as served, in id order (live objects). */
  get orders(): OrderRecord[] {
    return this.orderBook.orders;
  }

  /** One order as served. */
  order(id: number): OrderRecord | undefined {
    return this.orderBook.order(id);
  }

  /** Adds `n` orders (default status 1) modified at `modified` (default now); returns their ids. */
  addOrders(n: number, opts?: { status?: number; modified?: Date }): number[] {
    return this.orderBook.addOrders(n, opts);
  }

  /** Sets an order's status (no matrix check: this is eMAG's side) and bumps `modified`. */
  setOrderStatus(id: number, status: number, opts?: { modified?: Date }): void {
    this.orderBook.setOrderStatus(id, status, opts);
  }

  /** Cancels an order with a reason id, bumping `modified`. */
  cancelOrder(id: number, reasonId: number): void {
    this.orderBook.cancelOrder(id, reasonId);
  }

  /** Order ids passed to order/acknowledge, in call order, successful or not. */
  get acknowledgements(): number[] {
    return this.orderBook.acknowledgements;
  }

  /** Every return request as served, in emag_id order (live objects). */
  get rmas(): RmaRecord[] {
    return this.returns.rmas;
  }

  /** Adds `n` new return requests (status 2); returns their emag_ids. */
  addRmas(n: number): number[] {
    return this.returns.addRmas(n);
  }

  /** Moves a return request to `status`; throws on a move eMAG does not allow. */
  advanceRma(emagId: number, status: number): void {
    this.returns.advanceRma(emagId, status);
  }

  /** Every AWB issued through awb/save, oldest first (live objects). */
  get awbs(): AwbRecord[] {
    return this.awbBook.awbs;
  }

  /** Moves an AWB to a delivery status (NEW, PKP, TRN, DLV, RTN) and sends the AWB callback. */
  advanceAwb(emagId: number, code: keyof typeof AWB_STATUSES): void {
    this.awbBook.advance(emagId, code);
  }

  /** The sandbox's current time. */
  now(): Date {
    return new Date(this.#clock.now());
  }

  /** Shifts the sandbox clock (shared by every account) by `ms` from real time. */
  setClockOffset(ms: number): void {
    this.#clock.offset = ms;
  }
}

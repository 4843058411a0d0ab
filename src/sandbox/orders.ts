/**
 * One account's orders: generated history, the mutators tests use, and the order routes
 * (read, count, acknowledge, save, attachments/save) with eMAG's filters and status matrix.
 */
import type { CallbackEvent } from './callbacks.ts';
import type { Catalog } from './catalog.ts';
import { readWindow, type Window } from './dates.ts';
import { cancellationReason, orderRecord, type OrderRecord } from './order-record.ts';
import { countReply, isReply, matchesOneOf, readPage, slicePage } from './paging.ts';
import { mixSeed, Random } from './random.ts';
import { entities, fail, filters, ok, type Reply, type RouteInput } from './reply.ts';
import { formatLocal } from './time.ts';

const DAY = 24 * 3600 * 1000;

/** An order plus the instants behind its `date`/`modified` strings (whole seconds). */
interface Entry {
  record: OrderRecord;
  created: number;
  modified: number;
}

/** Order generation settings for one account. */
export interface OrderBookSpec {
  seed: number;
  account: number;
  orders: number;
  historyDays: number;
  type: 2 | 3;
  /** The moment history is dated back from (epoch ms). */
  epoch: number;
}

/** Allowed seller-driven moves (§5.3); 1→2 happens only through acknowledge. */
const MOVES: Readonly<Record<number, readonly number[]>> = {
  1: [1],
  2: [2, 3, 4, 0],
  3: [3, 4, 0],
  4: [4, 3, 0, 5],
  0: [0, 2, 3, 4],
  5: [5],
};

/** Sends one of the account's callbacks; `repeatWhile` makes it repeat while it holds. */
export type Notify = (event: CallbackEvent, params: Record<string, number>, repeatWhile?: () => boolean) => void;

const floorSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

/** Orders and their behaviour for one account. */
export class OrderBook {
  readonly #entries: Entry[] = [];
  readonly #byId = new Map<number, Entry>();
  readonly #rng: Random;
  readonly #spec: OrderBookSpec;
  readonly #catalog: Catalog;
  readonly #now: () => number;
  readonly #notify: Notify;
  #nextId: number;
  #nextLine: number;
  /** Ids passed to order/acknowledge, in call order, whether or not the call succeeded. */
  readonly acknowledgements: number[] = [];

  /** Generates the order history, spread over the last `historyDays` days; `notify` sends callbacks. */
  constructor(spec: OrderBookSpec, catalog: Catalog, now: () => number, notify: Notify = () => {}) {
    this.#spec = spec;
    this.#catalog = catalog;
    this.#now = now;
    this.#notify = notify;
    this.#rng = new Random(mixSeed(spec.seed, spec.account, 0x0dde));
    this.#nextId = 400_000_000 + spec.account * 10_000_000 + this.#rng.int(1, 9999);
    this.#nextLine = 100_000_000 + spec.account * 10_000_000;
    this.#generateHistory();
  }

  /** Every order as served, in id order (live objects: later changes show up). */
  get orders(): OrderRecord[] {
    return this.#entries.map((e) => e.record);
  }

  /** One order as served. */
  order(id: number): OrderRecord | undefined {
    return this.#byId.get(id)?.record;
  }

  /** Adds `n` new orders created and modified at `modified` (default now, whole seconds). */
  addOrders(n: number, opts: { status?: number; modified?: Date } = {}): number[] {
    const at = floorSecond(opts.modified?.getTime() ?? this.#now());
    const ids: number[] = [];
    for (let k = 0; k < n; k++) {
      const { record } = this.#create(opts.status ?? 1, at, at);
      ids.push(record.id as number);
      // eMAG calls the new-order URL, and again until the order is acknowledged (§5.2).
      if (record.status === 1) this.#notify('order', { order_id: record.id as number }, () => record.status === 1);
    }
    return ids;
  }

  /** The first AWB of an order in progress or prepared finalizes it (§5.2). */
  finalizeByAwb(id: number): void {
    const e = this.#get(id);
    if (e.record.status !== 2 && e.record.status !== 3) return;
    e.record.status = 4;
    this.#touch(e);
  }

  /** Sets an order's status as eMAG staff or the customer would, bumping `modified`. */
  setOrderStatus(id: number, status: number, opts: { modified?: Date } = {}): void {
    const e = this.#get(id);
    e.record.status = status;
    if (status !== 0) delete e.record.reason_cancellation;
    else if (!e.record.reason_cancellation) e.record.reason_cancellation = cancellationReason(2);
    this.#touch(e, opts.modified?.getTime());
    if (status === 0) this.#notify('cancellation', { order_id: id });
  }

  /** Cancels an order with a reason id (see CANCELLATION_REASONS). */
  cancelOrder(id: number, reasonId: number): void {
    const e = this.#get(id);
    e.record.status = 0;
    e.record.reason_cancellation = cancellationReason(reasonId);
    this.#touch(e);
    this.#notify('cancellation', { order_id: id });
  }

  /** `order/read`. */
  read(input: RouteInput): Reply {
    const selected = this.#select(input, false);
    if ('status' in selected) return selected;
    return ok(slicePage(selected.list, selected.page).map((e) => e.record));
  }

  /** `order/count`. */
  count(input: RouteInput): Reply {
    const selected = this.#select(input, true);
    if ('status' in selected) return selected;
    return countReply(selected.list.length, selected.page);
  }

  /** `order/acknowledge/{id}`: the only way from 1 (new) to 2 (in progress). */
  acknowledge(input: RouteInput): Reply {
    const id = Number(input.id);
    if (!input.id || !Number.isInteger(id)) return fail('Invalid order id.');
    this.acknowledgements.push(id);
    const e = this.#byId.get(id);
    if (!e) return fail(`Order ${id} does not exist.`);
    if (e.record.type !== 3) return fail('Order acknowledge is available only for orders fulfilled by the seller.');
    // eMAG's answer to a second acknowledgement (perhaps after a lost answer): the order is acknowledged.
    if (e.record.status === 2) return fail('Order is already in progress.', 400);
    if (e.record.status !== 1) return fail(`Order ${id} cannot be acknowledged: its status is ${e.record.status}, not 1 (new).`);
    e.record.status = 2;
    this.#touch(e);
    return ok([]);
  }

  /** `order/save`: status moves per the matrix, cancellation reason, line quantities and status. */
  save(input: RouteInput): Reply {
    const list = entities(input);
    if (!list) return fail('Invalid data: a list of orders is required.');
    if (list.length > 50) return fail('Maximum number of entities per request exceeded (50).');
    const errors: string[] = [];
    for (const o of list) {
      const problem = this.#saveOne(o);
      if (problem) errors.push(problem);
    }
    return errors.length ? fail(errors) : ok([]);
  }

  /** `order/attachments/save`: records attachments on the orders (no PDF is fetched). */
  saveAttachments(input: RouteInput): Reply {
    const list = entities(input);
    if (!list) return fail('Invalid data: a list of attachments is required.');
    const errors: string[] = [];
    for (const a of list) {
      const e = this.#byId.get(Number(a.order_id));
      if (!e) errors.push(`Order ${a.order_id} does not exist.`);
      else if (typeof a.url !== 'string' || !a.url) errors.push(`Attachment for order ${a.order_id}: url is required.`);
      else (e.record.attachments as unknown[]).push({ name: a.name ?? null, url: a.url, type: Number(a.type ?? 1) });
    }
    return errors.length ? fail(errors) : ok([]);
  }

  #saveOne(o: Record<string, unknown>): string | null {
    const id = Number(o.id);
    const e = this.#byId.get(id);
    if (!e) return `Order ${o.id} does not exist.`;
    if (e.record.type !== 3) return `Order ${id}: only orders fulfilled by the seller can be edited.`;
    const from = e.record.status as number;
    const to = o.status === undefined ? from : Number(o.status);
    if (!(MOVES[from] ?? []).includes(to)) return `Order ${id}: status cannot change from ${from} to ${to}.`;
    // Leaving "cancelled" and undoing "finalized" are only allowed for 48 hours (§5.3).
    if (to !== from && (from === 0 || (from === 4 && to !== 5)) && this.#now() - e.modified > 2 * DAY) {
      return `Order ${id}: the status can no longer be changed from ${from} to ${to} after 48 hours.`;
    }
    if (to === 0) {
      const reason = o.reason_cancellation;
      const reasonId = typeof reason === 'object' && reason ? Number((reason as { id?: unknown }).id) : Number(reason);
      if (!Number.isInteger(reasonId) || reasonId < 1) return `Order ${id}: reason_cancellation is required to cancel.`;
      e.record.reason_cancellation = cancellationReason(reasonId);
    } else {
      delete e.record.reason_cancellation;
    }
    if (Array.isArray(o.products)) {
      const sent = new Map(o.products.map((p: { id?: unknown }) => [Number(p?.id), p as Record<string, unknown>]));
      for (const line of e.record.products as Record<string, unknown>[]) {
        const p = sent.get(line.id as number);
        // A line left out of the save is removed (status 0), as the doc describes.
        if (!p) line.status = 0;
        else {
          if (p.quantity !== undefined) line.quantity = Number(p.quantity);
          if (p.status !== undefined) line.status = Number(p.status);
        }
      }
    }
    if (o.is_storno !== undefined) e.record.is_storno = o.is_storno === true || o.is_storno === 1;
    e.record.status = to;
    this.#touch(e);
    if (to === 0 && from !== 0) this.#notify('cancellation', { order_id: id });
    return null;
  }

  #select(input: RouteInput, count: boolean): { list: Entry[]; page: { currentPage: number; itemsPerPage: number } } | Reply {
    const f = filters(input);
    const page = readPage(f);
    if (isReply(page)) return page;
    const now = this.#now();
    if (count) {
      // On count the doc requires both ends of a window, whichever is given.
      for (const [a, b] of [['createdAfter', 'createdBefore'], ['modifiedAfter', 'modifiedBefore']]) {
        if (f[a] !== undefined && f[b] === undefined) return fail(`${a} can only be set if ${b} is present.`);
      }
    }
    const created = readWindow(f, 'createdAfter', 'createdBefore', now);
    if (typeof created === 'string') return fail(created);
    const modified = readWindow(f, 'modifiedAfter', 'modifiedBefore', now);
    if (typeof modified === 'string') return fail(modified);
    // Without `type`, eMAG answers with seller-fulfilled orders only (§5.4 default 3).
    const type = f.type ?? 3;
    const inside = (w: Window | null, t: number): boolean => !w || (t >= w.from && t <= w.to);
    const list = this.#entries.filter(
      (e) =>
        matchesOneOf(e.record.type, type) &&
        (f.id === undefined || matchesOneOf(e.record.id, f.id)) &&
        (f.status === undefined || matchesOneOf(e.record.status, f.status)) &&
        (f.payment_mode_id === undefined || matchesOneOf(e.record.payment_mode_id, f.payment_mode_id)) &&
        (f.is_complete === undefined || matchesOneOf(e.record.is_complete, f.is_complete)) &&
        inside(created, e.created) &&
        inside(modified, e.modified),
    );
    return { list, page };
  }

  #get(id: number): Entry {
    const e = this.#byId.get(id);
    if (!e) throw new Error(`no order ${id}`);
    return e;
  }

  #touch(e: Entry, at?: number): void {
    e.modified = floorSecond(at ?? this.#now());
    e.record.modified = formatLocal(e.modified);
  }

  #create(status: number, created: number, modified: number): Entry {
    const id = this.#nextId;
    this.#nextId += this.#rng.int(1, 40);
    const { record, lines } = orderRecord(this.#spec.seed, this.#rng, this.#catalog, {
      id,
      type: this.#spec.type,
      status,
      created,
      modified,
      firstLineId: this.#nextLine,
    });
    this.#nextLine += lines;
    const e = { record, created, modified };
    this.#entries.push(e);
    this.#byId.set(id, e);
    return e;
  }

  /**
   * Historical orders: statuses follow age (recent ones new or in progress, old ones finalized,
   * returned or cancelled), every status 0..5 appears, and some orders share one `modified` second
   * so cursor-based readers meet ties.
   */
  #generateHistory(): void {
    const n = this.#spec.orders;
    if (!n) return;
    const now = floorSecond(this.#spec.epoch);
    const span = this.#spec.historyDays * DAY;
    const rng = this.#rng;
    const times = Array.from({ length: n }, () => floorSecond(now - 60_000 - rng.next() * (span - 60_000))).sort((a, b) => a - b);
    const plan = times.map((created) => ({ created, status: statusForAge(rng, now - created), modified: 0 }));
    const missing = [0, 1, 2, 3, 4, 5].filter((s) => !plan.some((p) => p.status === s));
    for (const s of missing) {
      // New and in-progress orders are recent; finalized, returned and cancelled ones old.
      const idx = s >= 1 && s <= 3 ? n - s : [0, 4, 5].indexOf(s) * Math.floor(n / 6);
      if (idx >= 0 && idx < n) plan[idx].status = s;
    }
    for (const p of plan) {
      // Cap at a random moment of the last hour, not at `now`, or capped orders would all tie.
      const cap = Math.max(p.created, now - rng.int(1, 3600) * 1000);
      p.modified = floorSecond(Math.min(cap, p.created + modifiedDelay(rng, p.status)));
    }
    // Ties: groups of 2–4 consecutive orders share their latest modified second.
    let tied = false;
    const forceFrom = Math.max(0, Math.min(Math.floor(n / 2), n - 3));
    for (let i = 0; i + 1 < n; i++) {
      // Until a tie of three exists, force one from the middle of the history on.
      const forced = !tied && i >= forceFrom;
      if (!forced && !rng.chance(0.06)) continue;
      const group = plan.slice(i, i + (forced ? 3 : rng.int(2, 4)));
      const shared = Math.max(...group.map((p) => p.modified));
      for (const p of group) p.modified = shared;
      tied = tied || group.length >= 3;
      i += group.length - 1;
    }
    for (const p of plan) this.#create(p.status, p.created, p.modified);
  }
}

function statusForAge(rng: Random, age: number): number {
  const r = rng.next();
  if (age < 2 * 3600_000) return r < 0.7 ? 1 : r < 0.85 ? 0 : 2;
  if (age < 3 * DAY) return r < 0.45 ? 2 : r < 0.85 ? 3 : r < 0.95 ? 4 : 0;
  return r < 0.75 ? 4 : r < 0.87 ? 0 : 5;
}

function modifiedDelay(rng: Random, status: number): number {
  switch (status) {
    case 1:
      return rng.int(0, 30) * 1000;
    case 2:
    case 3:
      return rng.int(60, DAY / 1000) * 1000;
    case 4:
      return rng.int(1, 5) * DAY + rng.int(0, 3600) * 1000;
    case 5:
      return rng.int(7, 30) * DAY;
    default:
      return rng.int(60, 2 * DAY / 1000) * 1000;
  }
}

/**
 * The per-account rate budget: eMAG counts the orders routes (12/s, 720/min) apart from every other
 * resource together (3/s, 180/min), over sliding windows. Every request — retries included — takes a
 * slot here before it is sent, so no combination of streams of one account can exceed the limits.
 *
 * Each window is a `limiter` TokenBucket that drips `limit` tokens per (window + slack), so grants are
 * spaced s = (window + slack) / limit apart. A bucket of exactly one token never gives back the time
 * a timer fires late (1–2 ms a grant: 2 % of the orders pace), so it holds 1 + catchUp / s: a grant
 * late by up to `catchUpMs` lets the next come that much sooner. In any window of `window` ms such a
 * bucket grants at most ⌊1 + (catchUp + window) / s⌋, which is ⌈limit⌉ as long as catchUp < slack —
 * for any rate, fractional or not; what the slack has left covers arrivals closer than departures.
 * The buckets run on performance.now(), so a wall-clock step (NTP) neither stalls nor bursts them.
 * `limiter` has no abort and no queue order of its own: the waiters queue here, first come first served.
 */
import { TokenBucket } from 'limiter';

/** One sliding window a budget must hold. */
export interface Window {
  /** Width of the window in ms. */
  ms: number;
  /** Grants allowed per window; a fractional limit allows ⌈limit⌉ in any one window and `limit` on average. */
  limit: number;
  /**
   * Extra width (ms) the budget leaves around the window. The server measures arrival times, which
   * can be a few ms closer together than our send times, so our windows are a little wider than eMAG's.
   */
  slackMs: number;
  /** How much of a late grant the next may make up (ms); less than `slackMs`. @default 0 */
  catchUpMs?: number;
}

/** Limits of one group. */
export interface GroupLimits {
  perSecond: number;
  perMinute: number;
}

/**
 * eMAG's two windows for a group: a second (+35 ms) and a minute (+250 ms). eMAG counts arrivals,
 * and requests that left at their spacing can still arrive a little closer together (the network,
 * the last step of a busy event loop): n + 1 grants spread over 1035 ms still arrive within a second
 * only when the first of them is 35 ms later than the last. Measured on a loaded 2-core machine:
 * 31 ms. The price: 3 req/s become 2.90 (96.6 % of the ceiling), a little less with the jitter.
 */
export function groupWindows(limits: GroupLimits): Window[] {
  return [
    { ms: 1000, limit: limits.perSecond, slackMs: 35, catchUpMs: CATCH_UP_MS },
    { ms: 60_000, limit: limits.perMinute, slackMs: 250, catchUpMs: CATCH_UP_MS },
  ];
}

/**
 * How late a grant may be made up by the next (ms): timers fire up to 2 ms late (whole-ms timer
 * clock) and more on a busy event loop. It comes out of eMAG's windows' slack: 30 of the second
 * window's 35 ms stay for arrivals that come closer together than they left. Measured: 5 ms gave an
 * orders backfill 94.8–95.1 % of 12 req/s, 10 ms 95.7 %; but with 10 ms a CI run under load had a
 * sandbox in the tests' own process count 4 requests in a second (it stalled > 25 ms between
 * arrivals), so the tolerance for arrival jitter won over the last half per cent.
 */
export const CATCH_UP_MS = 5;

/** Raised by `take` on a budget that was closed (its account is no longer ours to sync). */
export class BudgetClosedError extends Error {
  override name = 'BudgetClosedError';
}

/** A request waiting for a slot. */
interface Waiter {
  resolve: (waited: number) => void;
  reject: (e: Error) => void;
  since: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  priority: boolean;
}

/**
 * One group's budget: at most ⌈limit⌉ grants in any sliding window of each of its windows, spaced
 * evenly (plus up to 0.25 % jitter, so we are never in lock-step with other clients). Waiters are
 * served first come, first served; an aborted waiter leaves the queue without using a slot.
 */
export class RateBudget {
  /** The innermost bucket; the others are its parents, so one `tryRemoveTokens` debits all or none. */
  readonly #bucket: TokenBucket;
  readonly #spacingMs: number;
  #queue: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  #closed: Error | null = null;
  /** Total waiting time handed out (ms) and the number of requests that had to wait. */
  waitedMs = 0;
  waits = 0;

  /**
   * A budget holding every window in `windows`. It starts empty, as if a request had just been sent:
   * a restarted process cannot add a burst to the one its predecessor sent a moment ago.
   */
  constructor(windows: Window[]) {
    if (windows.length === 0) throw new RangeError('a budget needs at least one window');
    let bucket: TokenBucket | undefined;
    for (const w of windows) {
      const catchUp = w.catchUpMs ?? 0;
      if (!(w.limit > 0) || !(w.ms > 0) || !(w.slackMs >= 0) || !(catchUp >= 0) || (catchUp > 0 && !(catchUp < w.slackMs))) {
        throw new RangeError(`invalid window ${JSON.stringify(w)}`);
      }
      const perMs = w.limit / (w.ms + w.slackMs);
      bucket = new TokenBucket({ bucketSize: 1 + catchUp * perMs, tokensPerInterval: w.limit, interval: w.ms + w.slackMs, parentBucket: bucket });
    }
    this.#bucket = bucket as TokenBucket;
    this.#spacingMs = Math.max(...windows.map((w) => (w.ms + w.slackMs) / w.limit));
  }

  /** The least time between two grants (ms). */
  get spacingMs(): number {
    return this.#spacingMs;
  }

  /**
   * Waits for a slot; resolves with the ms waited. Rejects if `signal` aborts first or the budget is
   * closed. A `priority` waiter (a callback's read) is served before every ordinary one, first come
   * first served among its kind.
   */
  take(signal?: AbortSignal, opts: { priority?: boolean } = {}): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const entry: Waiter = { resolve, reject, since: performance.now(), signal, priority: opts.priority === true };
      if (signal) {
        entry.onAbort = () => {
          const i = this.#queue.indexOf(entry);
          if (i < 0) return;
          this.#queue.splice(i, 1);
          reject(signal.reason ?? new Error('aborted'));
          // The head may have left: the next waiter's turn is computed afresh.
          if (i === 0) this.#reschedule();
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      if (entry.priority) {
        const firstOrdinary = this.#queue.findIndex((w) => !w.priority);
        this.#queue.splice(firstOrdinary < 0 ? this.#queue.length : firstOrdinary, 0, entry);
      } else this.#queue.push(entry);
      this.#pump();
    });
  }

  /**
   * Counts a request sent at `atMs` (performance.now() time) as if this budget had granted it then,
   * so the next grant keeps its distance from it: a request of a previous owner of the account, or
   * one of ours that left later than its slot. eMAG counts arrivals, and the first request after a
   * pause is the slow one on its way out (a new connection, a cold code path, a busy event loop):
   * the client notes when each request actually left (measured: up to 340 ms late for the first
   * request of a new process under heavy load, while the next, on a warm path, is not).
   */
  noteSentAt(atMs: number): void {
    const now = performance.now();
    for (let b: TokenBucket | undefined = this.#bucket; b; b = b.parentBucket) {
      b.drip();
      // As if granted at `atMs` from a full bucket: what a grant then would have left, refilled since.
      const refilled = Math.max(0, now - atMs) * (b.tokensPerInterval / b.interval) + (b.bucketSize - 1);
      b.content = Math.min(b.content, refilled);
    }
    this.#reschedule();
  }

  /** Rejects every waiter and every later `take` with `reason`, until `reopen`. */
  close(reason: Error): void {
    this.#closed = reason;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const queue = this.#queue;
    this.#queue = [];
    for (const w of queue) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(reason);
    }
  }

  /** Accepts requests again after `close`. */
  reopen(): void {
    this.#closed = null;
  }

  #reschedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pump();
  }

  #pump(): void {
    if (this.#timer) return;
    while (this.#queue.length > 0) {
      if (!this.#bucket.tryRemoveTokens(1)) {
        // Wake when the slowest window has a token again, a little late rather than early.
        const wait = this.#bucket.getWaitTime(1) + Math.random() * this.#spacingMs * 0.0025;
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.#pump();
        }, Math.max(1, wait));
        return;
      }
      const entry = this.#queue.shift() as Waiter;
      if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
      const waited = performance.now() - entry.since;
      if (waited > 5) {
        this.waits++;
        this.waitedMs += waited;
      }
      entry.resolve(waited);
    }
  }
}

/** The two groups of one account. */
export class AccountBudget {
  readonly orders: RateBudget;
  readonly other: RateBudget;

  constructor(ordersPerSecond: number, otherPerSecond: number) {
    this.orders = new RateBudget(groupWindows({ perSecond: ordersPerSecond, perMinute: Math.max(1, Math.floor(ordersPerSecond * 60)) }));
    this.other = new RateBudget(groupWindows({ perSecond: otherPerSecond, perMinute: Math.max(1, Math.floor(otherPerSecond * 60)) }));
  }

  /** The group a resource belongs to: every `order…` route is the orders group. */
  for(resource: string): RateBudget {
    return resource === 'order' || resource.startsWith('order/') ? this.orders : this.other;
  }

  /**
   * Counts requests another process sent for this account `agoMs` before now (e.g. from the API call
   * log), so a new owner's first requests keep their distance from the old owner's last ones.
   */
  noteSent(sent: ReadonlyArray<{ resource: string; agoMs: number }>): void {
    const now = performance.now();
    for (const s of sent) this.for(s.resource).noteSentAt(now - Math.max(0, s.agoMs));
  }

  /** Closes both groups: every waiting and later request is refused with `reason`. */
  close(reason: Error): void {
    this.orders.close(reason);
    this.other.close(reason);
  }

  /** Accepts requests again, as if one had just been sent (the account's last owner may have sent one). */
  reopen(): void {
    for (const g of [this.orders, this.other]) g.reopen();
    this.restart();
  }

  /**
   * Counts a request as sent just now in both groups, as a new budget does: the next slot is one
   * spacing away. Runs started together but spread out (`spreadStart` in scheduler.ts) take their phase from it.
   */
  restart(): void {
    const now = performance.now();
    for (const g of [this.orders, this.other]) g.noteSentAt(now);
  }
}

/** One budget per account, to be shared by every run of that account. */
export function budgetsFor(accounts: ReadonlyArray<{ name: string; ordersRps: number; otherRps: number }>): Map<string, AccountBudget> {
  return new Map(accounts.map((a) => [a.name, new AccountBudget(a.ordersRps, a.otherRps)]));
}

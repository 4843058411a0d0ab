/**
 * The per-account rate budget: eMAG counts the orders routes (12/s, 720/min) apart from every other
 * resource together (3/s, 180/min), over sliding windows. Every request — retries included — takes a
 * slot here before it is sent, so no combination of streams of one account can exceed the limits.
 */

/** Limits of one group. */
export interface GroupLimits {
  perSecond: number;
  perMinute: number;
}

/**
 * Slack added to each window. The server measures arrival times, which can be a few ms closer
 * together than our send times, so we leave our windows a little wider than eMAG's.
 */
const SECOND_MS = 1000 + 25;
const MINUTE_MS = 60_000 + 250;

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
 * One group's budget: grants at most `perSecond` slots in any sliding second and `perMinute` in any
 * sliding minute, spaced evenly (1/perSecond apart, plus up to 1 % jitter) so requests never burst.
 * Waiters are served first come, first served.
 */
export class RateBudget {
  readonly #limits: GroupLimits;
  readonly #spacingMs: number;
  /** Grant times within the last minute, oldest first. */
  #grants: number[] = [];
  #queue: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  #nextAllowed = 0;
  /** Total waiting time handed out (ms) and the number of requests that had to wait. */
  waitedMs = 0;
  waits = 0;

  constructor(limits: GroupLimits) {
    this.#limits = limits;
    this.#spacingMs = SECOND_MS / limits.perSecond;
  }

  /**
   * Waits for a slot; resolves with the ms waited. Rejects if `signal` aborts first. A `priority`
   * waiter (a callback's read) is served before every ordinary one, first come first served among its kind.
   */
  take(signal?: AbortSignal, opts: { priority?: boolean } = {}): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    return new Promise((resolve, reject) => {
      const entry: Waiter = { resolve, reject, since: Date.now(), signal, priority: opts.priority === true };
      if (signal) {
        entry.onAbort = () => {
          const i = this.#queue.indexOf(entry);
          if (i >= 0) {
            this.#queue.splice(i, 1);
            reject(signal.reason ?? new Error('aborted'));
          }
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

  /** Earliest time (ms) at which another slot may be granted. */
  #earliest(now: number): number {
    const g = this.#grants;
    while (g.length > 0 && g[0] <= now - MINUTE_MS) g.shift();
    let t = Math.max(now, this.#nextAllowed);
    if (g.length >= this.#limits.perMinute) t = Math.max(t, g[g.length - this.#limits.perMinute] + MINUTE_MS);
    if (g.length >= this.#limits.perSecond) t = Math.max(t, g[g.length - this.#limits.perSecond] + SECOND_MS);
    return t;
  }

  #pump(): void {
    if (this.#timer) return;
    while (this.#queue.length > 0) {
      const now = Date.now();
      const at = this.#earliest(now);
      if (at > now) {
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.#pump();
        }, at - now);
        return;
      }
      const entry = this.#queue.shift()!;
      if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
      this.#grants.push(now);
      // Even spacing with a little jitter: no bursts, and no lock-step with other clients.
      this.#nextAllowed = now + this.#spacingMs * (1 + Math.random() * 0.01);
      const waited = now - entry.since;
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
    this.orders = new RateBudget({ perSecond: ordersPerSecond, perMinute: Math.floor(ordersPerSecond * 60) });
    this.other = new RateBudget({ perSecond: otherPerSecond, perMinute: Math.floor(otherPerSecond * 60) });
  }

  /** The group a resource belongs to: every `order…` route is the orders group. */
  for(resource: string): RateBudget {
    return resource === 'order' || resource.startsWith('order/') ? this.orders : this.other;
  }
}

/** One budget per account, to be shared by every run of that account. */
export function budgetsFor(accounts: ReadonlyArray<{ name: string; ordersRps: number; otherRps: number }>): Map<string, AccountBudget> {
  return new Map(accounts.map((a) => [a.name, new AccountBudget(a.ordersRps, a.otherRps)]));
}

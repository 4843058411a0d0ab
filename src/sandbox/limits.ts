/**
 * eMAG's rate limits (§1.5): per account, the order routes get 12 requests/s and 720/min, and all
 * other resources share one budget of 3/s and 180/min. Windows slide over arrival times and are
 * half-open: a request at t sees the requests in (t − 1000, t] and (t − 60000, t].
 *
 * The limiter counts the requests it let through — including those answered with an error, since
 * eMAG says invalid requests count too — but not the ones it refused with 429, as rate-limiting
 * gateways like eMAG's (Kong) do. `windowViolations` instead judges the client and counts every
 * request that arrived, refused or not.
 */

/** Requests allowed per window, by group. */
export interface Limits {
  /** Order routes, per second (eMAG: 12). */
  ordersPerSecond: number;
  /** Order routes, per minute (eMAG: 720). */
  ordersPerMinute: number;
  /** Every other resource together, per second (eMAG: 3). */
  otherPerSecond: number;
  /** Every other resource together, per minute (eMAG: 180). */
  otherPerMinute: number;
}

/** eMAG's published limits. */
export const EMAG_LIMITS: Readonly<Limits> = { ordersPerSecond: 12, ordersPerMinute: 720, otherPerSecond: 3, otherPerMinute: 180 };

/** The two budgets of an account. */
export type LimitGroup = 'orders' | 'other';

/** The budget a resource draws on: `order` (read, count, acknowledge, save, attachments) or the rest. */
export function groupOf(resource: string): LimitGroup {
  return resource === 'order' ? 'orders' : 'other';
}

const SECOND = 1000;
const MINUTE = 60_000;

function perWindow(limits: Limits, group: LimitGroup): [number, number] {
  return group === 'orders' ? [limits.ordersPerSecond, limits.ordersPerMinute] : [limits.otherPerSecond, limits.otherPerMinute];
}

/** The limiter's decision, with what the rate-limit headers report. */
export interface Admission {
  allowed: boolean;
  /** The per-second limit of the group. */
  limit: number;
  /** Requests left in the current second after this one. */
  remaining: number;
}

/** Accepted arrival times of one account and group, oldest first, trimmed from the front. */
class Track {
  times: number[] = [];
  /** Index of the first time inside the minute window. */
  minuteHead = 0;
  /** Index of the first time inside the second window. */
  secondHead = 0;
}

/** Sliding-window admission per account and group. */
export class RateLimiter {
  readonly #tracks = new Map<string, Track>();
  readonly #limits: Limits;
  /** When false every request is admitted (ingest benchmarks); the log still records them. */
  enforce: boolean;

  /** A limiter with the given limits. */
  constructor(limits: Limits, enforce: boolean) {
    this.#limits = limits;
    this.enforce = enforce;
  }

  /** Decides on a request of `account` to `group` arriving at `t` (ms), recording it if admitted. */
  admit(account: string, group: LimitGroup, t: number): Admission {
    const [perSecond, perMinute] = perWindow(this.#limits, group);
    if (!this.enforce) return { allowed: true, limit: perSecond, remaining: perSecond };
    const key = `${account}\u0000${group}`;
    let track = this.#tracks.get(key);
    if (!track) {
      track = new Track();
      this.#tracks.set(key, track);
    }
    const { times } = track;
    while (track.minuteHead < times.length && times[track.minuteHead] <= t - MINUTE) track.minuteHead++;
    track.secondHead = Math.max(track.secondHead, track.minuteHead);
    while (track.secondHead < times.length && times[track.secondHead] <= t - SECOND) track.secondHead++;
    const inSecond = times.length - track.secondHead;
    const inMinute = times.length - track.minuteHead;
    if (inSecond >= perSecond || inMinute >= perMinute) return { allowed: false, limit: perSecond, remaining: 0 };
    // The clock may step back a little; keep the list sorted so the heads stay valid.
    times.push(Math.max(t, times[times.length - 1] ?? t));
    if (track.minuteHead > 4096) {
      times.splice(0, track.minuteHead);
      track.secondHead -= track.minuteHead;
      track.minuteHead = 0;
    }
    return { allowed: true, limit: perSecond, remaining: Math.max(0, perSecond - inSecond - 1) };
  }
}

/** The fields of a log entry `windowViolations` looks at. */
export interface ArrivalEntry {
  t: number;
  account: string | null;
  group: LimitGroup;
}

/** A window holding more requests than the limit allows. */
export interface Violation {
  account: string;
  group: LimitGroup;
  window: '1s' | '60s';
  /** Arrival time of the earliest request in the first offending window. */
  start: number;
  /** The most requests any window of this run held. */
  count: number;
}

/**
 * Finds every 1-s and 60-s sliding window, per account and group, that holds more requests than
 * the limit — counting every arrival, including the ones answered 429. Consecutive offending
 * windows are reported once, as a run with its peak count. Unauthenticated entries are ignored.
 * Linear per account and group (two pointers over the arrival times).
 */
export function windowViolations(log: readonly ArrivalEntry[], limits: Limits = EMAG_LIMITS): Violation[] {
  const byKey = new Map<string, { account: string; group: LimitGroup; times: number[] }>();
  for (const e of log) {
    if (e.account === null) continue;
    const key = `${e.account}\u0000${e.group}`;
    let bucket = byKey.get(key);
    if (!bucket) {
      bucket = { account: e.account, group: e.group, times: [] };
      byKey.set(key, bucket);
    }
    bucket.times.push(e.t);
  }
  const out: Violation[] = [];
  for (const { account, group, times } of byKey.values()) {
    // Arrival order is time order unless the wall clock stepped back.
    if (times.some((t, i) => i > 0 && t < times[i - 1])) times.sort((a, b) => a - b);
    const [perSecond, perMinute] = perWindow(limits, group);
    for (const [window, width, limit] of [['1s', SECOND, perSecond], ['60s', MINUTE, perMinute]] as const) {
      let l = 0;
      let run: Violation | null = null;
      for (let r = 0; r < times.length; r++) {
        while (times[l] <= times[r] - width) l++;
        const count = r - l + 1;
        if (count > limit) {
          if (!run) run = { account, group, window, start: times[l], count };
          else run.count = Math.max(run.count, count);
        } else if (run) {
          out.push(run);
          run = null;
        }
      }
      if (run) out.push(run);
    }
  }
  return out;
}

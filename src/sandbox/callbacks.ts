/**
 * eMAG's callback notifications (§1.6, §5.2): a GET to the seller's URL when an order is placed,
 * cancelled, a return is created or moves (new, acknowledged, received), or an AWB changes status.
 * A new order's call is repeated until the order is acknowledged (eMAG gives up after 48 hours);
 * the others are sent once. Every call is logged so tests can see what was sent and answered.
 */

/** The callback contexts eMAG offers. */
export const CALLBACK_EVENTS = ['order', 'cancellation', 'return', 'awb'] as const;
export type CallbackEvent = (typeof CALLBACK_EVENTS)[number];

/** Where one account's callbacks go. */
export interface CallbackSpec {
  /**
   * Base URL; each event's path is appended and its query kept, so
   * `https://h/callbacks/main?token=T` calls `https://h/callbacks/main/order?token=T&order_id=123`.
   */
  url?: string;
  /** Full URLs per event, overriding `url` (eMAG configures each context separately). */
  urls?: Partial<Record<CallbackEvent, string>>;
  /** Milliseconds between repeats of a new-order call until it is acknowledged. @default 60000 */
  repeatMs?: number;
  /** The query parameter carrying a return's id. @default 'emag_id' */
  returnParam?: string;
}

/** One callback request as sent. */
export interface CallbackLogEntry {
  /** When it was sent, `Date.now()` ms. */
  t: number;
  account: string;
  event: CallbackEvent;
  /** The full URL called. */
  url: string;
  /** HTTP status answered, 0 for no answer (refused, timed out). */
  status: number;
  /** Milliseconds until the answer (or the failure). */
  durationMs: number;
  /** 1 for the first call of this notification, 2… for repeats. */
  attempt: number;
}

/** How long eMAG keeps repeating a new-order call. */
const REPEAT_FOR_MS = 48 * 3600_000;
/** eMAG's callback client does not wait long for an answer. */
const TIMEOUT_MS = 5000;

/** Sends the callbacks of every account. */
export class CallbackNotifier {
  readonly #specs = new Map<string, CallbackSpec>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Set<AbortController>();
  readonly #now: () => number;
  #closed = false;
  #active = 0;
  /** Every call sent, in order. */
  readonly log: CallbackLogEntry[] = [];

  /** A notifier on the sandbox clock `now`. */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** Sets (or, with null, removes) where an account's callbacks go. */
  configure(account: string, spec: CallbackSpec | null): void {
    if (spec === null) {
      this.#specs.delete(account);
      return;
    }
    for (const u of [spec.url, ...Object.values(spec.urls ?? {})]) {
      if (u !== undefined) new URL(u);
    }
    this.#specs.set(account, spec);
  }

  /**
   * Notifies `account` of `event` with the query `params`. `repeatWhile`, when given, is checked
   * before each repeat: the call goes again every `repeatMs` while it holds (a new order still new).
   */
  notify(account: string, event: CallbackEvent, params: Record<string, string | number>, repeatWhile?: () => boolean): void {
    const spec = this.#specs.get(account);
    if (!spec || this.#closed) return;
    const url = eventUrl(spec, event, event === 'return' ? renameReturnId(params, spec.returnParam) : params);
    if (!url) return;
    const first = this.#now();
    this.#active++;
    const send = (attempt: number): void => {
      void this.#call(account, event, url, attempt).then(() => {
        if (!repeatWhile || this.#closed || this.#now() - first >= REPEAT_FOR_MS) {
          this.#active--;
          return;
        }
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (repeatWhile() && !this.#closed) send(attempt + 1);
          else this.#active--;
        }, spec.repeatMs ?? 60_000);
        this.#timers.add(timer);
      });
    };
    send(1);
  }

  /** Notifications still running (a call in flight or a repeat due): 0 once all have run their course. */
  get pending(): number {
    return this.#active;
  }

  /** Stops every repeat and aborts calls in flight. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#inFlight) c.abort();
  }

  async #call(account: string, event: CallbackEvent, url: string, attempt: number): Promise<void> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const t = Date.now();
    let status = 0;
    try {
      const res = await fetch(url, { method: 'GET', signal: controller.signal });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      // Refused, reset or timed out: eMAG only notes it; a new order's repeat still comes.
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
    if (!this.#closed) this.log.push({ t, account, event, url, status, durationMs: Date.now() - t, attempt });
  }
}

/** The URL an event is sent to, with its parameters, or null when the account has none for it. */
function eventUrl(spec: CallbackSpec, event: CallbackEvent, params: Record<string, string | number>): string | null {
  const explicit = spec.urls?.[event];
  let url: URL;
  if (explicit) url = new URL(explicit);
  else if (spec.url) {
    url = new URL(spec.url);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${event}`;
  } else return null;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.toString();
}

function renameReturnId(params: Record<string, string | number>, name = 'emag_id'): Record<string, string | number> {
  const { emag_id, ...rest } = params;
  return emag_id === undefined ? params : { [name]: emag_id, ...rest };
}

/**
 * Webhook delivery: a Slack/Mattermost-compatible JSON body (`{text, alert}`), optionally signed
 * with an HMAC, POSTed to every configured URL. Delivery is asynchronous and retried with backoff
 * until it succeeds or an hour (configurable) has passed; nothing here ever throws into a sync.
 */
import { createHmac } from 'node:crypto';
import type { AlertConfig } from '../config.ts';
import type { AlertJson } from './alert-json.ts';
import type { Logger } from '../log.ts';

/** The `alert` object of a webhook body, as the README documents it. */
export interface WebhookAlert extends AlertJson {
  state: 'firing' | 'resolved';
  until?: string;
}

/** A webhook body. */
export interface Notification {
  text: string;
  alert: WebhookAlert;
}

/** One POST and what came back. */
export interface Attempt {
  ok: boolean;
  /** HTTP status, or null without an answer. */
  status: number | null;
  /** Why it did not count as delivered. */
  error: string | null;
  /** Whether trying again may help (a bad certificate will not fix itself). */
  retryable: boolean;
  /** The first characters of the answer, for `emag-sync alerts test`. */
  answer: string;
  ms: number;
}

/** How one notification ended over all URLs. */
export interface Outcome {
  result: 'delivered' | 'undelivered' | 'no_webhook' | 'stopped';
  /** The last failure of an undelivered URL. */
  error: string | null;
}

/** Counts delivery results (the emag_alert_notifications_total counter). */
export type DeliveryCounter = (result: 'delivered' | 'retried' | 'undelivered') => void;

/** Retry delays double from the first up to this. */
const MAX_RETRY_MS = 10 * 60_000;
/** How much of an answer is kept for the report. */
const ANSWER_CHARS = 200;

/** The header carrying `sha256=<hex HMAC-SHA256 of the body>`. */
export const SIGNATURE_HEADER = 'X-Emag-Sync-Signature';

/** The body text of a notification: one line a person reads in a chat channel. */
export function notificationText(a: WebhookAlert): string {
  const where = [a.account, a.stream].filter(Boolean).join('/');
  const head = `[emag-sync] ${a.state === 'firing' ? a.severity.toUpperCase() : 'RESOLVED'} ${a.type}${where ? ` (${where})` : ''}`;
  return a.state === 'firing' ? `${head}: ${a.message} Action: ${a.action}` : `${head}: ${a.message}`;
}

/** `sha256=<hex>` of the body under the secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A webhook URL as it may be shown: scheme, host and port only. Slack and Mattermost put the secret
 * in the path, so the path never reaches a log or a report.
 */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(malformed URL)';
  }
}

/** POSTs one body once. Never throws. */
export async function postOnce(url: string, body: string, opts: { secret: string | null; timeoutMs: number; signal?: AbortSignal }): Promise<Attempt> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'emag-sync' };
  if (opts.secret) headers[SIGNATURE_HEADER] = signature(opts.secret, body);
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  try {
    // A redirect is not followed: the body (and signature) would go somewhere nobody configured.
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal });
    const answer = await head(res);
    const type = res.headers.get('content-type') ?? '';
    const fail = (error: string): Attempt => ({ ok: false, status: res.status, error, retryable: true, answer, ms: ms() });
    if (res.status >= 300 && res.status < 400) return fail(`redirected (HTTP ${res.status}); a webhook must answer itself`);
    if (res.status < 200 || res.status >= 300) return fail(`HTTP ${res.status}`);
    // A 200 HTML page is a login portal or a proxy's error page, not a chat server's "ok".
    if (/text\/html/i.test(type)) return fail(`HTTP ${res.status} with an HTML page, not a webhook answer`);
    return { ok: true, status: res.status, error: null, retryable: false, answer, ms: ms() };
  } catch (err) {
    if (timeout.aborted) return { ok: false, status: null, error: `no answer within ${opts.timeoutMs / 1000} s`, retryable: true, answer: '', ms: ms() };
    if (opts.signal?.aborted) return { ok: false, status: null, error: 'stopped', retryable: false, answer: '', ms: ms() };
    const { error, retryable } = describeNetworkError(err);
    // Some messages quote the URL, whose path is the webhook's secret.
    return { ok: false, status: null, error: error.split(url).join(safeUrl(url)), retryable, answer: '', ms: ms() };
  }
}

/** The first ANSWER_CHARS of a body; the rest is not read (an answer may be a huge page). */
async function head(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < ANSWER_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // A body cut off mid-way still tells what it began with.
  } finally {
    void reader.cancel().catch(() => {});
  }
  return text.slice(0, ANSWER_CHARS);
}

/** TLS problems are named (and not retried); other network errors are retried. */
function describeNetworkError(err: unknown): { error: string; retryable: boolean } {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  if (/SELF_SIGNED|CERT|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return { error: `TLS certificate not trusted: ${cause?.message ?? code} (${code})`, retryable: false };
  }
  return { error: `network error: ${cause?.message ?? (err as Error).message}${code ? ` (${code})` : ''}`, retryable: true };
}

/** Delivers notifications to every configured webhook, retrying each URL on its own. */
export class Notifier {
  readonly #config: AlertConfig;
  readonly #log: Logger;
  readonly #count: DeliveryCounter;
  readonly #stop = new AbortController();
  readonly #inFlight = new Set<Promise<Outcome>>();

  constructor(config: AlertConfig, log: Logger, count: DeliveryCounter = () => {}) {
    this.#config = config;
    this.#log = log;
    this.#count = count;
  }

  /** Whether any webhook is configured. */
  get configured(): boolean {
    return this.#config.webhookUrls.length > 0;
  }

  /** Delivers one notification to every URL; resolves when all are delivered or given up (or on stop). */
  deliver(n: Notification): Promise<Outcome> {
    if (!this.configured) return Promise.resolve({ result: 'no_webhook', error: null });
    const body = JSON.stringify(n);
    const work = Promise.all(this.#config.webhookUrls.map((url, i) => this.#deliverTo(url, i, body, n.alert))).then((errors): Outcome => {
      if (this.#stop.signal.aborted) return { result: 'stopped', error: null };
      const failed = errors.filter((e): e is string => e !== null);
      return failed.length === 0 ? { result: 'delivered', error: null } : { result: 'undelivered', error: failed.join('; ') };
    });
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
    return work;
  }

  /** Null when delivered, else the last error. */
  async #deliverTo(url: string, index: number, body: string, alert: WebhookAlert): Promise<string | null> {
    const first = Date.now();
    const where = `#${index + 1} ${safeUrl(url)}`;
    for (let attempt = 1; ; attempt++) {
      const a = await postOnce(url, body, { secret: this.#config.webhookSecret, timeoutMs: this.#config.webhookTimeoutMs, signal: this.#stop.signal });
      if (this.#stop.signal.aborted) return 'stopped';
      if (a.ok) {
        this.#count('delivered');
        this.#log.info({ webhook: where, alert: alert.type, state: alert.state, attempt }, 'alert notification delivered');
        return null;
      }
      // Capped exponential backoff with jitter, so many alerts failing together do not retry in step.
      const base = Math.min(MAX_RETRY_MS, this.#config.retryFirstMs * 2 ** (attempt - 1));
      const delay = base / 2 + Math.random() * (base / 2);
      if (!a.retryable || Date.now() + delay - first > this.#config.giveUpMs) {
        this.#count('undelivered');
        this.#log.error({ webhook: where, alert: alert.type, state: alert.state, attempts: attempt, err: a.error }, 'alert notification undelivered');
        return `${where}: ${a.error}`;
      }
      this.#count('retried');
      this.#log.warn({ webhook: where, alert: alert.type, state: alert.state, attempt, err: a.error, retryInSeconds: Math.round(delay / 100) / 10 }, 'alert notification failed; retrying');
      if (!(await sleep(delay, this.#stop.signal))) return 'stopped';
    }
  }

  /** Abandons pending retries (their alerts stay undelivered in the database and resume at the next start). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled([...this.#inFlight]);
  }
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

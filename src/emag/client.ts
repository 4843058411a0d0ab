/**
 * The eMAG API client for one account: Basic auth, the rate budget, the `isError` envelope checked on
 * every answer, typed errors, and retries only where they are safe. It knows nothing of Postgres.
 */
import ky, { type KyInstance, type Options } from 'ky';
import type { AccountBudget } from './budget.ts';
import type { CallEvent } from './call-event.ts';
import { EmagError, type EmagErrorKind, kindOfMessages } from './errors.ts';
import { answerBytes, httpFetch } from './http-fetch.ts';
import { JsonShapeError, type RawRecord, type SplitAnswer, splitAnswer } from './raw-records.ts';

/** Options of one account's client. */
export interface EmagClientOptions {
  account: string;
  baseUrl: string;
  username: string;
  password: string;
  budget: AccountBudget;
  /** Per-attempt timeout. @default 30000 */
  timeoutMs?: number;
  /** Retries after the first attempt. @default 3 */
  maxRetries?: number;
  /** Cap of the exponential backoff. @default 30000 */
  backoffCapMs?: number;
  /** First backoff step. @default 500 */
  backoffBaseMs?: number;
  /** Called after every attempt. */
  onCall?: (e: CallEvent) => void;
  /** Take budget slots ahead of ordinary requests (the callback drain). @default false */
  priority?: boolean;
}

/** Options of one call. */
export interface CallOptions {
  method?: 'POST' | 'PATCH' | 'GET';
  /** Safe to send again when the outcome is unknown. Reads are; most writes are not. @default true */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Query parameters (GET routes such as `awb/read_pdf?emag_id=…`). */
  query?: Record<string, string>;
  /** Expect a file: a 200 answer of this content type is returned as bytes; eMAG's JSON errors still throw. */
  binary?: string;
  /**
   * Return `results` as the records' bytes, unparsed (`RawRecord[]`, see raw-records.ts); the
   * envelope is checked as usual. A `results` that is no list or object comes back as it was sent.
   */
  records?: boolean;
}

/** The `results` of a successful envelope, and its messages. */
export interface EmagResult<T> {
  results: T;
  messages: string[];
  status: number;
}

/** `work`, or a TimeoutError after `ms`. */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`timed out after ${ms} ms`), { name: 'TimeoutError' })), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Capped exponential backoff with "equal jitter": half fixed, half random, so retrying clients spread out. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const exp = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return exp / 2 + Math.random() * (exp / 2);
}

/** Talks to eMAG for one account. */
export class EmagClient {
  readonly account: string;
  readonly #http: KyInstance;
  readonly #opts: Required<Omit<EmagClientOptions, 'onCall'>> & Pick<EmagClientOptions, 'onCall'>;

  constructor(opts: EmagClientOptions) {
    this.account = opts.account;
    this.#opts = { timeoutMs: 30_000, maxRetries: 3, backoffCapMs: 30_000, backoffBaseMs: 500, priority: false, ...opts };
    const auth = Buffer.from(`${opts.username}:${opts.password}`).toString('base64');
    this.#http = ky.create({
      prefixUrl: opts.baseUrl,
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json', accept: 'application/json' },
      timeout: this.#opts.timeoutMs,
      // Retries are ours: eMAG's reads are POSTs, and a garbled 200 must be retried too.
      retry: 0,
      throwHttpErrors: false,
      // node:http under ky: Node's fetch costs more CPU per page than storing it (see http-fetch.ts).
      fetch: httpFetch,
    });
  }

  /** Reads `resource/read` with a filter/paging body and returns `results`. */
  async read<T = unknown>(resource: string, body: object = {}, signal?: AbortSignal): Promise<T> {
    return (await this.call<T>(resource, 'read', body, { signal })).results;
  }

  /**
   * Downloads a file (`awb/read_pdf`): a GET with query parameters, under the budget and retries like
   * a read. eMAG answers its errors on these routes as JSON with HTTP 200; they throw as usual.
   */
  async download(resource: string, action: string, query: Record<string, string>, contentType: string, signal?: AbortSignal): Promise<Buffer> {
    const r = await this.call<unknown>(resource, action, undefined, { method: 'GET', query, binary: contentType, signal });
    if (!Buffer.isBuffer(r.results)) throw this.#error('invalid_response', `answer is not a ${contentType} file`, resource, action, r.status);
    return r.results;
  }

  /** `resource/count`: eMAG answers numbers as strings; this returns numbers. */
  async count(resource: string, body: object = {}, signal?: AbortSignal): Promise<{ items: number; pages: number }> {
    const r = await this.call<Record<string, unknown>>(resource, 'count', body, { signal });
    const items = Number(r.results?.noOfItems);
    const pages = Number(r.results?.noOfPages);
    if (!Number.isFinite(items) || !Number.isFinite(pages)) {
      throw this.#error('invalid_response', `count answer without numeric noOfItems/noOfPages`, resource, 'count', r.status);
    }
    return { items, pages };
  }

  /**
   * Calls `{base}/{resource}/{action}` and returns the envelope's results, retrying retryable
   * failures with backoff. Every attempt takes a slot from the account's budget first.
   */
  async call<T = unknown>(resource: string, action: string, body?: unknown, opts: CallOptions = {}): Promise<EmagResult<T>> {
    const idempotent = opts.idempotent ?? true;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt<T>(resource, action, body, opts, attempt);
      } catch (err) {
        if (!(err instanceof EmagError)) throw err;
        // A 429 was not processed, so even a non-idempotent write may go again.
        const safe = idempotent || err.kind === 'rate_limited';
        if (!err.retryable || !safe || attempt > this.#opts.maxRetries) throw err;
        let wait = backoffMs(attempt, this.#opts.backoffBaseMs, this.#opts.backoffCapMs);
        if (err.retryAfterSeconds !== null) wait = Math.max(wait, err.retryAfterSeconds * 1000);
        // After a 429 the 3-second window eMAG reports must drain before the next try.
        if (err.kind === 'rate_limited') wait = Math.max(wait, 1000 + Math.random() * 500);
        await sleep(wait, opts.signal);
      }
    }
  }

  async #attempt<T>(resource: string, action: string, body: unknown, opts: CallOptions, attempt: number): Promise<EmagResult<T>> {
    const budget = this.#opts.budget.for(resource);
    const waitedMs = await budget.take(opts.signal, { priority: this.#opts.priority });
    const started = performance.now();
    let status = 0;
    let kind: EmagErrorKind | null = null;
    try {
      const path = action ? `${resource}/${action}` : resource;
      let response: Response;
      try {
        response = await this.#http(path, {
          method: opts.method ?? 'POST',
          body: body === undefined || opts.method === 'GET' ? undefined : JSON.stringify(body),
          searchParams: opts.query,
          signal: opts.signal,
          // eMAG counts arrivals: a request that left later than its slot (a busy event loop, a new
          // connection) moves the next slot on, so the two cannot arrive closer than the spacing.
          onSent: (atMs: number) => budget.noteSentAt(atMs),
        } as Options);
      } catch (err) {
        const e = err as Error;
        if (opts.signal?.aborted) throw err;
        kind = e.name === 'TimeoutError' ? 'timeout' : 'network';
        const cause = (e.cause as Error | undefined)?.message;
        throw this.#error(kind, kind === 'timeout' ? `no answer within ${this.#opts.timeoutMs} ms` : `network error: ${cause ?? e.message}`, resource, action, null);
      }
      status = response.status;
      if (opts.binary && status === 200 && (response.headers.get('content-type') ?? '').toLowerCase().startsWith(opts.binary)) {
        const bytes = await withTimeout(answerBytes(response), this.#opts.timeoutMs);
        return { results: bytes as T, messages: [], status };
      }
      let text: string;
      let records: RawRecord[] | null = null;
      try {
        // ky's timeout covers the headers; a body that stalls or breaks off is the same failure.
        if (opts.records) {
          const body = await withTimeout(answerBytes(response), this.#opts.timeoutMs);
          // Not one JSON object (a truncated answer, a proxy's page): read as text, for the error that names it.
          const split = trySplit(body);
          text = split?.envelope ?? body.toString('utf8');
          records = split?.records ?? null;
        } else text = await withTimeout(response.text(), this.#opts.timeoutMs);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        kind = (err as Error).name === 'TimeoutError' ? 'timeout' : 'network';
        throw this.#error(kind, kind === 'timeout' ? `answer body not complete within ${this.#opts.timeoutMs} ms` : `network error while reading the answer: ${(err as Error).message}`, resource, action, status);
      }
      try {
        const result = this.#interpret<T>(response, text, resource, action);
        return records === null ? result : { ...result, results: records as T };
      } catch (err) {
        if (err instanceof EmagError) kind = err.kind;
        throw err;
      }
    } finally {
      this.#opts.onCall?.({
        account: this.account,
        resource,
        action,
        status,
        durationMs: performance.now() - started,
        waitedMs,
        error: kind,
        attempt,
      });
    }
  }

  #interpret<T>(response: Response, text: string, resource: string, action: string): EmagResult<T> {
    const status = response.status;
    const retryAfter = Number(response.headers.get('retry-after'));
    // Honoured, but never longer than our own backoff cap.
    const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, this.#opts.backoffCapMs / 1000) : null;
    if (status === 429) {
      throw this.#error('rate_limited', 'rate limit exceeded (HTTP 429)', resource, action, status, [], retryAfterSeconds);
    }
    if (status >= 500) throw this.#error('server', `server error (HTTP ${status})`, resource, action, status, [], retryAfterSeconds);
    // PATCH offer_stock answers 204 with no body on success.
    if (status === 204 && text.trim() === '') return { results: null as T, messages: [], status };

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // A proxy's or firewall's page: for 401/403 it still means no access, and any other 4xx is a
      // refusal; only on 2xx is a garbled answer worth reading again.
      if (status === 401 || status === 403) throw this.#error('auth', `not authorised (HTTP ${status}, no JSON answer)`, resource, action, status);
      const looksHtml = /^\s*</.test(text);
      const what = `${looksHtml ? 'HTML page' : 'invalid JSON'} instead of a JSON envelope (HTTP ${status})`;
      throw this.#error(status >= 400 ? 'rejected' : 'invalid_response', what, resource, action, status);
    }
    const env = (json ?? {}) as { isError?: unknown; messages?: unknown; message?: unknown; results?: unknown };
    // REST-style routes (offer_stock) answer errors as {"message": "..."} without the envelope.
    const messages = toMessages(env.messages ?? env.message);
    if (status === 401 || status === 403) {
      const k = kindOfMessages(messages);
      throw this.#error(k === 'ip_not_whitelisted' ? k : 'auth', messages[0] ?? `not authorised (HTTP ${status})`, resource, action, status, messages);
    }
    if (env.isError === true) {
      throw this.#error(kindOfMessages(messages), messages[0] ?? 'eMAG answered isError:true without a message', resource, action, status, messages);
    }
    if (status >= 400) throw this.#error('rejected', messages[0] ?? `HTTP ${status}`, resource, action, status, messages);
    if (env.isError !== false) {
      throw this.#error('invalid_response', 'answer without the isError:false envelope', resource, action, status);
    }
    return { results: env.results as T, messages, status };
  }

  #error(kind: EmagErrorKind, message: string, resource: string, action: string, status: number | null, messages: string[] = [], retryAfter: number | null = null): EmagError {
    return new EmagError(kind, message, this.account, resource, action, status, messages, retryAfter);
  }
}

/** The answer split around its records, or null when it is not one well-formed JSON object. */
function trySplit(body: Buffer): SplitAnswer | null {
  try {
    return splitAnswer(body);
  } catch (err) {
    if (err instanceof JsonShapeError) return null;
    throw err;
  }
}

/** eMAG's `messages` is a list of strings, or of objects with text inside; flatten to strings. */
function toMessages(raw: unknown): string[] {
  if (!Array.isArray(raw)) return typeof raw === 'string' ? [raw] : [];
  return raw.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).map((s) => s.slice(0, 500));
}

/**
 * The control routes' guard: a bearer token compared in constant time, refused outright when none is
 * configured, slowed down (429) after repeated failures from one address, and JSON-only, so that no
 * cross-site form or cookie-carrying request can act.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './reply.ts';
import type { Handler } from './route.ts';

/** Failed attempts one address may make in a minute before it is answered 429 for the rest of it. */
export const MAX_FAILURES_PER_MINUTE = 10;
const WINDOW_MS = 60_000;
/** Addresses remembered at most, so a flood of sources cannot grow memory without end. */
const MAX_ADDRESSES = 10_000;

/** Wraps control handlers; one per server, so its failure counts are the server's. */
export class ControlGuard {
  readonly #digest: Buffer | null;
  readonly #failures = new Map<string, number[]>();

  constructor(token: string | null) {
    this.#digest = token === null ? null : sha256(token);
  }

  /** The handler, reachable only with the right token and a JSON request. */
  wrap(handler: Handler): Handler {
    return async (req) => {
      if (this.#digest === null) throw new HttpError(403, 'control endpoints are disabled: set EMAG_SYNC_ADMIN_TOKEN', 'control endpoints are disabled: set EMAG_SYNC_ADMIN_TOKEN');
      const recent = this.#recentFailures(req.remoteAddress);
      if (recent.length >= MAX_FAILURES_PER_MINUTE) {
        const retryAfter = Math.max(1, Math.ceil((recent[0] + WINDOW_MS - Date.now()) / 1000));
        throw new HttpError(429, 'too_many_failures', `too many failed attempts from this address; try again in ${retryAfter} s`, { 'Retry-After': String(retryAfter) });
      }
      const header = req.headers.authorization ?? '';
      const presented = /^Bearer (.+)$/i.exec(header)?.[1]?.trim();
      // Comparing digests keeps the time independent of the token's length and of where it differs.
      if (presented === undefined || !timingSafeEqual(sha256(presented), this.#digest)) {
        this.#fail(req.remoteAddress);
        throw new HttpError(401, 'unauthorized', presented === undefined ? 'this route needs "Authorization: Bearer <EMAG_SYNC_ADMIN_TOKEN>"' : 'the bearer token is wrong', {
          'WWW-Authenticate': 'Bearer realm="emag-sync"',
        });
      }
      const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') throw new HttpError(415, 'unsupported_media_type', 'control requests must be sent with Content-Type: application/json');
      return handler(req);
    };
  }

  #recentFailures(address: string): number[] {
    const list = this.#failures.get(address);
    if (!list) return [];
    const since = Date.now() - WINDOW_MS;
    while (list.length > 0 && list[0] <= since) list.shift();
    if (list.length === 0) this.#failures.delete(address);
    return list;
  }

  #fail(address: string): void {
    const list = this.#recentFailures(address);
    list.push(Date.now());
    this.#failures.delete(address);
    this.#failures.set(address, list);
    // Maps keep insertion order: the first key is the address that failed least recently.
    if (this.#failures.size > MAX_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value as string);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

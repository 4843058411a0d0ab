/**
 * Switchable faults: each queued fault answers the next `count` matching API requests in place of
 * the real handler, the way eMAG or the proxies in front of it misbehave in production.
 */
import { fail, ok, plain, raw, type Reply } from './reply.ts';

/** What a faulty answer looks like. */
export type FaultKind =
  | 'server_error' // 500 HTML page
  | 'bad_gateway' // 502 HTML page
  | 'rate_limit' // 429 {"message":"API rate limit exceeded"}
  | 'malformed_json' // 200 with truncated JSON
  | 'html' // 200 text/html page
  | 'is_error' // 200 {isError:true, messages:[...]}
  | 'hang' // never answers until the sandbox closes
  | 'lost_response' // does the work, then never answers (a write whose outcome the client cannot know)
  | 'invalid_ip' // isError 'ERROR: Invalid vendor ip [...]'
  | 'no_envelope' // 200 JSON object without isError
  | 'results_not_list' // 200 envelope whose results is null, not a list
  | 'same_page'; // 200 envelope with the same full page of 100 records, whatever page was asked

/** Every fault kind, for validating control requests. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'server_error',
  'bad_gateway',
  'rate_limit',
  'malformed_json',
  'html',
  'is_error',
  'hang',
  'lost_response',
  'invalid_ip',
  'no_envelope',
  'results_not_list',
  'same_page',
];

/** A fault to inject; unset filters match everything. */
export interface FaultSpec {
  kind: FaultKind;
  /** How many matching requests it answers (default 1). */
  count?: number;
  /** Only requests of this account (its name, e.g. 'main'). */
  account?: string;
  /** Only this resource, e.g. 'product_offer'. */
  resource?: string;
  /** Only this action, e.g. 'read'. */
  action?: string;
}

/** The queue of pending faults, consumed first-queued first. */
export class FaultQueue {
  #pending: Array<FaultSpec & { left: number }> = [];

  /** Queues a fault. */
  add(spec: FaultSpec): void {
    if (!FAULT_KINDS.includes(spec.kind)) throw new Error(`unknown fault kind ${String(spec.kind)}`);
    this.#pending.push({ ...spec, left: spec.count ?? 1 });
  }

  /** Drops every pending fault. */
  clear(): void {
    this.#pending = [];
  }

  /** Takes one use of the first fault matching the request, if any. */
  take(account: string, resource: string, action: string): FaultKind | null {
    const i = this.#pending.findIndex(
      (f) =>
        (f.account === undefined || f.account === account) &&
        (f.resource === undefined || f.resource === resource) &&
        (f.action === undefined || f.action === action),
    );
    if (i < 0) return null;
    const f = this.#pending[i];
    if (--f.left <= 0) this.#pending.splice(i, 1);
    return f.kind;
  }
}

/** The answer eMAG gives a caller whose IP is not whitelisted (HTTP 200, isError). */
export function invalidIp(ip: string): Reply {
  return fail(`ERROR: Invalid vendor ip [${ip}]`);
}

/** The 429 eMAG's gateway sends: no envelope, only a message. */
export function rateLimited(limit: number): Reply {
  return {
    ...plain({ message: 'API rate limit exceeded' }, 429),
    headers: { 'X-RateLimit-Limit-3second': String(limit), 'X-RateLimit-Remaining-3second': '0' },
  };
}

const page = (title: string, text: string): string =>
  `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<p>${text}</p>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;

/** The reply for a fault kind (`hang` and `lost_response` are the server's business and have none). */
export function faultReply(kind: Exclude<FaultKind, 'hang' | 'lost_response'>, ip: string, limit: number): Reply {
  switch (kind) {
    case 'server_error':
      return raw(page('500 Internal Server Error', 'The server encountered an internal error.'), 500, 'text/html');
    case 'bad_gateway':
      return raw(page('502 Bad Gateway', 'The upstream server did not answer.'), 502, 'text/html');
    case 'rate_limit':
      return rateLimited(limit);
    case 'malformed_json':
      return raw('{"isError":false,"messages":[],"results":[{"id":1048,"part_number":"SKU-0', 200, 'application/json');
    case 'html':
      return raw(page('eMAG Marketplace', 'Site under maintenance. Please come back later.'), 200, 'text/html; charset=UTF-8');
    case 'is_error':
      return fail('An error occurred while processing your request. Please try again later.');
    case 'invalid_ip':
      return invalidIp(ip);
    case 'no_envelope':
      return plain({ results: [], status: 'ok' });
    case 'results_not_list':
      return ok(null);
    case 'same_page':
      // Paging ignored: ids any record kind reads (offers, orders, returns), the same every time.
      return ok(Array.from({ length: 100 }, (_, i) => ({ id: i + 1, emag_id: i + 1 })));
  }
}

/**
 * The callback routes eMAG calls: `/callbacks/<account>/order|cancellation|return|awb?token=…&<id>`.
 * A call is only a signal: it is queued in the database (a restart loses nothing, repeats coalesce,
 * callbacks arriving together are written in one statement) and answered 200 with an empty body at
 * once; the drain reads the record under the account's budget. No eMAG call ever happens here.
 *
 * A wrong or missing token, an unknown account and an unknown event all get the same 404 after the
 * same work (the token is compared in constant time whatever the account), so nothing can be learnt
 * from the answer or its timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList } from 'node:net';
import type { Cidr, Config } from '../../config.ts';
import type { Sql } from '../../db/connect.ts';
import { CALLBACK_EVENTS, type CallbackEvent, type CallbackWork, type EnqueueResult } from '../../db/callbacks.ts';
import { coerceError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { CallbackBatcher } from './batcher.ts';

/** What the callback routes need from the daemon. */
export interface CallbackDeps {
  sql: Sql;
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Called after a callback was queued, so the account's drain starts at once. */
  onQueued?(account: string): void;
}

/** One answer of a callback route. */
export interface CallbackReply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** The path prefix of every callback route. */
export const CALLBACK_PREFIX = '/callbacks/';

/** The queue write gets this long; the answer must leave within 100 ms whatever the database does. */
const QUEUE_TIMEOUT_MS = 80;
/** At most one overflow warning per account in this interval: a burst must not flood the log. */
const OVERFLOW_LOG_MS = 10_000;

/** The one 404 every refusal gets. */
const NOT_FOUND: CallbackReply = {
  status: 404,
  body: JSON.stringify({ error: 'not_found', message: 'not found' }),
  headers: { 'Content-Type': 'application/json; charset=utf-8' },
};
const EMPTY = (status: number): CallbackReply => ({ status, body: '', headers: {} });

/** Query parameters that may carry the record's id, per event, in order of preference. */
const ID_PARAMS: Record<CallbackEvent, string[]> = {
  order: ['order_id', 'id'],
  cancellation: ['order_id', 'id'],
  return: ['emag_id', 'rma_id', 'return_id', 'id'],
  awb: ['order_id'],
};
/** An AWB callback may name the AWB instead of (or besides) its order. */
const AWB_ID_PARAMS = ['emag_id', 'awb_id', 'awb_emag_id'];

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

function blockList(cidrs: Cidr[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list;
}

/** The peer address without the IPv4-mapped IPv6 prefix. */
function plainIp(ip: string): string {
  return ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

function contains(list: BlockList, ip: string): boolean {
  const family = ip.includes(':') ? 'ipv6' : 'ipv4';
  try {
    return list.check(ip, family);
  } catch {
    return false;
  }
}

/**
 * The caller's address: the socket's peer, or — only when the peer is a trusted proxy — the last
 * address in X-Forwarded-For that is not a trusted proxy itself (the ones before it are the client's say).
 */
export function sourceIp(req: IncomingMessage, trusted: BlockList, hasTrusted: boolean): string {
  let ip = plainIp(req.socket.remoteAddress ?? '');
  if (!hasTrusted || !contains(trusted, ip)) return ip;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => plainIp(h.trim())).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    ip = hops[i];
    if (!contains(trusted, ip)) return ip;
  }
  return ip;
}

/** Builds the handler of the callback routes; it never throws and never calls eMAG. */
export function callbackHandler(deps: CallbackDeps): (req: IncomingMessage, url: URL) => Promise<CallbackReply> {
  const { config, metrics, log } = deps;
  const cb = config.callbacks;
  const accounts = new Set(config.accounts.filter((a) => a.enabled).map((a) => a.name));
  // Compared as digests: equal lengths for timingSafeEqual, and nothing about the token's length leaks.
  const expected = sha256(cb.token ?? '');
  const allowed = cb.allowedIps ? blockList(cb.allowedIps) : null;
  const trusted = blockList(cb.trustedProxies);
  const lastOverflowLog = new Map<string, number>();
  const batcher = new CallbackBatcher(deps.sql, cb.queueMax);

  return async (req, url) => {
    const started = performance.now();
    try {
      return await answer(req, url);
    } finally {
      metrics.callbackAnswer.observe((performance.now() - started) / 1000);
    }
  };

  async function answer(req: IncomingMessage, url: URL): Promise<CallbackReply> {
    const [, , rawAccount = '', rawEvent = '', ...rest] = url.pathname.split('/');
    const account = rawAccount.toLowerCase();
    const event = rawEvent as CallbackEvent;
    const knownAccount = accounts.has(account) && rest.length === 0;
    const knownEvent = (CALLBACK_EVENTS as readonly string[]).includes(event);
    const count = (result: string) => metrics.callbacks.inc({ account: knownAccount ? account : 'unknown', event: knownEvent ? event : 'unknown', result });

    if (allowed && !contains(allowed, sourceIp(req, trusted, cb.trustedProxies.length > 0))) {
      count('forbidden');
      return NOT_FOUND;
    }
    const tokenOk = cb.token !== null && timingSafeEqual(sha256(url.searchParams.get('token') ?? ''), expected);
    if (!(tokenOk && knownAccount && knownEvent)) {
      count('not_found');
      return NOT_FOUND;
    }

    const read = (names: string[]): string | null => {
      for (const n of names) {
        const v = url.searchParams.get(n);
        if (v !== null && v !== '') return v;
      }
      return null;
    };
    const idText = read(ID_PARAMS[event]);
    const awbText = event === 'awb' ? read(AWB_ID_PARAMS) : null;
    if (idText === null && awbText === null) {
      // eMAG may probe a URL with a plain GET before using it.
      count('probe');
      return EMPTY(200);
    }
    const valid = (t: string | null) => t === null || /^[1-9]\d{0,17}$/.test(t);
    if (!valid(idText) || !valid(awbText)) {
      count('invalid');
      return EMPTY(400);
    }
    const work: CallbackWork = {
      account,
      event,
      targetId: Number(idText ?? awbText),
      awbId: awbText === null ? null : Number(awbText),
    };
    // An AWB callback that names only the AWB: the drain finds its order (target_id is the AWB then).
    if (event === 'awb' && idText === null) work.targetId = -work.targetId;

    const settle = (result: EnqueueResult): void => {
      if (result === 'overflow') {
        const now = Date.now();
        if (now - (lastOverflowLog.get(account) ?? 0) >= OVERFLOW_LOG_MS) {
          lastOverflowLog.set(account, now);
          log.warn({ account, event, queueMax: cb.queueMax }, 'callback queue full: further callbacks are left to the scheduled poll');
        }
      } else {
        deps.onQueued?.(account);
      }
    };
    const failed = (err: unknown): void => {
      count('error');
      log.warn({ account, event, err: coerceError(err).message }, 'callback: could not queue; the scheduled poll reads the record');
    };
    const write = batcher.enqueue(work);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), QUEUE_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([write, late]);
      if (result === 'late') {
        // Answered before the write finished (a busy database): the write goes on and is counted when done.
        count('late');
        write.then(settle, failed);
      } else {
        count(result);
        settle(result);
      }
    } catch (err) {
      failed(err);
    } finally {
      clearTimeout(timer);
    }
    return EMPTY(200);
  }
}

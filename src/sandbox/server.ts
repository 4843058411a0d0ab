/**
 * The sandbox eMAG Marketplace API: a node:http server that answers like eMAG for several seller
 * accounts — Basic auth, IP whitelisting, the envelope, per-account rate limits with 429, injected
 * faults and latency — and records every request so tests can check the client's behaviour.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SandboxAccount, type SandboxAccountSpec } from './account.ts';
import { type CallbackLogEntry, CallbackNotifier, type CallbackSpec } from './callbacks.ts';
import { control } from './control.ts';
import { FaultQueue, faultReply, invalidIp, rateLimited, type FaultKind, type FaultSpec } from './faults.ts';
import { EMAG_LIMITS, groupOf, RateLimiter, type LimitGroup, type Limits } from './limits.ts';
import { fail, type Reply } from './reply.ts';
import { type ApiPath, findRoute, parseApiPath } from './routes.ts';
import { Clock } from './time.ts';

// The sandbox's public surface: callers import everything from this file.
export { SandboxAccount, type SandboxAccountSpec } from './account.ts';
export { AWB_STATUSES, type AwbRecord } from './awbs.ts';
export { CALLBACK_EVENTS, type CallbackEvent, type CallbackLogEntry, type CallbackSpec } from './callbacks.ts';
export type { FaultKind, FaultSpec } from './faults.ts';
export { EMAG_LIMITS, windowViolations, type Limits, type Violation } from './limits.ts';
export { formatLocal, parseLocal } from './time.ts';

/** Options of `startSandbox`. */
export interface SandboxOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** The seller accounts to simulate. */
  accounts: SandboxAccountSpec[];
  /** How many part_numbers the first two accounts have in common. @default 0 */
  sharedSkus?: number;
  /** Seed of all generated data: the same seed (and `epoch`) gives identical data. @default 1 */
  seed?: number;
  /** The moment generated order and return history is dated back from. @default the start time */
  epoch?: Date;
  /** Milliseconds added to every API response (see `setLatency`). @default 0 */
  latencyMs?: number;
  /** Rate limits per account. @default eMAG's 12/s, 720/min for orders and 3/s, 180/min for the rest */
  limits?: Limits;
  /** False lifts the limits (ingest benchmarks); requests are still logged. @default true */
  enforceLimits?: boolean;
  /** Callback URLs per account name (see `setCallbacks`). @default none */
  callbacks?: Record<string, CallbackSpec>;
}

/** One API request as the sandbox saw it. */
export interface RequestLogEntry {
  /** Arrival time, `Date.now()` ms. */
  t: number;
  /** Account name, or null when authentication failed (such requests count against no budget). */
  account: string | null;
  /** HTTP method. */
  method: string;
  /** URL path without the query. */
  path: string;
  /** e.g. 'product_offer'. */
  resource: string;
  /** e.g. 'read', 'acknowledge', 'attachments/save'. */
  action: string;
  /** The rate budget the request draws on. */
  group: LimitGroup;
  /** HTTP status answered; 0 while unanswered (a `hang` fault never answers). */
  status: number;
  /** The parsed body of a write (anything but read/count), so tests can see exactly what was sent. */
  body?: unknown;
}

/** A running sandbox. */
export interface Sandbox {
  /** Base URL like `http://127.0.0.1:PORT/api-3` (no trailing slash). */
  url: string;
  /** Every API request in arrival order, including 401, 429 and faulted ones. */
  log: RequestLogEntry[];
  /** Every callback the sandbox sent, in order, with the status answered. */
  callbacks: CallbackLogEntry[];
  /** Callbacks in flight plus repeats scheduled (0 when no new order awaits acknowledgement). */
  pendingCallbacks(): number;
  /** An account's data and mutators; throws for an unknown name. */
  account(name: string): SandboxAccount;
  /** Where an account's callbacks go from now on; null turns them off. */
  setCallbacks(account: string, spec: CallbackSpec | null): void;
  /** Sets the latency added to every API response from now on. */
  setLatency(ms: number): void;
  /** Shifts the sandbox clock (order/RMA dates, date filters) by `ms` from real time. */
  setClockOffset(ms: number): void;
  /** Queues a fault. */
  fault(f: FaultSpec): void;
  /** Drops all queued faults. */
  clearFaults(): void;
  /** Stops the server and destroys every open socket, hung requests included. */
  close(): Promise<void>;
}

/** The base path of the API, as on eMAG. */
const BASE = '/api-3';
/** Bodies above this are refused rather than buffered. */
const MAX_BODY = 32 * 1024 * 1024;
/** eMAG refuses requests with more input variables than this (§1.4). */
const MAX_INPUT_VARS = 4000;

/** Starts a sandbox and resolves once it listens. */
export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const clock = new Clock();
  const seed = opts.seed ?? 1;
  const accounts = new Map<string, SandboxAccount>();
  const byUser = new Map<string, SandboxAccount>();
  const notifier = new CallbackNotifier(() => clock.now());
  for (const [name, spec] of Object.entries(opts.callbacks ?? {})) notifier.configure(name, spec);
  for (const [i, spec] of opts.accounts.entries()) {
    const account = new SandboxAccount(spec, i, seed, opts.sharedSkus ?? 0, clock, opts.epoch?.getTime() ?? clock.now(), notifier);
    accounts.set(spec.name, account);
    byUser.set(spec.username, account);
  }
  const limits = opts.limits ?? EMAG_LIMITS;
  const limiter = new RateLimiter(limits, opts.enforceLimits ?? true);
  const faults = new FaultQueue();
  const log: RequestLogEntry[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let latency = opts.latencyMs ?? 0;

  const send = (res: ServerResponse, reply: Reply, delay: number): void => {
    const write = (): void => {
      if (res.destroyed) return;
      const isRaw = typeof reply.body === 'string' || Buffer.isBuffer(reply.body);
      const payload = reply.status === 204 ? '' : isRaw ? (reply.body as string | Buffer) : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        ...reply.headers,
        'Content-Type': isRaw ? (reply.contentType ?? 'text/plain') : 'application/json',
        'Content-Length': Buffer.byteLength(payload),
      });
      res.end(payload);
    };
    if (delay <= 0) {
      write();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      write();
    }, delay);
    timers.add(timer);
  };

  /**
   * The gateway's checks in eMAG's order: authentication, rate limit, IP whitelist, then any
   * injected fault. Returns the reply that ends the request here, 'hang', or the rate headers to pass on.
   */
  const screen = (
    account: SandboxAccount | null,
    group: LimitGroup,
    resource: string,
    action: string,
    t: number,
    ip: string,
  ): Reply | 'hang' | 'lost_response' | { pass: Record<string, string> } => {
    // eMAG's REST-style routes answer 403; the classic ones 401 (eMAG's text either way).
    if (!account) return fail('You are not allowed to use this API.', 401);
    // Admission is decided at arrival, before the body is read, so the log order is the decision order.
    const admission = limiter.admit(account.name, group, t);
    if (!admission.allowed) return rateLimited(admission.limit);
    if (!account.allowedIp) return invalidIp(ip);
    const fault: FaultKind | null = faults.take(account.name, resource, action);
    if (fault === 'hang' || fault === 'lost_response') return fault;
    if (fault) return faultReply(fault, ip, admission.limit);
    return {
      pass: {
        'X-RateLimit-Limit-3second': String(admission.limit),
        'X-RateLimit-Remaining-3second': String(admission.remaining),
      },
    };
  };

  const handleApi = (req: IncomingMessage, res: ServerResponse, url: URL, body: Promise<unknown>, crash: (err: unknown) => void): void => {
    const t = Date.now();
    const method = req.method ?? 'GET';
    const path = parseApiPath(url.pathname.slice(BASE.length));
    const group = groupOf(path.resource);
    const account = authenticate(req.headers.authorization, byUser);
    const entry: RequestLogEntry = {
      t,
      account: account?.name ?? null,
      method,
      path: url.pathname,
      resource: path.resource,
      action: path.action,
      group,
      status: 0,
    };
    log.push(entry);
    const delay = latency;
    const answer = (reply: Reply): void => {
      entry.status = reply.status;
      send(res, reply, delay);
    };
    const ip = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const gate = screen(account, group, path.resource, path.action, t, ip);
    if (gate === 'hang') return;
    const isWrite = path.action !== 'read' && path.action !== 'count';
    if (gate === 'lost_response') {
      // The work is done; the answer is lost on the way back.
      body
        .then((parsed) => {
          if (isWrite) entry.body = parsed;
          route(parsed, path, method, url.searchParams, account as SandboxAccount);
        })
        .catch(crash);
      return;
    }
    if (!('pass' in gate)) {
      answer(gate);
      return;
    }
    const rateHeaders = gate.pass;
    body
      .then((parsed) => {
        if (isWrite) entry.body = parsed;
        const reply = route(parsed, path, method, url.searchParams, account as SandboxAccount);
        answer({ ...reply, headers: { ...rateHeaders, ...reply.headers } });
      })
      .catch(crash);
  };

  const target = {
    log,
    limits,
    accounts,
    fault: (f: FaultSpec) => faults.add(f),
    clearFaults: () => faults.clear(),
    setCallbacks: (account: string, spec: CallbackSpec | null) => notifier.configure(account, spec),
    setLatency: (ms: number) => {
      latency = ms;
    },
  };

  const server = createServer((req, res) => {
    // Nothing a client sends may take the sandbox down: any surprise becomes a 500 envelope.
    const crash = (err: unknown): void => {
      if (!res.headersSent) send(res, fail(`Internal error: ${(err as Error)?.message ?? String(err)}`, 500), 0);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://sandbox');
      // Start reading at once; routes wait for it only when they need it.
      const body = readBody(req);
      if (url.pathname.startsWith('/_sandbox/')) {
        body
          .then((parsed) => {
            const reply = parsed instanceof BodyError ? fail(parsed.message, parsed.status) : control(target, req.method ?? 'GET', url, parsed);
            send(res, reply, 0);
          })
          .catch(crash);
      } else if (url.pathname !== BASE && !url.pathname.startsWith(`${BASE}/`)) {
        body.then(() => send(res, fail('Invalid URL', 404), 0)).catch(crash);
      } else {
        handleApi(req, res, url, body, crash);
      }
    } catch (err) {
      crash(err);
    }
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}${BASE}`,
    log,
    callbacks: notifier.log,
    pendingCallbacks: () => notifier.pending,
    setCallbacks(account, spec) {
      if (!accounts.has(account)) throw new Error(`no sandbox account named ${account}`);
      notifier.configure(account, spec);
    },
    account(name) {
      const account = accounts.get(name);
      if (!account) throw new Error(`no sandbox account named ${name}`);
      return account;
    },
    setLatency(ms) {
      latency = ms;
    },
    setClockOffset(ms) {
      clock.offset = ms;
    },
    fault(f) {
      faults.add(f);
    },
    clearFaults() {
      faults.clear();
    },
    close() {
      notifier.close();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung and keep-alive sockets would otherwise hold close() open indefinitely.
        server.closeAllConnections();
      });
    },
  };
}

/** Runs the route for a parsed body, turning every failure into an eMAG-style answer. */
function route(parsed: unknown, path: ApiPath, method: string, query: URLSearchParams, account: SandboxAccount): Reply {
  if (parsed instanceof BodyError) return fail(parsed.message, parsed.status);
  const handler = findRoute(path, method);
  if (!handler) return fail('Invalid URL', 404);
  if (countVars(parsed, MAX_INPUT_VARS) > MAX_INPUT_VARS) return fail(`Maximum input vars of ${MAX_INPUT_VARS} exceeded`);
  try {
    return handler(account, { body: parsed, id: path.id, method, query });
  } catch (err) {
    return fail(`Internal error: ${(err as Error).message}`, 500);
  }
}

/** The account a Basic `Authorization` header authenticates, if any. */
function authenticate(header: string | undefined, byUser: ReadonlyMap<string, SandboxAccount>): SandboxAccount | null {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const account = byUser.get(decoded.slice(0, colon));
  return account && account.password === decoded.slice(colon + 1) ? account : null;
}

/** A request body that could not be used, with the status to answer. */
class BodyError {
  constructor(
    readonly message: string,
    readonly status: number,
  ) {}
}

/** Reads and parses a JSON body; an empty body is `{}`. Never rejects. */
function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => resolve(new BodyError('Request aborted.', 400)));
    req.on('end', () => {
      if (tooLarge) return resolve(new BodyError('Request body too large.', 413));
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(new BodyError('Invalid JSON in request body.', 400));
      }
    });
  });
}

/** Counts scalar leaves of a JSON value (PHP's "input vars"), stopping past `limit`. */
function countVars(value: unknown, limit: number): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length && count <= limit) {
    const v = stack.pop();
    if (v && typeof v === 'object') stack.push(...(Array.isArray(v) ? v : Object.values(v)));
    else count++;
  }
  return count;
}

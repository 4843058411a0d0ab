/**
 * The status server on node:http: one route table (a file per route under routes/, control routes
 * behind the guard), the Host check against DNS rebinding (421), security headers on every answer,
 * JSON errors (404, 405 with Allow, 400 for malformed requests, 413 for big bodies, 500 without
 * details), streamed answers (events, CSV), keep-alive, and a close that ends open sockets so
 * shutdown never waits on an idle browser tab.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { coerceError } from '../errors.ts';
import { CALLBACK_PREFIX, type CallbackReply } from './callbacks/handler.ts';
import { writeCallbackReply } from './callbacks/listener.ts';
import type { StatusContext } from './context.ts';
import { EventHub } from './events.ts';
import { ControlGuard } from './guard.ts';
import { hostAllowed } from './host-check.ts';
import { errorReply, HttpError, type Reply } from './reply.ts';
import type { Handler, Request, Route, RouteContext } from './route.ts';
import { accountTestRoute } from './routes/account-test.ts';
import { alertsRoute } from './routes/alerts.ts';
import { commandCancelRoute } from './routes/command-cancel.ts';
import { commandRetryRoute } from './routes/command-retry.ts';
import { commandsRoute } from './routes/commands.ts';
import { conflictResolveRoute } from './routes/conflict-resolve.ts';
import { conflictsRoute } from './routes/conflicts.ts';
import { eventsRoute } from './routes/events.ts';
import { exportRoute } from './routes/export.ts';
import { healthRoute } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { offerRoute } from './routes/offer.ts';
import { offersRoute } from './routes/offers.ts';
import { ordersRoute } from './routes/orders.ts';
import { faviconRoute, pageRoute } from './routes/page.ts';
import { productsRoute } from './routes/products.ts';
import { runRoute } from './routes/run.ts';
import { runCancelRoute } from './routes/run-cancel.ts';
import { runsRoute } from './routes/runs.ts';
import { statusRoute } from './routes/status.ts';
import { syncRoute } from './routes/sync.ts';
import { snapshotsFor } from './snapshot.ts';

export type { StatusContext } from './context.ts';

/** A listening status server. */
export interface StatusServer {
  /** Base URL, e.g. `http://127.0.0.1:8001`. */
  url: string;
  /** Stops listening, lets requests in flight finish briefly, then ends every socket. */
  close(): Promise<void>;
}

/** How long requests in flight get at close before their sockets are ended. */
const CLOSE_GRACE_MS = 1000;
/** The largest request body accepted (control requests are a few hundred bytes). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Sent with every answer: the page may load only its own files, never be framed, and never leak its
 * URL; browsers must not guess content types.
 */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

/** Every route of the server. HEAD is served wherever GET is; `control` routes are behind the guard. */
function routeTable(ctx: RouteContext): Route[] {
  const control = (handler: Handler) => ctx.guard.wrap(handler);
  return [
    { path: '/', methods: { GET: pageRoute(ctx, 'index.html') } },
    { path: '/console/app.js', methods: { GET: pageRoute(ctx, 'app.js') } },
    { path: '/console/style.css', methods: { GET: pageRoute(ctx, 'style.css') } },
    { path: '/favicon.ico', methods: { GET: faviconRoute(ctx) } },
    { path: '/health', methods: { GET: healthRoute(ctx) } },
    { path: '/metrics', methods: { GET: metricsRoute(ctx) } },
    { path: '/api/status', methods: { GET: statusRoute(ctx) } },
    { path: '/api/events', methods: { GET: eventsRoute(ctx) } },
    { path: '/api/runs', methods: { GET: runsRoute(ctx) } },
    { path: '/api/alerts', methods: { GET: alertsRoute(ctx) } },
    { path: '/api/runs/:id', methods: { GET: runRoute(ctx) } },
    { path: '/api/runs/:id/cancel', methods: { POST: control(runCancelRoute(ctx)) } },
    { path: '/api/offers', methods: { GET: offersRoute(ctx) } },
    { path: '/api/offers/:account/:id', methods: { GET: offerRoute(ctx) } },
    { path: '/api/products', methods: { GET: productsRoute(ctx) } },
    { path: '/api/orders', methods: { GET: ordersRoute(ctx) } },
    { path: '/api/export/:what', methods: { GET: exportRoute(ctx) } },
    { path: '/api/commands', methods: { GET: commandsRoute(ctx) } },
    { path: '/api/commands/:id/retry', methods: { POST: control(commandRetryRoute(ctx)) } },
    { path: '/api/commands/:id/cancel', methods: { POST: control(commandCancelRoute(ctx)) } },
    { path: '/api/conflicts', methods: { GET: conflictsRoute(ctx) } },
    { path: '/api/conflicts/:id/resolve', methods: { POST: control(conflictResolveRoute(ctx)) } },
    { path: '/api/sync', methods: { POST: control(syncRoute(ctx)) } },
    { path: '/api/accounts/:name/test', methods: { POST: control(accountTestRoute(ctx)) } },
  ];
}

/** The callback routes, when the status server serves them (no EMAG_CALLBACK_PORT). */
type CallbackRoutes = (req: IncomingMessage, url: URL) => Promise<CallbackReply>;

/** Starts the server on `ctx.config.host`:`ctx.config.port` (port 0 picks a free one). */
export async function startStatusServer(ctx: StatusContext, opts: { callbacks?: CallbackRoutes } = {}): Promise<StatusServer> {
  const routeCtx: RouteContext = { ...ctx, snapshots: snapshotsFor(ctx), guard: new ControlGuard(ctx.config.adminToken), events: { open: () => null, close() {} } };
  // The hub reads the status through the same context it is part of.
  routeCtx.events = new EventHub(routeCtx);
  const routes = routeTable(routeCtx);
  const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) => {
    // eMAG's callbacks come through a reverse proxy under the public host name, so they skip the Host
    // check; the token (and the source allowlist) guard them instead.
    if (opts.callbacks && req.url?.startsWith(CALLBACK_PREFIX)) {
      req.resume();
      const url = new URL(req.url, 'http://status.invalid');
      void opts.callbacks(req, url).then(
        (reply) => writeCallbackReply(req, res, reply),
        () => writeCallbackReply(req, res, { status: 500, body: '', headers: {} }),
      );
      return;
    }
    void respond(ctx, routes, req, res);
  });
  server.on('clientError', answerClientError);
  await listen(server, ctx.config.port, ctx.config.host);
  server.on('error', (err) => ctx.log.error({ err: err.message }, 'status server error'));

  const { port } = server.address() as { port: number };
  const host = ctx.config.host.includes(':') ? `[${ctx.config.host}]` : ctx.config.host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    close: () => {
      routeCtx.events.close();
      closing ??= close(server);
      return closing;
    },
  };
}

/** Routes one request and writes the answer; never throws, whatever the handler does. */
async function respond(ctx: StatusContext, routes: Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  let reply: Reply;
  try {
    reply = await dispatch(ctx, routes, req, gone.signal);
  } catch (err) {
    if (err instanceof HttpError) {
      reply = errorReply(err.status, err.code, err.message, err.headers, err.details);
    } else {
      const e = coerceError(err);
      ctx.log.error({ err: e.message, stack: e.stack, method: req.method, url: req.url }, 'status server: handler failed');
      reply = errorReply(500, 'internal_error', 'internal error; the daemon log has the details');
    }
  }
  // A body the handler did not read (even on GET) is drained, which keeps the keep-alive connection usable.
  if (!req.readableEnded) req.resume();
  if (res.headersSent || res.destroyed) {
    if (reply.body instanceof Readable) reply.body.destroy();
    return;
  }
  const headers = { 'Content-Type': reply.contentType, 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...reply.headers };
  if (reply.body instanceof Readable) {
    res.writeHead(reply.status, headers);
    if (req.method === 'HEAD') {
      reply.body.destroy();
      res.end();
      return;
    }
    // A client that goes away ends the pipeline; there is no one left to tell.
    await pipeline(reply.body, res).catch(() => {});
    return;
  }
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  res.writeHead(reply.status, { ...headers, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Finds the handler: 400 for a malformed URL, 404 for an unknown path, 405 (with Allow) for a wrong method. */
async function dispatch(ctx: StatusContext, routes: Route[], req: IncomingMessage, signal: AbortSignal): Promise<Reply> {
  if (!hostAllowed(ctx.config, req.headers.host)) {
    throw new HttpError(421, 'misdirected_request', 'this server does not answer to that Host name (add it to EMAG_SYNC_ALLOWED_HOSTS if it is yours)');
  }
  let url: URL;
  let segments: string[];
  try {
    url = new URL(req.url ?? '/', 'http://status.invalid');
    // URL keeps bad escapes like %zz as they are; decoding finds them.
    segments = url.pathname.split('/').map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'bad_request', 'malformed URL');
  }
  const match = matchRoute(routes, segments);
  if (!match) throw new HttpError(404, 'not_found', `no such path: ${url.pathname.slice(0, 200)} (try /, /health, /api/status, /api/runs, /api/alerts, /metrics)`);
  const { methods } = match.route;
  const handler: Handler | undefined = methods[(req.method === 'HEAD' ? 'GET' : req.method) as keyof typeof methods];
  if (!handler) {
    const allow = [...Object.keys(methods), ...('GET' in methods ? ['HEAD'] : [])].join(', ');
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname} (allowed: ${allow})`, { Allow: allow });
  }
  const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
  const request: Request = { method: req.method ?? 'GET', url, params: match.params, headers: req.headers, remoteAddress: req.socket.remoteAddress ?? '', body, signal };
  return handler(request);
}

/** The route whose path matches, segment by segment (`:name` matches any one segment). */
function matchRoute(routes: Route[], segments: string[]): { route: Route; params: Record<string, string> } | null {
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    if (!pattern.every((p, i) => (p.startsWith(':') ? segments[i] !== '' : p === segments[i]))) continue;
    const params: Record<string, string> = {};
    pattern.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = segments[i];
    });
    return { route, params };
  }
  return null;
}

/** Reads a request body of at most MAX_BODY_BYTES (413 beyond, without reading the rest). */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, 'payload_too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`, { Connection: 'close' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'payload_too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`, { Connection: 'close' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Requests node's parser rejects (garbage, oversized headers, timeouts) get a JSON error, then the socket closes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  const body = JSON.stringify({ error: 'bad_request', message: `malformed HTTP request (${text.toLowerCase()})` });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(new Error(`status server cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  });
}

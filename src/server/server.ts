/**
 * The status server on node:http: a route table, JSON errors (404, 405 with Allow, 400 for malformed
 * requests, 500 without details), keep-alive, and a close that ends open sockets so shutdown never
 * waits on an idle browser tab.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { coerceError } from '../errors.ts';
import type { StatusContext } from './context.ts';
import { healthRoute } from './health.ts';
import { metricsRoute } from './metrics-route.ts';
import { errorReply, type Handler, HttpError, type Reply } from './reply.ts';
import { runsRoute } from './runs-route.ts';
import { snapshotsFor } from './snapshot.ts';
import { statusRoute } from './status.ts';

export type { StatusContext } from './context.ts';

/** A listening status server. */
export interface StatusServer {
  /** Base URL, e.g. `http://127.0.0.1:8001`. */
  url: string;
  /** Stops listening, lets requests in flight finish briefly, then ends every socket. */
  close(): Promise<void>;
}

/** Path → method → handler. HEAD is served wherever GET is. */
type Routes = Record<string, Record<string, Handler>>;

/** How long requests in flight get at close before their sockets are ended. */
const CLOSE_GRACE_MS = 1000;

/** Starts the server on `ctx.config.host`:`ctx.config.port` (port 0 picks a free one). */
export async function startStatusServer(ctx: StatusContext): Promise<StatusServer> {
  const snapshots = snapshotsFor(ctx);
  const routes: Routes = {
    '/health': { GET: healthRoute(ctx, snapshots) },
    '/api/status': { GET: statusRoute(ctx, snapshots) },
    '/api/runs': { GET: runsRoute(ctx) },
    '/metrics': { GET: metricsRoute(ctx, snapshots) },
  };
  const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) => {
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
    close: () => (closing ??= close(server)),
  };
}

/** Routes one request and writes the answer; never throws, whatever the handler does. */
async function respond(ctx: StatusContext, routes: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A body (even on GET) is ignored; draining it keeps the keep-alive connection usable.
  req.resume();
  let reply: Reply;
  try {
    reply = await dispatch(routes, req);
  } catch (err) {
    if (err instanceof HttpError) {
      reply = errorReply(err.status, err.code, err.message, err.headers);
    } else {
      const e = coerceError(err);
      ctx.log.error({ err: e.message, stack: e.stack, method: req.method, url: req.url }, 'status server: handler failed');
      reply = errorReply(500, 'internal_error', 'internal error; the daemon log has the details');
    }
  }
  if (res.headersSent || res.destroyed) return;
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  res.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...reply.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Finds the handler: 400 for a malformed URL, 404 for an unknown path, 405 (with Allow) for a wrong method. */
function dispatch(routes: Routes, req: IncomingMessage): Promise<Reply> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://status.invalid');
    // URL keeps bad escapes like %zz as they are; decoding finds them.
    decodeURIComponent(url.pathname);
  } catch {
    throw new HttpError(400, 'bad_request', 'malformed URL');
  }
  const methods = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
  if (!methods) throw new HttpError(404, 'not_found', `no such path: ${url.pathname.slice(0, 200)} (try /health, /api/status, /api/runs, /metrics)`);
  const handler = methods[req.method === 'HEAD' ? 'GET' : (req.method ?? '')];
  if (!handler) {
    const allow = [...Object.keys(methods), ...('GET' in methods ? ['HEAD'] : [])].join(', ');
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname} (allowed: ${allow})`, { Allow: allow });
  }
  return handler(url);
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

/**
 * A listener of its own for the callback routes (EMAG_CALLBACK_HOST/EMAG_CALLBACK_PORT): it serves
 * nothing but `/callbacks/…`, so the status server can stay private while eMAG reaches this one
 * through a reverse proxy.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CALLBACK_PREFIX, type CallbackDeps, type CallbackReply, callbackHandler } from './handler.ts';

/** A listening callback server. */
export interface CallbackServer {
  /** Base URL, e.g. `http://127.0.0.1:8002`. */
  url: string;
  close(): Promise<void>;
}

const NOT_FOUND = JSON.stringify({ error: 'not_found', message: 'not found' });

/** Writes a callback reply (HEAD without a body). */
export function writeCallbackReply(req: IncomingMessage, res: ServerResponse, reply: CallbackReply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(reply.status, {
    'Content-Length': Buffer.byteLength(reply.body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...reply.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}

/** Starts the callback listener on `deps.config.callbacks.host`:`port` (0 picks a free port). */
export async function startCallbackServer(deps: CallbackDeps): Promise<CallbackServer> {
  const { host, port } = deps.config.callbacks;
  const handle = callbackHandler(deps);
  const server: Server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) => {
    req.resume();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://callbacks.invalid');
    } catch {
      url = new URL('http://callbacks.invalid/');
    }
    if (!url.pathname.startsWith(CALLBACK_PREFIX)) {
      writeCallbackReply(req, res, { status: 404, body: NOT_FOUND, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
      return;
    }
    void handle(req, url).then(
      (reply) => writeCallbackReply(req, res, reply),
      () => writeCallbackReply(req, res, { status: 500, body: '', headers: {} }),
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(new Error(`callback server cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', fail);
    server.listen(port ?? 0, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  server.on('error', (err) => deps.log.error({ err: err.message }, 'callback server error'));
  const address = server.address() as { port: number };
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}

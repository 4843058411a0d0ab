/**
 * The `fetch` the eMAG client's ky runs on: node:http(s) with keep-alive agents instead of Node's
 * built-in fetch (undici). Measured against the sandbox, 140 kB pages six at a time: undici spends
 * about 0.9 ms more CPU per page than node:http does — at 15,000 offers/s (fifty accounts at eMAG's
 * limits) most of a core. ky stays the client (timeouts, its Request and Response); only the
 * transport under it changes.
 *
 * What it does: the request's method, headers and body, and a call once they are sent; gzip, deflate and br answers decoded (off
 * the main thread: zlib's async calls run on libuv's pool); the whole answer read before it resolves
 * (ky's timeout covers the body too); the request's signal aborts it. Redirects are not followed: an
 * API route that redirects is a wrong base URL, and its answer is reported as what it is.
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

/** Idle keep-alive sockets are closed after this (eMAG's servers close theirs after a few seconds; a reused dead one fails a request). */
const IDLE_SOCKET_MS = 4000;

const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
};

const decoders: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress),
};

/** Statuses whose answer has no body, which a Response refuses to carry. */
const NO_BODY = new Set([101, 204, 205, 304]);

/** An answer's headers as a Headers object. */
function headersOf(raw: http.IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
  }
  return h;
}

/** What httpFetch takes besides a fetch's: ky hands options it does not know of to its fetch. */
export interface HttpFetchOptions extends RequestInit {
  /**
   * Called once the whole request is handed to the OS, with when that was (performance.now() time):
   * the moment the server's rate windows count from.
   */
  onSent?: (atMs: number) => void;
}

/**
 * Sends a request and resolves with the whole answer. Network failures reject as fetch's do: a
 * TypeError whose `cause` says why. A Request (what ky passes) is sent as it is; `init` then only
 * carries `onSent`.
 */
export async function httpFetch(input: Request | URL | string, init?: HttpFetchOptions): Promise<Response> {
  const request = input instanceof Request ? input : new Request(input, init);
  const url = new URL(request.url);
  const agent = agents[url.protocol as keyof typeof agents];
  if (agent === undefined) throw new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${url.protocol}`) });
  const body = request.body === null ? null : Buffer.from(await request.arrayBuffer());
  const signal = request.signal;
  signal.throwIfAborted();

  const headers: Record<string, string> = Object.fromEntries(request.headers);
  headers['accept-encoding'] ??= 'gzip, deflate, br';
  if (body !== null) headers['content-length'] = String(body.length);
  const send = url.protocol === 'https:' ? https.request : http.request;

  const { status, statusText, raw, bytes } = await new Promise<{ status: number; statusText: string; raw: http.IncomingHttpHeaders; bytes: Buffer }>((resolve, reject) => {
    const req = send(url, { method: request.method, headers, agent });
    const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError'));
    signal.addEventListener('abort', onAbort, { once: true });
    const fail = (err: Error) => {
      signal.removeEventListener('abort', onAbort);
      reject(signal.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    };
    req.once('error', fail);
    const onSent = init?.onSent;
    if (onSent) {
      // 'finish' comes once every byte is handed to the OS, but it is a tick that waits behind any
      // queued before it, and behind the process being descheduled by the write's wakeup of the
      // server: measured in an orders backfill, 3.4–7.4 ms after the write in one request of ten.
      // A connected socket is written in the very call that emits 'socket', right after it; when
      // that write took every byte at once (nothing left buffered at the next tick), the request
      // left then. Otherwise (a new connection, a write that had to wait) it left by 'finish'. A TLS
      // socket always looks like the latter (Node completes its writes in a later phase even when
      // they went at once), so over https the note stays at 'finish': late at times, never early.
      let wroteAt: number | null = null;
      req.once('socket', (socket) => {
        if (socket.connecting) return;
        const at = performance.now();
        process.nextTick(() => {
          if (socket.writableLength === 0 && !socket.destroyed) wroteAt = at;
        });
      });
      req.once('finish', () => onSent(wroteAt ?? performance.now()));
    }
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', fail);
      res.once('aborted', () => fail(new Error('the answer broke off')));
      res.once('end', () => {
        signal.removeEventListener('abort', onAbort);
        if (!res.complete) return fail(new Error('the answer broke off'));
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', raw: res.headers, bytes: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
      });
    });
    req.end(body ?? undefined);
  });

  if (status < 200 || status > 599) throw new TypeError('fetch failed', { cause: new Error(`HTTP status ${status} is not an answer`) });
  const responseHeaders = headersOf(raw);
  let content = bytes;
  const encoding = (raw['content-encoding'] ?? '').toLowerCase().trim();
  if (encoding !== '' && encoding !== 'identity' && content.length > 0) {
    const decode = decoders[encoding];
    if (decode === undefined) throw new TypeError('fetch failed', { cause: new Error(`unsupported content-encoding ${encoding}`) });
    try {
      content = await decode(content);
    } catch (err) {
      throw new TypeError('fetch failed', { cause: new Error(`the ${encoding} answer does not decode: ${(err as Error).message}`) });
    }
    responseHeaders.delete('content-encoding');
    responseHeaders.delete('content-length');
  }
  const response = new Response(NO_BODY.has(status) ? null : content, { status, statusText, headers: responseHeaders });
  received.set(response, content);
  return response;
}

/** The bytes of each answer httpFetch made, as received: reading them through the Response's stream would copy them again. */
const received = new WeakMap<Response, Buffer>();

/**
 * An answer's body as bytes: as received when httpFetch made it (no copy through its stream; the
 * Response's own body is left as it is), else read from the Response.
 */
export async function answerBytes(response: Response): Promise<Buffer> {
  const bytes = received.get(response);
  if (bytes !== undefined) return bytes;
  return Buffer.from(await response.arrayBuffer());
}

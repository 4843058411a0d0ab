/**
 * The node:http transport under ky, against a real local HTTP server: what it sends, what it hands
 * back (decoded), and how it fails — every failure a rejection that says why, none a hang.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import { type ClientRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import { answerBytes, httpFetch } from '../src/emag/http-fetch.ts';
import { freePort } from '../src/db/connect.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let handler: Handler = (_req, res) => res.end();
const connections: number[] = [];
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  handler(req, res, Buffer.concat(chunks));
});
server.on('connection', () => connections.push(Date.now()));
let base = '';

before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('the method, headers and body arrive; the status, headers and body come back', async () => {
  let seen: { method?: string; auth?: string; type?: string; length?: string; body?: string; encoding?: string } = {};
  handler = (req, res, body) => {
    seen = { method: req.method, auth: req.headers.authorization, type: req.headers['content-type'], length: req.headers['content-length'], body: body.toString(), encoding: req.headers['accept-encoding'] };
    res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '3', 'set-cookie': ['a=1', 'b=2'] });
    res.end('{"ok":true}');
  };
  const r = await httpFetch(`${base}/product_offer/read`, { method: 'POST', headers: { authorization: 'Basic eA==', 'content-type': 'application/json' }, body: '{"currentPage":1}' });
  assert.deepEqual(seen, { method: 'POST', auth: 'Basic eA==', type: 'application/json', length: '17', body: '{"currentPage":1}', encoding: 'gzip, deflate, br' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('retry-after'), '3');
  assert.equal(r.headers.get('set-cookie'), 'a=1, b=2');
  assert.deepEqual(await r.json(), { ok: true });
});

test('gzip, deflate and br answers are decoded; bytes come back as received, once', async () => {
  const payload = JSON.stringify({ isError: false, results: Array.from({ length: 200 }, (_, id) => ({ id, name: 'ăîșț' })) });
  for (const [name, encode] of [
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const) {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-encoding': name, 'content-type': 'application/json' });
      res.end(encode(payload));
    };
    const r = await httpFetch(`${base}/x`, { method: 'POST', body: '{}' });
    assert.equal(r.headers.get('content-encoding'), null, name);
    assert.equal((await answerBytes(r)).toString(), payload, name);
  }
  handler = (_req, res) => res.end(payload);
  const plain = await httpFetch(`${base}/x`);
  assert.equal(await plain.text(), payload, 'read through the Response, the same bytes');
  assert.equal((await answerBytes(plain)).toString(), payload, 'after the body was read through the Response, answerBytes still has the bytes');
});

test('an answer that does not decode, or is encoded in an unknown way, rejects as a fetch failure that says so', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-encoding': 'gzip' });
    res.end('not gzip at all');
  };
  await assert.rejects(httpFetch(`${base}/x`), (err: TypeError) => err instanceof TypeError && /gzip answer does not decode/.test((err.cause as Error).message));
  handler = (_req, res) => {
    res.writeHead(200, { 'content-encoding': 'zstd' });
    res.end('x');
  };
  await assert.rejects(httpFetch(`${base}/x`), (err: TypeError) => /unsupported content-encoding zstd/.test((err.cause as Error).message));
});

test('redirects are not followed, and a 204 has no body', async () => {
  handler = (_req, res) => {
    res.writeHead(302, { location: '/elsewhere' });
    res.end('<html>moved</html>');
  };
  const moved = await httpFetch(`${base}/x`, { method: 'POST', body: '{}' });
  assert.equal(moved.status, 302);
  assert.equal(await moved.text(), '<html>moved</html>');
  handler = (_req, res) => {
    res.writeHead(204);
    res.end();
  };
  const empty = await httpFetch(`${base}/x`);
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), '');
});

test('the signal aborts a request whose answer stalls, with the signal’s reason', async () => {
  handler = (_req, res) => {
    res.writeHead(200);
    res.write('{"isError":false,'); // and nothing more
  };
  const abort = new AbortController();
  const pending = httpFetch(`${base}/x`, { signal: abort.signal });
  setTimeout(() => abort.abort(new Error('the daemon is stopping')), 50);
  await assert.rejects(pending, /the daemon is stopping/);
  await assert.rejects(httpFetch(`${base}/x`, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('a broken-off answer and a refused connection reject as fetch failures, with the cause', async () => {
  handler = (req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('{"isError":false');
    setTimeout(() => req.socket.destroy(), 20);
  };
  await assert.rejects(httpFetch(`${base}/x`), (err: TypeError) => err instanceof TypeError && err.message === 'fetch failed' && err.cause instanceof Error);
  const port = await freePort();
  await assert.rejects(httpFetch(`http://127.0.0.1:${port}/x`), (err: TypeError) => err instanceof TypeError && /ECONNREFUSED/.test(String((err.cause as { code?: string }).code ?? (err.cause as Error).message)));
  await assert.rejects(httpFetch('ftp://127.0.0.1/x'), (err: TypeError) => /unsupported protocol ftp:/.test((err.cause as Error).message));
});

test('requests one after another reuse one kept-alive connection', async () => {
  handler = (_req, res) => res.end('{}');
  await httpFetch(`${base}/warm`);
  const before = connections.length;
  for (let i = 0; i < 5; i++) assert.equal(await (await httpFetch(`${base}/x`, { method: 'POST', body: '{}' })).text(), '{}');
  assert.equal(connections.length, before, 'no new connection for the next five');
});

test('onSent gives when a kept-alive request was written, not when its finish came: a stall of the process between the two does not move it', async () => {
  handler = (_req, res) => res.end('ok');
  await (await httpFetch(`${base}/warm`)).text();
  // Right after the request is written, before its 'finish', the process stalls for 30 ms (as when
  // the write's wakeup of the server deschedules it, or another tick runs long): Node publishes
  // http.client.request.start just after a kept-alive socket's write, in the same call.
  let stallFrom = 0;
  const stall = (message: unknown) => {
    if ((message as { request: ClientRequest }).request.path !== '/stalled') return;
    stallFrom = performance.now();
    while (performance.now() - stallFrom < 30);
  };
  diagnostics.subscribe('http.client.request.start', stall);
  let sentAt = 0;
  let calledAt = 0;
  try {
    const onSent = (at: number) => {
      sentAt = at;
      calledAt = performance.now();
    };
    assert.equal(await (await httpFetch(`${base}/stalled`, { method: 'POST', body: 'x', onSent } as RequestInit)).text(), 'ok');
  } finally {
    diagnostics.unsubscribe('http.client.request.start', stall);
  }
  assert.ok(stallFrom > 0 && calledAt - stallFrom >= 30, 'the stall came between the write and the call');
  assert.ok(sentAt > 0 && sentAt <= stallFrom, `noted at the write (${(stallFrom - sentAt).toFixed(2)} ms before the stall), not ${(calledAt - stallFrom).toFixed(1)} ms after it`);
});

test('onSent: once per request, on a new connection and on a kept-alive one, before its answer comes back', async () => {
  let answered = 0;
  handler = (_req, res) => {
    answered++;
    res.end('ok');
  };
  const calls: Array<{ at: number; answeredBefore: number }> = [];
  const onSent = (at: number) => {
    assert.ok(at <= performance.now(), 'the time given is not in the future');
    calls.push({ at, answeredBefore: answered });
  };
  const before = connections.length;
  for (let i = 0; i < 3; i++) {
    const res = await httpFetch(`${base}/sent/${i}`, { method: 'POST', body: `n=${i}`, onSent } as RequestInit);
    assert.equal(await res.text(), 'ok');
    assert.equal(calls.length, i + 1, `request ${i}: onSent once`);
    assert.equal(calls[i].answeredBefore, i, `request ${i}: noted before the server answered it`);
  }
  assert.ok(connections.length - before <= 1, 'the later requests went over the kept-alive connection');
  // A request that fails before it is written is never noted as sent.
  const refused = `http://127.0.0.1:${await freePort()}`;
  await assert.rejects(httpFetch(refused, { method: 'POST', body: 'x', onSent } as RequestInit), TypeError);
  assert.equal(calls.length, 3);
});

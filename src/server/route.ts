/**
 * The shape every status-server route follows: a file under `routes/` exports a factory that takes
 * the server's context and returns a handler; the handler gets the parsed request and returns a Reply
 * (or throws an HttpError). `server.ts` lists the routes in one table.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { StatusContext } from './context.ts';
import type { Reply } from './reply.ts';
import type { Snapshots } from './snapshot.ts';

/** One request, as a handler sees it. */
export interface Request {
  method: string;
  url: URL;
  /** The `:name` segments of the route's path, decoded. */
  params: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The peer's address, for per-address limits. */
  remoteAddress: string;
  /** The body (POST only; empty otherwise), at most MAX_BODY_BYTES. */
  body: Buffer;
  /** Aborted when the client goes away, so a long answer (a stream) can stop. */
  signal: AbortSignal;
}

/** A route handler. */
export type Handler = (req: Request) => Promise<Reply>;

/** What route factories get: the daemon's parts and the server's shared snapshot loaders, event hub and guard. */
export interface RouteContext extends StatusContext {
  snapshots: Snapshots;
  /** The event stream's clients (an EventHub): `open` gives a new client's stream, null when full. */
  events: { open(): Readable | null; close(): void };
  /** The control routes' guard (a ControlGuard). */
  guard: { wrap(handler: Handler): Handler };
}

/** One entry of the route table: a path (`/api/runs/:id`) and a handler per method. */
export interface Route {
  path: string;
  methods: Partial<Record<'GET' | 'POST', Handler>>;
}

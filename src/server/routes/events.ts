/**
 * GET /api/events: the console's Server-Sent Events stream (see ../events.ts).
 */
import { HttpError } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/events with a stream that lasts as long as the client stays. */
export function eventsRoute(ctx: RouteContext): Handler {
  return async () => {
    const stream = ctx.events.open();
    if (!stream) throw new HttpError(503, 'too_many_clients', 'too many event-stream clients are connected; the page polls instead');
    return { status: 200, contentType: 'text/event-stream; charset=utf-8', body: stream, headers: { 'X-Accel-Buffering': 'no' } };
  };
}

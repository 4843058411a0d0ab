/**
 * POST /api/commands/<id>/retry: puts a failed outbox command back in the queue (attempts reset).
 */
import { commandStatus, retryCommand } from '../../db/outbox-queries.ts';
import { idParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers POST /api/commands/<id>/retry (behind the guard): 200, 404 unknown, 409 not failed. */
export function commandRetryRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const id = idParam(params.id);
    if (await retryCommand(ctx.sql, id)) return json(200, { id, status: 'pending' });
    const status = await commandStatus(ctx.sql, id);
    if (status === null) throw new HttpError(404, 'not_found', `no command ${id}`);
    throw new HttpError(409, 'not_failed', `command ${id} is ${status}; only failed commands can be retried`);
  };
}

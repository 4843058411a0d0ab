/**
 * POST /api/commands/<id>/cancel: an operator gives up on a pending or failed outbox command.
 */
import { cancelCommand, commandStatus } from '../../db/outbox-queries.ts';
import { idParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers POST /api/commands/<id>/cancel (behind the guard): 200, 404 unknown, 409 in another state. */
export function commandCancelRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const id = idParam(params.id);
    if (await cancelCommand(ctx.sql, id)) return json(200, { id, status: 'cancelled' });
    const status = await commandStatus(ctx.sql, id);
    if (status === null) throw new HttpError(404, 'not_found', `no command ${id}`);
    const hint = status === 'conflict' ? ' (resolve its conflict instead)' : '';
    throw new HttpError(409, 'not_cancellable', `command ${id} is ${status}; only pending or failed commands can be cancelled${hint}`);
  };
}

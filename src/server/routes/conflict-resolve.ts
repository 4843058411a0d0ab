/**
 * POST /api/conflicts/<id>/resolve `{"keep": "local"|"emag"}`: a person's decision on a parked
 * conflict, as `emag-sync conflicts resolve` makes it (local: send the command anyway; emag: drop it).
 */
import { resolveConflict } from '../../db/commands.ts';
import { conflictStatus } from '../../db/outbox-queries.ts';
import { jsonBody } from '../body.ts';
import { idParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers POST /api/conflicts/<id>/resolve (behind the guard): 200, 400 bad body, 404 unknown, 409 resolved. */
export function conflictResolveRoute(ctx: RouteContext): Handler {
  return async (req) => {
    const id = idParam(req.params.id);
    const { keep } = jsonBody(req, ['keep']);
    if (keep !== 'local' && keep !== 'emag') throw new HttpError(400, 'bad_request', 'keep: must be "local" or "emag"');
    if (await resolveConflict(ctx.sql, id, keep)) return json(200, { id, keep });
    const status = await conflictStatus(ctx.sql, id);
    if (status === null) throw new HttpError(404, 'not_found', `no conflict ${id}`);
    throw new HttpError(409, 'already_resolved', `conflict ${id} is already ${status}`);
  };
}

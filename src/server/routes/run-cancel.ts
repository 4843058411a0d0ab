/**
 * POST /api/runs/<id>/cancel: asks a running run to stop. It ends `cancelled` and keeps what it
 * committed (the stream checkpoints at the page in flight).
 */
import { loadRun } from '../../db/run-reports.ts';
import { idParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers POST /api/runs/<id>/cancel (behind the guard): 202, 404 unknown, 409 not running (here). */
export function runCancelRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const id = idParam(params.id);
    const run = await loadRun(ctx.sql, id);
    if (!run) throw new HttpError(404, 'not_found', `no run ${id}`);
    if (run.status !== 'running') throw new HttpError(409, 'not_running', `run ${id} is not running (it ended ${run.status})`);
    if (!ctx.scheduler.cancelRun?.(id, 'cancelled from the console')) {
      throw new HttpError(409, 'not_running_here', `run ${id} is not run by this instance (account ${run.account} is synced elsewhere, or it is just ending)`);
    }
    return json(202, { runId: id, status: 'cancelling' });
  };
}

/**
 * GET /api/runs/<id>: one run with its figures.
 */
import { loadRun } from '../../db/run-reports.ts';
import { idParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';
import { runJson } from '../run-json.ts';

/** Answers GET /api/runs/<id>; 404 for an unknown run. */
export function runRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const run = await loadRun(ctx.sql, idParam(params.id));
    if (!run) throw new HttpError(404, 'not_found', `no run ${params.id}`);
    return json(200, runJson(run));
  };
}

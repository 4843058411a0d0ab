/**
 * GET /api/conflicts?status=open|all: offer changes parked for a person (strategy `manual`), with the
 * local and eMAG values side by side; open ones by default.
 */
import { listConflicts } from '../../db/commands.ts';
import { oneOfParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/conflicts. */
export function conflictsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const all = oneOfParam(url.searchParams, 'status', ['open', 'all'] as const) === 'all';
    return json(200, { items: await listConflicts(ctx.sql, all) });
  };
}

/**
 * GET /api/runs?account=&stream=&status=&before=<id>&limit=: run history, newest first, with each
 * run's figures; `before` pages on from the last run of the previous page (keyset paging).
 */
import { STREAMS } from '../../config.ts';
import { loadRuns } from '../../db/run-reports.ts';
import type { RunStatus } from '../../db/runs.ts';
import { accountParam, MAX_LIMIT, oneOfParam, wholeParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';
import { runJson } from '../run-json.ts';

/** Runs listed when `limit` is not given. */
export const DEFAULT_RUNS = 50;
/** Every status a run can have. */
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted'];

/** Answers GET /api/runs after validating the query (unknown account → 404, bad values → 400 naming them). */
export function runsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const filter = {
      account: accountParam(ctx, params.get('account')),
      stream: oneOfParam(params, 'stream', STREAMS),
      status: oneOfParam(params, 'status', RUN_STATUSES),
      before: wholeParam(params, 'before', 1, Number.MAX_SAFE_INTEGER),
      limit: wholeParam(params, 'limit', 1, MAX_LIMIT) ?? DEFAULT_RUNS,
    };
    const runs = await loadRuns(ctx.sql, filter);
    // The next page starts after the last run listed; none when this page was not full.
    const next = runs.length === filter.limit ? runs[runs.length - 1].id : null;
    return json(200, { runs: runs.map(runJson), next });
  };
}

/**
 * GET /api/runs?account=&stream=&limit=: run history, newest first, with each run's figures.
 */
import { STREAMS } from '../../config.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';
import { loadRuns, type RunSummary } from '../../db/run-reports.ts';

/** Runs listed when `limit` is not given, and the most one request may ask for. */
export const DEFAULT_RUNS = 50;
export const MAX_RUNS = 500;

/** Answers GET /api/runs after validating the query (unknown account → 404, bad stream or limit → 400). */
export function runsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const account = params.get('account') || undefined;
    if (account !== undefined && !ctx.config.accounts.some((a) => a.name === account)) {
      throw new HttpError(404, 'unknown_account', `no account named "${account}" (accounts: ${ctx.config.accounts.map((a) => a.name).join(', ')})`);
    }
    const stream = params.get('stream') || undefined;
    if (stream !== undefined && !(STREAMS as readonly string[]).includes(stream)) {
      throw new HttpError(400, 'bad_request', `stream must be one of ${STREAMS.join(', ')}`);
    }
    const limit = parseLimit(params.get('limit'));
    const runs = await loadRuns(ctx.sql, { account, stream, limit });
    return json(200, { runs: runs.map(present) });
  };
}

function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return DEFAULT_RUNS;
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= MAX_RUNS)) throw new HttpError(400, 'bad_request', `limit must be a whole number from 1 to ${MAX_RUNS}`);
  return n;
}

function present(r: RunSummary) {
  return {
    ...r,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    durationSeconds: r.finishedAt ? Math.round((r.finishedAt.getTime() - r.startedAt.getTime()) / 100) / 10 : null,
  };
}

/**
 * GET /api/commands?account=&kind=&status=&page=&limit=: the outbox, newest first, paged.
 */
import { COMMAND_KINDS } from '../../db/commands.ts';
import { listCommands } from '../../db/outbox-queries.ts';
import { accountParam, oneOfParam, pagingParams } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Every status an outbox command can have. */
export const COMMAND_STATUSES = ['pending', 'running', 'done', 'failed', 'conflict', 'cancelled'] as const;

/** Answers GET /api/commands. */
export function commandsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const filter = { account: accountParam(ctx, params.get('account')), kind: oneOfParam(params, 'kind', COMMAND_KINDS), status: oneOfParam(params, 'status', COMMAND_STATUSES) };
    const paging = pagingParams(params);
    const { items, total } = await listCommands(ctx.sql, filter, paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

/**
 * GET /api/offers?account=&q=&status=&page=&limit=: one account's offers (or all accounts'),
 * searched by SKU, name or PNK, paged: `{items, total, page, limit}`.
 */
import { listOffers } from '../../db/catalog-queries.ts';
import { accountParam, pagingParams, textParam, wholeParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/offers. */
export function offersRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const filter = { account: accountParam(ctx, params.get('account')), q: textParam(params, 'q'), status: wholeParam(params, 'status', 0, 32767) };
    const paging = pagingParams(params);
    const { items, total } = await listOffers(ctx.sql, filter, paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

/**
 * GET /api/orders?account=&status=&q=&page=&limit=: mirrored orders, newest first, searched by order
 * id or customer name, paged.
 */
import { listOrders } from '../../db/order-queries.ts';
import { accountParam, pagingParams, textParam, wholeParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/orders. */
export function ordersRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const filter = { account: accountParam(ctx, params.get('account')), status: wholeParam(params, 'status', 0, 32767), q: textParam(params, 'q') };
    const paging = pagingParams(params);
    const { items, total } = await listOrders(ctx.sql, filter, paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

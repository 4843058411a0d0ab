/**
 * GET /api/products?q=&page=&limit=: the unified catalog (one row per SKU across accounts, in
 * catalog priority), searched by SKU, name or PNK, paged.
 */
import { listProducts } from '../../db/catalog-queries.ts';
import { pagingParams, textParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/products. */
export function productsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const paging = pagingParams(url.searchParams);
    const { items, total } = await listProducts(ctx.sql, textParam(url.searchParams, 'q'), paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

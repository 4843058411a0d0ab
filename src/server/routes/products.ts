/**
 * GET /api/products?q=&page=&limit=: the unified catalog (one row per SKU across accounts, in
 * catalog priority), searched by SKU, name or PNK, paged; `format=csv` streams every match as CSV.
 */
import { eachProduct, listProducts, type ProductListItem } from '../../db/catalog-queries.ts';
import { csvReply } from '../csv.ts';
import { oneOfParam, pagingParams, textParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

const CSV_COLUMNS = ['part_number', 'source_account', 'offer_id', 'part_number_key', 'name', 'brand', 'status', 'sale_price', 'currency', 'stock', 'accounts', 'updated_at'] as const;

/** Answers GET /api/products. */
export function productsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const q = textParam(url.searchParams, 'q');
    if (oneOfParam(url.searchParams, 'format', ['json', 'csv'] as const) === 'csv') return csvReply<ProductListItem>('products.csv', CSV_COLUMNS, eachProduct(ctx.sql, q));
    const paging = pagingParams(url.searchParams);
    const { items, total } = await listProducts(ctx.sql, q, paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

/**
 * GET /api/offers?account=&q=&status=&page=&limit=: one account's offers (or all accounts'),
 * searched by SKU, name or PNK, paged: `{items, total, page, limit}`. With `format=csv`, every
 * offer the filter matches (all pages) as a streamed CSV download.
 */
import { eachOffer, listOffers, type OfferListItem } from '../../db/catalog-queries.ts';
import { csvReply } from '../csv.ts';
import { accountParam, oneOfParam, pagingParams, textParam, wholeParam } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

const CSV_COLUMNS = ['account', 'id', 'part_number', 'part_number_key', 'name', 'brand', 'status', 'sale_price', 'currency', 'stock', 'general_stock', 'updated_at'] as const;

/** Answers GET /api/offers. */
export function offersRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const filter = { account: accountParam(ctx, params.get('account')), q: textParam(params, 'q'), status: wholeParam(params, 'status', 0, 32767) };
    if (oneOfParam(params, 'format', ['json', 'csv'] as const) === 'csv') return csvReply<OfferListItem>(`offers-${filter.account ?? 'all'}.csv`, CSV_COLUMNS, eachOffer(ctx.sql, filter));
    const paging = pagingParams(params);
    const { items, total } = await listOffers(ctx.sql, filter, paging);
    return json(200, { items, total, page: paging.page, limit: paging.limit });
  };
}

/**
 * The console's reads of `emag_offers` and the unified catalog view `emag_products`: filtered,
 * searched (SKU, name or PNK; the search text is always a parameter, `%` and `_` match themselves)
 * and paged with a total.
 */
import type { Sql } from './connect.ts';

/** An offer as the catalog browser lists it (without its raw record). */
export interface OfferListItem {
  account: string;
  id: number;
  part_number: string | null;
  part_number_key: string | null;
  name: string | null;
  brand: string | null;
  status: number | null;
  sale_price: string | null;
  currency: string | null;
  stock: number | null;
  general_stock: number | null;
  updated_at: Date;
}

/** One offer with everything stored about it, its raw eMAG record included. */
export type OfferDetail = OfferListItem & Record<string, unknown> & { raw: unknown };

/** A row of the unified catalog: the preferred account's offer of a SKU, and every account selling it. */
export type ProductListItem = Omit<OfferListItem, 'account' | 'id' | 'part_number' | 'general_stock'> & {
  part_number: string;
  source_account: string;
  offer_id: number;
  accounts: string[];
};

/** What the offers list may be narrowed to. */
export interface OfferFilter {
  account?: string;
  /** Part of a SKU, name or part_number_key, case-insensitive. */
  q?: string;
  status?: number;
}

/** A page: `offset` rows skipped, at most `limit` returned. */
export interface Paging {
  offset: number;
  limit: number;
}

/** `%`, `_` and `\` in a search match themselves. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function offerWhere(sql: Sql, f: OfferFilter) {
  return sql`where deleted_at is null
    ${f.account ? sql`and account = ${f.account}` : sql``}
    ${f.status !== undefined ? sql`and status = ${f.status}` : sql``}
    ${f.q ? sql`and (part_number ilike ${likePattern(f.q)} or name ilike ${likePattern(f.q)} or part_number_key ilike ${likePattern(f.q)})` : sql``}`;
}

const OFFER_COLUMNS = 'account, id, part_number, part_number_key, name, brand, status, sale_price, currency, stock, general_stock, updated_at';

/** Live (not soft-deleted) offers matching the filter, by account then SKU, with the total count. */
export async function listOffers(sql: Sql, f: OfferFilter, page: Paging): Promise<{ items: OfferListItem[]; total: number }> {
  const [rows, [{ total }]] = await Promise.all([
    sql<OfferListItem[]>`select ${sql.unsafe(OFFER_COLUMNS)} from emag_offers ${offerWhere(sql, f)}
      order by account, part_number nulls last, id limit ${page.limit} offset ${page.offset}`,
    sql<{ total: number }[]>`select count(*)::int as total from emag_offers ${offerWhere(sql, f)}`,
  ]);
  return { items: rows.map((r) => ({ ...r, id: Number(r.id) })), total };
}

/** Every offer matching the filter, in the list's order, a batch at a time (for a CSV download). */
export async function* eachOffer(sql: Sql, f: OfferFilter): AsyncGenerator<OfferListItem[]> {
  const cursor = sql<OfferListItem[]>`select ${sql.unsafe(OFFER_COLUMNS)} from emag_offers ${offerWhere(sql, f)}
    order by account, part_number nulls last, id`.cursor(500);
  for await (const rows of cursor) yield rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** One offer with its raw record, or null. Soft-deleted offers are found too (with `deleted_at`). */
export async function getOffer(sql: Sql, account: string, id: number): Promise<OfferDetail | null> {
  const [row] = await sql<OfferDetail[]>`select * from emag_offers where account = ${account} and id = ${id}`;
  return row ? { ...row, id: Number(row.id), category_id: row.category_id === null ? null : Number(row.category_id) } : null;
}

const PRODUCT_COLUMNS = 'part_number, source_account, offer_id, part_number_key, name, brand, status, sale_price, currency, stock, accounts, updated_at';

function productWhere(sql: Sql, q: string | undefined) {
  return q ? sql`where part_number ilike ${likePattern(q)} or name ilike ${likePattern(q)} or part_number_key ilike ${likePattern(q)}` : sql``;
}

/** Unified catalog rows matching a search (SKU, name or PNK), by SKU, with the total count. */
export async function listProducts(sql: Sql, q: string | undefined, page: Paging): Promise<{ items: ProductListItem[]; total: number }> {
  const [rows, [{ total }]] = await Promise.all([
    sql<ProductListItem[]>`select ${sql.unsafe(PRODUCT_COLUMNS)} from emag_products ${productWhere(sql, q)}
      order by part_number limit ${page.limit} offset ${page.offset}`,
    sql<{ total: number }[]>`select count(*)::int as total from emag_products ${productWhere(sql, q)}`,
  ]);
  return { items: rows.map((r) => ({ ...r, offer_id: Number(r.offer_id) })), total };
}

/** Every unified catalog row matching a search, by SKU, a batch at a time (for a CSV download). */
export async function* eachProduct(sql: Sql, q: string | undefined): AsyncGenerator<ProductListItem[]> {
  const cursor = sql<ProductListItem[]>`select ${sql.unsafe(PRODUCT_COLUMNS)} from emag_products ${productWhere(sql, q)} order by part_number`.cursor(500);
  for await (const rows of cursor) yield rows.map((r) => ({ ...r, offer_id: Number(r.offer_id) }));
}

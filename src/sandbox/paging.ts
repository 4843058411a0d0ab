/**
 * eMAG paging (§1.3): `currentPage` from 1, `itemsPerPage` at most 100, and `/count` answering
 * with numbers as strings. Shared by offers, orders and returns so they page identically.
 */
import { fail, ok, type Reply } from './reply.ts';

/** The largest page eMAG serves. */
export const MAX_PAGE = 100;

/** A validated page request. */
export interface Page {
  /** 1-based page number. */
  currentPage: number;
  /** Items per page, 1..100. */
  itemsPerPage: number;
}

/** Reads `currentPage`/`itemsPerPage` from the filters, or the eMAG error for bad values. */
export function readPage(f: Record<string, unknown>): Page | Reply {
  const currentPage = f.currentPage === undefined ? 1 : Number(f.currentPage);
  const itemsPerPage = f.itemsPerPage === undefined ? MAX_PAGE : Number(f.itemsPerPage);
  if (!Number.isInteger(currentPage) || currentPage < 1 || currentPage > 65535) {
    return fail('Invalid currentPage value. It must be an integer between 1 and 65535.');
  }
  if (!Number.isInteger(itemsPerPage) || itemsPerPage < 1) {
    return fail('Invalid itemsPerPage value. It must be an integer between 1 and 100.');
  }
  if (itemsPerPage > MAX_PAGE) return fail(`Maximum number of items per page exceeded. Maximum allowed is ${MAX_PAGE}.`);
  return { currentPage, itemsPerPage };
}

/** True when `readPage` refused the request. */
export function isReply(x: Page | Reply): x is Reply {
  return 'status' in x;
}

/** The slice of `list` for a page. */
export function slicePage<T>(list: readonly T[], page: Page): T[] {
  const start = (page.currentPage - 1) * page.itemsPerPage;
  return list.slice(start, start + page.itemsPerPage);
}

/** The `/count` answer; eMAG sends the totals as strings and the page size as a number. */
export function countReply(total: number, page: Page): Reply {
  return ok({
    noOfItems: String(total),
    noOfPages: String(Math.ceil(total / page.itemsPerPage)),
    itemsPerPage: page.itemsPerPage,
  });
}

/** Matches a record value against a filter that may be one value or a list (numbers as strings too). */
export function matchesOneOf(value: unknown, filter: unknown): boolean {
  if (Array.isArray(filter)) return filter.some((f) => String(f) === String(value));
  return String(filter) === String(value);
}

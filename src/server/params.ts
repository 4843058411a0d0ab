/**
 * Query-string and path parameters, checked strictly: a bad value answers 400 naming the parameter,
 * an unknown account 404, so a typo never reads as "no data".
 */
import type { Paging } from '../db/catalog-queries.ts';
import type { RouteContext } from './route.ts';
import { HttpError } from './reply.ts';

/** Rows per page when `limit` is not given, and the most one request may ask for. */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
/** Pages beyond this are refused: an OFFSET that deep is a scan, and nobody reads page 10,001. */
const MAX_PAGE = 10_000;

function bad(name: string, why: string): HttpError {
  return new HttpError(400, 'bad_request', `${name}: ${why}`);
}

/** A whole number parameter within bounds, or undefined when absent or empty. */
export function wholeParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= min && n <= max)) throw bad(name, `must be a whole number from ${min} to ${max}`);
  return n;
}

/** A path segment that must be a positive id. */
export function idParam(value: string, name = 'id'): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1)) throw bad(name, 'must be a positive whole number');
  return n;
}

/** One of a fixed set, or undefined when absent or empty. */
export function oneOfParam<T extends string>(params: URLSearchParams, name: string, allowed: readonly T[]): T | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw bad(name, `must be one of ${allowed.join(', ')}`);
  return raw as T;
}

/** A free-text search, trimmed; undefined when empty. Any text is fine: queries take it as a parameter. */
export function textParam(params: URLSearchParams, name: string): string | undefined {
  return params.get(name)?.trim() || undefined;
}

/** A configured account's name, or undefined when absent; an unknown one is a 404. */
export function accountParam(ctx: RouteContext, value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  return knownAccount(ctx, value);
}

/** The name of a configured account; 404 otherwise. */
export function knownAccount(ctx: RouteContext, name: string): string {
  if (!ctx.config.accounts.some((a) => a.name === name)) {
    throw new HttpError(404, 'unknown_account', `no account named "${name.slice(0, 100)}" (accounts: ${ctx.config.accounts.map((a) => a.name).join(', ')})`);
  }
  return name;
}

/** `page` (from 1) and `limit` (1 to MAX_LIMIT) as an offset and a limit. */
export function pagingParams(params: URLSearchParams): Paging & { page: number } {
  const page = wholeParam(params, 'page', 1, MAX_PAGE) ?? 1;
  const limit = wholeParam(params, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  return { page, limit, offset: (page - 1) * limit };
}

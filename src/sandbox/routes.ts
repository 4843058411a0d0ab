/**
 * The API routes the sandbox answers, keyed `resource/action`, and how a URL path splits into
 * resource, action and trailing id (`order/acknowledge/123`, `offer_stock/55`).
 */
import type { SandboxAccount } from './account.ts';
import { readAddresses, readCourierAccounts, readHandlingTime, readVat } from './reference.ts';
import type { Reply, RouteInput } from './reply.ts';

/** A route handler. */
export type Handler = (account: SandboxAccount, input: RouteInput) => Reply;

/** A parsed API path. */
export interface ApiPath {
  /** First segment, e.g. 'order'. */
  resource: string;
  /** The rest without a trailing id, e.g. 'read' or 'attachments/save'; '' for `offer_stock/{id}`. */
  action: string;
  /** A trailing numeric segment, if any. */
  id: string | null;
}

/** Splits the part of the path after the base (`/api-3/`). */
export function parseApiPath(rest: string): ApiPath {
  const segments = rest.split('/').filter(Boolean);
  const last = segments[segments.length - 1];
  const id = last !== undefined && /^\d+$/.test(last) ? (segments.pop() ?? null) : null;
  return { resource: segments[0] ?? '', action: segments.slice(1).join('/'), id };
}

/** Routes by `resource/action` (or bare resource for `offer_stock`). */
export const ROUTES: Readonly<Record<string, Handler>> = {
  'product_offer/read': (a, i) => a.catalog.read(i),
  'product_offer/count': (a, i) => a.catalog.count(i),
  'product_offer/save': (a, i) => a.catalog.save(i, true),
  'offer/save': (a, i) => a.catalog.save(i, false),
  offer_stock: (a, i) => a.catalog.patchStock(i),
  'order/read': (a, i) => a.orderBook.read(i),
  'order/count': (a, i) => a.orderBook.count(i),
  'order/acknowledge': (a, i) => a.orderBook.acknowledge(i),
  'order/save': (a, i) => a.orderBook.save(i),
  'order/attachments/save': (a, i) => a.orderBook.saveAttachments(i),
  'rma/read': (a, i) => a.returns.read(i),
  'rma/count': (a, i) => a.returns.count(i),
  'rma/save': (a, i) => a.returns.save(i),
  'vat/read': () => readVat(),
  'handling_time/read': () => readHandlingTime(),
  'courier_accounts/read': () => readCourierAccounts(),
  'addresses/read': () => readAddresses(),
  'awb/save': (a, i) => a.awbBook.save(i),
  'awb/read': (a, i) => a.awbBook.read(i),
  'awb/read_pdf': (a, i) => a.awbBook.readPdf(i),
};

/** The handler for a path and method, or null when eMAG would answer "Invalid URL". */
export function findRoute(path: ApiPath, method: string): Handler | null {
  const key = path.action ? `${path.resource}/${path.action}` : path.resource;
  const handler = ROUTES[key];
  if (!handler) return null;
  // offer_stock is the one REST-style route: PATCH only. Everything else is POST (GET tolerated).
  if (key === 'offer_stock') return method === 'PATCH' && path.id ? handler : null;
  if (key === 'order/acknowledge' && !path.id) return null;
  // The label download is a GET with its parameters in the query (§6.3).
  if (key === 'awb/read_pdf') return method === 'GET' || method === 'POST' ? handler : null;
  return method === 'POST' || method === 'GET' ? handler : null;
}

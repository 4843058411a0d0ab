/**
 * What a route hands back to the server: a status, a body and headers. The helpers build the
 * eMAG envelope (`isError`, `messages`, `errors`, `results`) that every real answer carries.
 */

/** A response before it is written: JSON bodies are serialised by the server, strings sent as-is. */
export interface Reply {
  /** HTTP status. */
  status: number;
  /** A JSON value, or a raw string (HTML pages, truncated JSON) or Buffer (PDF labels). */
  body: unknown;
  /** Content type when `body` is a raw string or Buffer; JSON otherwise. */
  contentType?: string;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** A successful eMAG answer. */
export function ok(results: unknown): Reply {
  return { status: 200, body: { isError: false, messages: [], errors: [], results } };
}

/** A failed eMAG answer: HTTP 200 by default, because that is how eMAG reports most errors. */
export function fail(messages: string | string[], status = 200): Reply {
  return {
    status,
    body: { isError: true, messages: Array.isArray(messages) ? messages : [messages], errors: [], results: [] },
  };
}

/** A JSON body that is not an eMAG envelope (the rate limiter's 429, the control endpoints). */
export function plain(body: unknown, status = 200): Reply {
  return { status, body };
}

/** A raw body, e.g. an HTML error page from a proxy or a PDF label. */
export function raw(body: string | Buffer, status: number, contentType: string): Reply {
  return { status, body, contentType };
}

/** The request as a route sees it. */
export interface RouteInput {
  /** The parsed JSON body: an object for reads, an object or list for saves. */
  body: unknown;
  /** The trailing numeric id of routes like `order/acknowledge/123`, if any. */
  id: string | null;
  /** The HTTP method. */
  method: string;
  /** The URL's query (GET routes like `awb/read_pdf?emag_id=…` take their parameters there). */
  query: URLSearchParams;
}

/** The body as a filter object; lists and scalars become `{}` so reads never crash on them. */
export function filters(input: RouteInput): Record<string, unknown> {
  const b = input.body;
  if (b && typeof b === 'object' && !Array.isArray(b)) {
    // Some clients wrap filters in `data`, as the official PHP examples do.
    const data = (b as Record<string, unknown>).data;
    if (data && typeof data === 'object' && !Array.isArray(data)) return { ...(data as object), ...(b as object) };
    return b as Record<string, unknown>;
  }
  return {};
}

/** The body as a list of entities for a save: a bare list, `{data: [...]}`, or one object. */
export function entities(input: RouteInput): Record<string, unknown>[] | null {
  const b = input.body;
  const list = Array.isArray(b) ? b : b && typeof b === 'object' ? ((b as Record<string, unknown>).data ?? [b]) : null;
  if (!Array.isArray(list)) return null;
  return list.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x));
}

/**
 * What a route handler answers, and the error it throws to answer with a 4xx: handlers return data,
 * the server writes it, so every answer gets the same headers and HEAD handling.
 */

/** One HTTP answer. */
export interface Reply {
  status: number;
  contentType: string;
  /** A Buffer when the same answer is sent many times, so it is encoded once. */
  body: string | Buffer;
  headers?: Record<string, string>;
}

/** A route handler: the parsed request URL in, an answer out. */
export type Handler = (url: URL) => Promise<Reply>;

/** An error a client caused; the server answers `{error: code, message}` with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Machine-readable: `not_found`, `bad_request`, `method_not_allowed`, … */
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A JSON answer. */
export function json(status: number, value: unknown, contentType = 'application/json; charset=utf-8'): Reply {
  return { status, contentType, body: JSON.stringify(value) };
}

/** The JSON answer for an error: `{error, message}`. */
export function errorReply(status: number, code: string, message: string, headers: Record<string, string> = {}): Reply {
  return { ...json(status, { error: code, message }), headers };
}

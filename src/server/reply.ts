/**
 * What a route handler answers, and the error it throws to answer with a 4xx: handlers return data,
 * the server writes it, so every answer gets the same headers and HEAD handling.
 */
import type { Readable } from 'node:stream';

/** One HTTP answer. */
export interface Reply {
  status: number;
  contentType: string;
  /** A Buffer when the same answer is sent many times, so it is encoded once; a Readable is streamed. */
  body: string | Buffer | Readable;
  headers?: Record<string, string>;
}

/** An error a client caused; the server answers `{error: code, message}` with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Machine-readable: `not_found`, `bad_request`, `method_not_allowed`, … */
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields of the error body (e.g. the id of the run that is already running). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A JSON answer. */
export function json(status: number, value: unknown, contentType = 'application/json; charset=utf-8'): Reply & { body: string } {
  return { status, contentType, body: JSON.stringify(value) };
}

/** The JSON answer for an error: `{error, message, ...details}`. */
export function errorReply(status: number, code: string, message: string, headers: Record<string, string> = {}, details: Record<string, unknown> = {}): Reply & { body: string } {
  return { ...json(status, { ...details, error: code, message }), headers };
}

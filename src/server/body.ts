/**
 * JSON request bodies of the control routes: an object with known fields only. Invalid JSON and
 * unknown fields answer 400 naming what is wrong.
 */
import { HttpError } from './reply.ts';
import type { Request } from './route.ts';

/** The body as an object with only `allowed` keys; an empty body is `{}`. */
export function jsonBody(req: Request, allowed: readonly string[]): Record<string, unknown> {
  if (req.body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, 'bad_request', 'the request body must be a JSON object');
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new HttpError(400, 'unknown_fields', `unknown field(s): ${unknown.map((k) => k.slice(0, 50)).join(', ')} (allowed: ${allowed.join(', ') || 'none'})`);
  }
  return value as Record<string, unknown>;
}

/**
 * What can go wrong talking to eMAG, as one error class with a kind, so callers decide by field.
 */

/** The kinds of eMAG failure. */
export type EmagErrorKind =
  /** Wrong credentials or no API rights ("You are not allowed to use this API."). */
  | 'auth'
  /** The caller's IP is not whitelisted ("ERROR: Invalid vendor ip [x.x.x.x]"). */
  | 'ip_not_whitelisted'
  /** HTTP 429 "API rate limit exceeded". */
  | 'rate_limited'
  /** HTTP 5xx. */
  | 'server'
  /** Connection refused, reset, DNS… */
  | 'network'
  /** No answer within EMAG_API_TIMEOUT. */
  | 'timeout'
  /** Not JSON, or JSON without the `isError` envelope. */
  | 'invalid_response'
  /** eMAG understood and refused (`isError: true`, or a 4xx with a message). */
  | 'rejected';

const RETRYABLE: ReadonlySet<EmagErrorKind> = new Set(['rate_limited', 'server', 'network', 'timeout', 'invalid_response']);

/** A failed eMAG call, carrying where it happened and whether trying again may help. */
export class EmagError extends Error {
  /** Whether the same request may succeed later (429, 5xx, timeouts, network, garbled answers). */
  readonly retryable: boolean;
  constructor(
    readonly kind: EmagErrorKind,
    message: string,
    readonly account: string,
    readonly resource: string,
    readonly action: string,
    readonly status: number | null = null,
    /** eMAG's own messages, when it sent any. */
    readonly messages: string[] = [],
    /** Seconds eMAG asked us to wait (Retry-After), if it did. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(`${account}: ${resource}/${action}: ${message}`);
    this.name = 'EmagError';
    this.retryable = RETRYABLE.has(kind);
  }
}

/** Classifies an `isError:true` envelope's messages. */
export function kindOfMessages(messages: string[]): EmagErrorKind {
  const text = messages.join(' ');
  if (/invalid vendor ip/i.test(text)) return 'ip_not_whitelisted';
  if (/not allowed to use this api|authentication|unauthori[sz]ed/i.test(text)) return 'auth';
  return 'rejected';
}

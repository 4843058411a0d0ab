/**
 * The record of one HTTP attempt to eMAG: what the client reports after every attempt, and what
 * the metrics and the call log (src/db/api-calls.ts) keep of it. A plain record, so the database
 * layer can store it without knowing the client.
 */
import type { EmagErrorKind } from './errors.ts';

/** One HTTP attempt, reported to whoever records metrics and the call log. */
export interface CallEvent {
  account: string;
  resource: string;
  action: string;
  /** HTTP status, or 0 when no answer came (network error or timeout). */
  status: number;
  durationMs: number;
  /** Time spent waiting for the rate budget before sending. */
  waitedMs: number;
  /** The error kind when the attempt failed. */
  error: EmagErrorKind | null;
  attempt: number;
}

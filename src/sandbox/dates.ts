/**
 * The date-window filters of order/read (`createdAfter`/`createdBefore`,
 * `modifiedAfter`/`modifiedBefore`) with eMAG's rules: a *Before needs its *After, and a window
 * may span at most one month.
 */
import { parseLocal } from './time.ts';

/** eMAG's "1 month", taken as its longest case. */
export const MAX_WINDOW_MS = 31 * 24 * 3600 * 1000;

/** An inclusive instant range; either end may be open. */
export interface Window {
  from: number;
  to: number;
}

/**
 * Reads one After/Before pair. Returns the window, null when neither is set, or an error message.
 * A lone *After is measured up to `now`: real eMAG may tolerate longer open windows, but a client
 * that passes this stricter check works there too.
 */
export function readWindow(f: Record<string, unknown>, after: string, before: string, now: number): Window | null | string {
  const a = f[after];
  const b = f[before];
  if (a === undefined && b === undefined) return null;
  if (a === undefined) return `${before} can only be set if ${after} is present.`;
  const from = typeof a === 'string' ? parseLocal(a) : null;
  if (from === null) return `Invalid ${after} value. Expected format YYYY-mm-dd HH:ii:ss.`;
  let to = now;
  if (b !== undefined) {
    const parsed = typeof b === 'string' ? parseLocal(b) : null;
    if (parsed === null) return `Invalid ${before} value. Expected format YYYY-mm-dd HH:ii:ss.`;
    to = parsed;
  }
  if (to - from > MAX_WINDOW_MS) return `The maximum interval between ${after} and ${before} is 1 month.`;
  return { from, to: b === undefined ? Number.POSITIVE_INFINITY : to };
}

/**
 * A value loaded at most once per period, concurrent callers sharing the load in flight: a burst of
 * 200 health probes costs one database round trip, not 200, and a slow database is not piled on.
 * Once a value is there, a refresh happens behind the callers: they get the last value meanwhile, so
 * no request waits for the database (a busy pool would otherwise show in every probe's latency).
 */

/** Returns a getter that reuses the last load for `ttlMs` after it settled (failures included), then refreshes it in the background. */
export function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let last: Promise<T> | null = null;
  let loading: Promise<T> | null = null;
  let expiresAt = 0;
  return () => {
    if (last && performance.now() < expiresAt) return last;
    if (!loading) {
      const started = load();
      loading = started;
      // The period starts when the load settles, so a slow load is not repeated at once.
      const settle = () => {
        last = started;
        loading = null;
        expiresAt = performance.now() + ttlMs;
      };
      started.then(settle, settle);
    }
    return last ?? loading;
  };
}

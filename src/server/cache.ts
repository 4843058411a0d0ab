/**
 * A value loaded at most once per period, concurrent callers sharing the load in flight: a burst of
 * 200 health probes costs one database round trip, not 200, and a slow database is not piled on.
 */

/** Returns a getter that reuses the last load for `ttlMs` after it settled (failures included). */
export function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | null = null;
  let expiresAt = 0;
  return () => {
    if (current && performance.now() < expiresAt) return current;
    const loading = load();
    current = loading;
    // Shared while in flight; the period starts when it settles, so a slow load is not repeated at once.
    expiresAt = Number.POSITIVE_INFINITY;
    const settle = () => {
      if (current === loading) expiresAt = performance.now() + ttlMs;
    };
    loading.then(settle, settle);
    return loading;
  };
}

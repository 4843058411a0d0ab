/**
 * A run as the API shows it (history, one run, live events): figures, ISO dates and its duration.
 */
import type { RunSummary } from '../db/run-reports.ts';
import type { RunSnapshot } from '../streams/run.ts';

/** The JSON form of a run. */
export type RunJson = Omit<RunSummary, 'startedAt' | 'finishedAt'> & { startedAt: string; finishedAt: string | null; durationSeconds: number | null };

/** A stored run as JSON. */
export function runJson(r: RunSummary): RunJson {
  return {
    ...r,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    durationSeconds: r.finishedAt ? Math.round((r.finishedAt.getTime() - r.startedAt.getTime()) / 100) / 10 : null,
  };
}

/** A live run (from a run event) in the same shape as a stored one. */
export function snapshotSummary(s: RunSnapshot): RunSummary {
  const c = s.counters;
  return {
    id: s.runId,
    account: s.account,
    stream: s.stream,
    mode: s.mode,
    trigger: s.trigger,
    status: s.status,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    pagesDone: c.pages_done,
    pagesTotal: c.pages_total,
    itemsSeen: c.items_seen,
    inserted: c.items_inserted,
    updated: c.items_updated,
    unchanged: c.items_unchanged,
    deleted: c.items_deleted,
    failed: c.items_failed,
    apiRequests: c.api_requests,
    rateLimitWaits: c.rate_limit_waits,
    error: s.error,
  };
}

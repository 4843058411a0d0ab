/**
 * A full offers run, timed in two parts: paging (fetch, parse, upsert) and what follows the last page
 * (the soft-delete pass and the run's bookkeeping), so a slow end of scan shows as what it is.
 */
import type { AccountConfig } from '../src/config.ts';
import { offersStream } from '../src/streams/offers.ts';
import { executeRun, type RunResult, type StreamFn, type SyncDeps } from '../src/streams/run.ts';

/** A run and where its time went. */
export interface TimedScan {
  result: RunResult;
  /** From the end of the last committed page to the end of the run. */
  afterLastPageMs: number;
}

/**
 * The bench's databases cancel any statement running longer than this (see `offers.bench.ts`), so
 * a pathological query plan ends a run instead of the bench.
 */
export const STATEMENT_TIMEOUT_S = 20;

/** Whether a run failed only because one statement hit the bench's statement timeout. */
export function hitStatementTimeout(r: { status: string; error: string | null }): boolean {
  return r.status === 'failed' && /statement timeout/i.test(r.error ?? '');
}

/** Runs a full scan of `account`, noting when its last page committed (no timer: the page count is hooked). */
export async function timedFullScan(deps: SyncDeps, account: AccountConfig, signal?: AbortSignal): Promise<TimedScan> {
  const stream = offersStream();
  let lastPageAt = performance.now();
  const fn: StreamFn = (ctx) => {
    const count = ctx.run.count.bind(ctx.run);
    ctx.run.count = (seen, c) => {
      count(seen, c);
      lastPageAt = performance.now();
    };
    return stream(ctx);
  };
  const result = await executeRun(deps, account, 'offers', fn, { mode: 'full', trigger: 'cli', signal });
  return { result, afterLastPageMs: performance.now() - lastPageAt };
}

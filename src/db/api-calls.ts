/**
 * The SQL that owns `emag_api_calls`: every eMAG attempt, written in small batches so logging never
 * slows a sync, and pruned after the retention period.
 */
import type { CallEvent } from '../emag/call-event.ts';
import type { Logger } from '../log.ts';
import type { Sql } from './connect.ts';

/** Buffers call events and writes them once a second (or every 500). */
export class ApiCallLog {
  #buffer: Array<{ account: string; resource: string; action: string; status: number; duration_ms: number; error: string | null }> = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /** Queues one attempt. */
  record(e: CallEvent): void {
    this.#buffer.push({
      account: e.account,
      resource: e.resource,
      action: e.action.slice(0, 100),
      status: e.status,
      duration_ms: Math.round(e.durationMs),
      error: e.error,
    });
    if (this.#buffer.length >= 500) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), 1000);
  }

  /** Writes what is buffered. Never throws: a lost log line must not fail a sync. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#buffer;
    this.#buffer = [];
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      try {
        await this.sql`insert into emag_api_calls ${this.sql(batch)}`;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, lost: batch.length }, 'could not write the API call log');
      }
    });
    return this.#flushing;
  }
}

/**
 * The latest logged request per resource of an account within the last minute, as ms before now on
 * the database's clock (so clock skew between hosts does not matter): a new owner of the account
 * keeps its budget's distance from them.
 */
export async function recentCalls(sql: Sql, account: string): Promise<Array<{ resource: string; agoMs: number }>> {
  const rows = await sql<{ resource: string; ago_ms: number }[]>`
    select resource, (extract(epoch from now() - max(at)) * 1000)::float8 as ago_ms
    from emag_api_calls where account = ${account} and at > now() - interval '61 seconds'
    group by resource`;
  return rows.map((r) => ({ resource: r.resource, agoMs: r.ago_ms }));
}

/** One account's eMAG traffic in the last hour. */
export interface AccountActivity {
  apiCalls: number;
  apiErrors: number;
  rateLimited: number;
  /** 95th percentile call duration, null without calls. */
  p95Ms: number | null;
}

/** Each account's eMAG calls, errors, 429s and p95 call duration in the last hour. */
export async function loadActivity(sql: Sql): Promise<Map<string, AccountActivity>> {
  const rows = await sql<{ account: string; calls: number; errors: number; rate_limited: number; p95_ms: number | null }[]>`
    select account, count(*)::int as calls,
      count(*) filter (where error is not null or status = 0 or status >= 400)::int as errors,
      count(*) filter (where status = 429)::int as rate_limited,
      percentile_cont(0.95) within group (order by duration_ms)::float8 as p95_ms
    from emag_api_calls where at > now() - interval '1 hour' group by account`;
  return new Map(rows.map((r) => [r.account, { apiCalls: r.calls, apiErrors: r.errors, rateLimited: r.rate_limited, p95Ms: r.p95_ms }]));
}

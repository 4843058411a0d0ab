/**
 * What the alert rules judge, read from the database once per evaluation: a probe, then each
 * enabled account's latest runs, API calls, late orders, outbox and lease. A database that does not
 * answer within the probe timeout yields facts the database rule alone can judge.
 */
import type { Config, Schedule, Stream } from '../config.ts';
import { callWindows, lateUnacknowledged, outboxTrouble, streamRuns } from '../db/alerts.ts';
import { ping, type Sql } from '../db/connect.ts';
import { leasedAccounts } from '../db/leases.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import type { Logger } from '../log.ts';
import { implementedStreams } from '../streams/registry.ts';
import type { AccountFacts, Facts } from './rules.ts';

/** How long the database probe of one evaluation may take. */
const PROBE_TIMEOUT_MS = 2000;
/** A cron schedule's expected period, as the status server assumes it (daily, with slack). */
const CRON_PERIOD_SECONDS = 26 * 3600;

/** Reads the facts of each evaluation, remembering since when each account has had no owner. */
export class FactReader {
  readonly #unownedSince = new Map<string, number>();

  constructor(
    private readonly sql: Sql,
    private readonly config: Config,
    private readonly log: Logger,
    /** Since when the daemon runs: a stream never synced is judged by that. */
    private readonly upSince: Date,
  ) {}

  /** Everything the rules judge; `accounts` is null when the database cannot be read. */
  async read(now: Date): Promise<Facts> {
    const base = { now, upSince: this.upSince };
    const probe = ping(this.sql);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        probe,
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            probe.cancel();
            reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`));
          }, PROBE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      return { ...base, database: { ok: false, error: scrubSecrets(coerceError(err).message) }, accounts: null };
    } finally {
      clearTimeout(timer);
    }
    try {
      return { ...base, database: { ok: true, error: null }, accounts: await this.#accounts(now) };
    } catch (err) {
      this.log.warn({ err: scrubSecrets(coerceError(err).message) }, 'alert facts could not be read');
      return { ...base, database: { ok: true, error: null }, accounts: null };
    }
  }

  async #accounts(now: Date): Promise<AccountFacts[]> {
    const t = this.config.alerts.thresholds;
    const accounts = this.config.accounts.filter((a) => a.enabled);
    const implemented = new Set(implementedStreams());
    const keys = accounts.flatMap((a) => a.syncTypes.filter((s) => implemented.has(s)).map((stream) => ({ account: a.name, stream })));
    const [runs, calls, unacked, outbox, leased] = await Promise.all([
      streamRuns(this.sql, keys, t.failedRuns),
      callWindows(this.sql, t.apiWindowMinutes),
      lateUnacknowledged(this.sql, t.unacknowledgedMinutes),
      outboxTrouble(this.sql, t.outboxPendingMinutes),
      leasedAccounts(this.sql, accounts.map((a) => a.name)),
    ]);
    return accounts.map((a) => {
      if (leased.has(a.name)) this.#unownedSince.delete(a.name);
      else if (!this.#unownedSince.has(a.name)) this.#unownedSince.set(a.name, now.getTime());
      const since = this.#unownedSince.get(a.name);
      return {
        name: a.name,
        streams: runs
          .filter((r) => r.account === a.name)
          .map((r) => ({ stream: r.stream as Stream, periodSeconds: periodSeconds(a.schedules[r.stream as Stream]), runs: r.runs, lastSuccessAt: r.lastSuccessAt })),
        calls: calls.get(a.name) ?? null,
        lateUnacknowledged: unacked.get(a.name) ?? 0,
        outbox: outbox.get(a.name) ?? { failedLastHour: 0, pendingLong: 0, conflicts: 0 },
        unownedSeconds: since === undefined ? null : (now.getTime() - since) / 1000,
      };
    });
  }
}

function periodSeconds(schedule: Schedule): number {
  return schedule.kind === 'interval' ? schedule.minutes * 60 : CRON_PERIOD_SECONDS;
}

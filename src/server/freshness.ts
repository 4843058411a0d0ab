/**
 * Whether an account stream's data is fresh and its last run went well, judged against its schedule.
 * /health, /api/status and the alerts all read these verdicts, so they never disagree.
 */
import type { AccountConfig, Schedule, Stream } from '../config.ts';
import { reportedStreams, type HealthSnapshot, streamKey } from './snapshot.ts';
import type { StreamState } from '../db/run-reports.ts';

/** A cron schedule's expected period: daily jobs, with two hours of slack for slow runs and offsets. */
const CRON_PERIOD_SECONDS = 26 * 3600;
/** Data older than this many periods is stale: one missed slot is a blip, two are a problem. */
const STALE_AFTER_PERIODS = 2;
/**
 * Never stale sooner than this: a frequent stream (commands every 30 s, orders every 5 min) that
 * takes a few minutes over a busy outbox or backfill is not stale; 30 min is the product's default
 * for orders.
 */
const MIN_STALE_SECONDS = 30 * 60;

/** The verdict on one account stream. */
export interface StreamVerdict {
  stream: Stream;
  /** False when the database could not be read: nothing below is known. */
  known: boolean;
  /** What the database knows; null when unknown or never run. */
  state: StreamState | null;
  /** The expected time between runs. */
  periodSeconds: number;
  /** Seconds since the last success; null when never (or unknown). */
  ageSeconds: number | null;
  /** Older than STALE_AFTER_PERIODS periods, or never synced although the daemon had the time to. */
  stale: boolean;
  /** The latest finished run failed. */
  failing: boolean;
  /** What went wrong when failing and eMAG said why: wrong credentials or a non-whitelisted IP. */
  failureKind: 'auth' | 'ip_not_whitelisted' | null;
  /** One sentence for people: why stale or failing, or that all is well. */
  message: string;
}

/** The expected time between runs of a schedule. */
export function periodSeconds(schedule: Schedule): number {
  return schedule.kind === 'interval' ? schedule.minutes * 60 : CRON_PERIOD_SECONDS;
}

/** Verdicts on each reported stream of an account. */
export function judgeAccount(account: AccountConfig, snapshot: HealthSnapshot, uptimeSeconds: number): StreamVerdict[] {
  return reportedStreams(account.syncTypes).map((stream) => {
    const state = snapshot.states ? (snapshot.states.get(streamKey(account.name, stream)) ?? null) : null;
    return judgeStream(stream, account.schedules[stream], state, snapshot.takenAt, uptimeSeconds, snapshot.states !== null);
  });
}

/** The verdict on one stream, given what the database knows (`known` false: nothing could be read). */
function judgeStream(stream: Stream, schedule: Schedule, state: StreamState | null, now: Date, uptimeSeconds: number, known = true): StreamVerdict {
  const period = periodSeconds(schedule);
  const base = { stream, known, state, periodSeconds: period, ageSeconds: null, stale: false, failing: false, failureKind: null };
  if (!known) return { ...base, message: 'unknown: the database could not be read' };
  const age = state?.lastSuccessAt ? Math.max(0, Math.round((now.getTime() - state.lastSuccessAt.getTime()) / 1000)) : null;
  const limit = Math.max(STALE_AFTER_PERIODS * period, MIN_STALE_SECONDS);
  const stale = age === null ? uptimeSeconds > limit : age > limit;
  const failing = state?.lastRun?.status === 'failed';
  const failureKind = failing ? classifyFailure(state?.lastRun?.errorKind ?? null) : null;
  const messages: string[] = [];
  if (age === null) messages.push(stale ? `never synced, although the daemon has been up ${duration(uptimeSeconds)}` : 'waiting for the first sync');
  else if (stale) messages.push(`last success ${duration(age)} ago, expected every ${duration(period)}`);
  if (failing) messages.push(`last run failed: ${state?.lastRun?.error ?? 'no message'}`);
  if (messages.length === 0) messages.push(`last success ${duration(age ?? 0)} ago`);
  return { ...base, ageSeconds: age, stale, failing, failureKind, message: messages.join('; ') };
}

/** The failure kind of a run, as the run recorded it in `error_kind` (from the EmagError that ended it). */
function classifyFailure(errorKind: string | null): StreamVerdict['failureKind'] {
  return errorKind === 'auth' || errorKind === 'ip_not_whitelisted' ? errorKind : null;
}

/** `90` → `1m 30s`, `7200` → `2h`: short and readable in health output. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)}h` : ''}`;
}

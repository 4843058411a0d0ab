/**
 * POST /api/sync `{"account": "main"|"all", "stream": "offers"|…|"all", "mode"?: …, "filters"?: {…}}`:
 * starts runs now and answers 202 `{"runs": [{account, stream, runId}]}` as soon as their rows exist.
 * The account is checked first (404), then whether this instance owns it (409), then whether the
 * stream already runs (409, naming the running run). `selective` scans what matches `filters` (the
 * stream's own list, as `emag-sync sync --filter`) and never soft-deletes.
 */
import { type AccountConfig, STREAMS, type Stream } from '../../config.ts';
import { RunRefusedError } from '../../scheduler.ts';
import { STREAMS_SPEC } from '../../streams/registry.ts';
import type { RunMode, StreamFn } from '../../streams/run.ts';
import { jsonBody } from '../body.ts';
import { knownAccount } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** The modes a manual run may ask for. */
export const SYNC_MODES = ['full', 'incremental', 'selective'] as const;

/** Answers POST /api/sync (behind the guard). */
export function syncRoute(ctx: RouteContext): Handler {
  return async (req) => {
    const body = jsonBody(req, ['account', 'stream', 'mode', 'filters']);
    const account = field(body, 'account');
    const stream = field(body, 'stream');
    if (account !== 'all') knownAccount(ctx, account);
    if (stream !== 'all' && !(STREAMS as readonly string[]).includes(stream)) throw new HttpError(400, 'bad_request', `stream: must be "all" or one of ${STREAMS.join(', ')}`);
    let mode: RunMode | undefined;
    let selective: StreamFn | undefined;
    if (body.mode !== undefined && !(SYNC_MODES as readonly unknown[]).includes(body.mode)) throw new HttpError(400, 'bad_request', `mode: must be one of ${SYNC_MODES.join(', ')}`);
    if (body.mode === 'selective') {
      // A selective run is a `full` run of the stream's filtered function, as `emag-sync sync` makes it.
      selective = selectiveFn(stream, body.filters);
      mode = 'full';
    } else {
      if (body.filters !== undefined) throw new HttpError(400, 'bad_request', 'filters: only with mode "selective"');
      mode = body.mode as RunMode | undefined;
    }
    const { scheduler } = ctx;
    if (!scheduler.startNow) throw new HttpError(503, 'unavailable', 'this server cannot start runs');

    const owned = new Set(ctx.ownedAccounts());
    const accounts: AccountConfig[] =
      account === 'all' ? ctx.config.accounts.filter((a) => a.enabled && owned.has(a.name)) : [ctx.config.accounts.find((a) => a.name === account) as AccountConfig];
    if (account !== 'all') {
      const a = accounts[0];
      if (!a.enabled) throw new HttpError(409, 'account_disabled', `account ${a.name} is disabled (EMAG_${a.name.toUpperCase()}_ENABLED)`);
      if (!owned.has(a.name)) throw new HttpError(409, 'not_owned', `account ${a.name} is synced by another emag-sync instance; ask that one`);
      if (stream !== 'all' && !a.syncTypes.includes(stream as Stream)) {
        throw new HttpError(400, 'bad_request', `stream: ${a.name} does not sync ${stream} (EMAG_${a.name.toUpperCase()}_SYNC_TYPES)`);
      }
    }
    const wanted = accounts.flatMap((a) => (stream === 'all' ? a.syncTypes : [stream as Stream]).map((s) => ({ account: a, stream: s })));
    const running = scheduler.activeRuns();
    const busy = (a: string, s: string) => running.find((r) => r.account === a && r.stream === s);
    if (wanted.length === 1) {
      const r = busy(wanted[0].account.name, wanted[0].stream);
      if (r) throw new HttpError(409, 'already_running', `${r.account}/${r.stream} is already running${r.runId ? ` (run ${r.runId})` : ''}`, {}, { runId: r.runId ?? null });
    }
    const runs: Array<{ account: string; stream: Stream; runId: number }> = [];
    const skipped: Array<{ account: string; stream: Stream; reason: string }> = [];
    for (const w of wanted) {
      const m = mode ?? STREAMS_SPEC[w.stream].defaultMode;
      try {
        runs.push({ account: w.account.name, stream: w.stream, runId: await scheduler.startNow(w.account, w.stream, m, 'manual', selective) });
      } catch (err) {
        if (!(err instanceof RunRefusedError) && wanted.length === 1) throw err;
        skipped.push({ account: w.account.name, stream: w.stream, reason: err instanceof RunRefusedError ? err.message : 'could not start (see the daemon log)' });
      }
    }
    if (runs.length === 0) {
      if (wanted.length === 1) throw new HttpError(409, 'refused', skipped[0].reason);
      throw new HttpError(409, 'nothing_started', wanted.length === 0 ? 'nothing to run: no owned, enabled account syncs that' : `nothing started: ${skipped.map((s) => `${s.account}/${s.stream}: ${s.reason}`).join('; ')}`);
    }
    return json(202, { runs, ...(skipped.length > 0 ? { skipped } : {}) });
  };
}

/** The filtered stream function of a selective run; 400 naming the filter for anything wrong. */
function selectiveFn(stream: string, filters: unknown): StreamFn {
  const spec = stream === 'all' ? undefined : STREAMS_SPEC[stream as Stream].selective;
  if (!spec) throw new HttpError(400, 'bad_request', `mode: selective needs a stream that supports it (${STREAMS.filter((s) => STREAMS_SPEC[s].selective).join(', ')})`);
  const names = Object.keys(spec.filters);
  if (filters === null || typeof filters !== 'object' || Array.isArray(filters) || Object.keys(filters).length === 0) {
    throw new HttpError(400, 'bad_request', `filters: selective needs an object of at least one filter (${stream}: ${names.join(', ')})`);
  }
  const checked: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(filters)) {
    if (!Object.hasOwn(spec.filters, name)) throw new HttpError(400, 'bad_request', `filters.${name.slice(0, 50)}: unknown filter (${stream}: ${names.join(', ')})`);
    if (typeof value !== 'string' && typeof value !== 'number') throw new HttpError(400, 'bad_request', `filters.${name}: must be a string or a number`);
    try {
      checked[name] = spec.filters[name](String(value));
    } catch (err) {
      throw new HttpError(400, 'bad_request', `filters.${name}: ${(err as Error).message}`);
    }
  }
  return spec.fn(checked);
}

function field(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (v === undefined) throw new HttpError(400, 'bad_request', `${name}: required`);
  if (typeof v !== 'string' || v === '') throw new HttpError(400, 'bad_request', `${name}: must be a non-empty string`);
  return v;
}

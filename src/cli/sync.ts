/**
 * `emag-sync sync`: one run of an account's stream (or of every stream, or every account) now.
 */
import { loadConfig, type Stream } from '../config.ts';
import { openRuntime } from '../daemon.ts';
import { createLogger } from '../log.ts';
import { spreadStart } from '../scheduler.ts';
import { onStopSignal } from '../signals.ts';
import { implementedStreams, type SelectiveSpec, STREAMS_SPEC } from '../streams/registry.ts';
import { executeRun, type RunMode, type RunResult, type StreamFn } from '../streams/run.ts';
import { pickAccounts } from './accounts.ts';
import { BusyError, type Command, UsageError } from './command.ts';

/** `--mode` values: the run modes, and `selective` (a `full` run restricted by `--filter`s). */
const MODES = ['full', 'incremental', 'selective'] as const;

/** `main/offers succeeded in 12.3 s: 3000 seen, 3000 inserted, …` */
export function summaryLine(r: RunResult): string {
  const c = r.counters;
  const figures = `${c.items_seen} seen, ${c.items_inserted} inserted, ${c.items_updated} updated, ${c.items_unchanged} unchanged, ${c.items_deleted} deleted, ${c.items_failed} failed; ${c.pages_done} pages, ${c.api_requests} API requests`;
  return `${r.account}/${r.stream} ${r.status} in ${(r.durationMs / 1000).toFixed(1)} s: ${figures}${r.error ? ` — ${r.error}` : ''}`;
}

/**
 * Turns `--filter name=value` arguments into the filters of a selective scan, checking each name
 * and value against the stream's own list; every mistake is a UsageError naming the filter.
 */
export function parseSelectiveFilters(stream: Stream, selective: SelectiveSpec, args: string[]): Record<string, string | number> {
  const names = Object.keys(selective.filters);
  const filters: Record<string, string | number> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter "${arg}" must be name=value (${stream} filters: ${names.join(', ')})`);
    const name = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    if (!Object.hasOwn(selective.filters, name)) throw new UsageError(`unknown --filter "${name}" (${stream} filters: ${names.join(', ')})`);
    if (Object.hasOwn(filters, name)) throw new UsageError(`--filter ${name} is given twice`);
    try {
      filters[name] = selective.filters[name](value);
    } catch (err) {
      throw new UsageError(`--filter ${name}=${JSON.stringify(value)}: ${(err as Error).message}`);
    }
  }
  if (Object.keys(filters).length === 0) throw new UsageError(`--mode selective needs at least one --filter name=value (${stream} filters: ${names.join(', ')})`);
  return filters;
}

/** Runs now; exit 0 when every run succeeded or was partial, 1 when any failed or was cancelled. */
export const sync: Command = {
  summary: 'run one sync now and exit with a summary per account',
  args: '<account|all>',
  usage: `Usage: emag-sync sync <account|all> [--stream <name|all>] [--mode full|incremental|selective]
                      [--filter name=value ...]

Runs one sync of the given account (or every enabled account, their starts spread over one request
spacing, or 40 ms per account when longer, so they neither send in lock-step nor start all at
once) now, prints one line per account and stream, and exits 0
when every run succeeded (or was partial), 1 when any failed or was cancelled (Ctrl-C), 75 when
another emag-sync process is syncing the account.

Options:
  --stream <name|all>   offers (default), orders, acknowledge, rma, reference, commands; "all"
                        runs every stream in the account's EMAG_<A>_SYNC_TYPES
  --mode <mode>         offers: full (default) scans everything and soft-deletes what is gone;
                          incremental resumes an unfinished scan from its last committed page;
                          selective scans only the offers matching the --filter options and
                          never soft-deletes
                        orders: incremental (default) reads from the cursor minus the lookback;
                          full also re-reads the last 3 days (the nightly re-scan)
  --filter name=value   with --mode selective, repeatable (all must match): one of eMAG's offer
                        filters id, status (0 inactive, 1 active, 2 end of life), part_number,
                        part_number_key, general_stock, estimated_stock (stock at most N)
                        e.g. --filter status=1 --filter part_number=ABC-1`,
  options: { stream: { type: 'string' }, mode: { type: 'string' }, filter: { type: 'string', multiple: true } },
  positionals: 1,
  async run({ values, positionals }) {
    if (positionals.length === 0) throw new UsageError('which account? give an account name or "all"');
    const modeArg = values.mode as string | undefined;
    if (modeArg !== undefined && !(MODES as readonly string[]).includes(modeArg)) throw new UsageError(`--mode must be ${MODES.join(', ')}, not "${modeArg}"`);
    const streamArg = (values.stream as string | undefined)?.toLowerCase() ?? 'offers';
    if (streamArg !== 'all' && !Object.hasOwn(STREAMS_SPEC, streamArg)) {
      throw new UsageError(`--stream "${streamArg}" is not available (available: ${implementedStreams().join(', ')}, all)`);
    }
    const filterArgs = (values.filter as string[] | undefined) ?? [];
    if (filterArgs.length > 0 && modeArg !== 'selective') throw new UsageError('--filter needs --mode selective');
    // A selective run is a `full` run of the stream's filtered function: it never soft-deletes.
    let selective: StreamFn | null = null;
    if (modeArg === 'selective') {
      const spec = streamArg === 'all' ? undefined : STREAMS_SPEC[streamArg as Stream].selective;
      const able = implementedStreams().filter((s) => STREAMS_SPEC[s].selective);
      if (!spec) throw new UsageError(`--mode selective needs --stream ${able.join(' or ')}, not "${streamArg}"`);
      selective = spec.fn(parseSelectiveFilters(streamArg as Stream, spec, filterArgs));
    }

    const config = loadConfig();
    const accounts = pickAccounts(config, positionals[0]);
    const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
    const runtime = await openRuntime(config, log, accounts);
    try {
      const busy = accounts.filter((a) => !runtime.owned.includes(a));
      if (busy.length > 0) {
        throw new BusyError(`account ${busy.map((a) => a.name).join(', ')} is being synced by another emag-sync process; try again when it is done`);
      }
      const abort = new AbortController();
      const release = onStopSignal(log, () => abort.abort(new Error('interrupted')));
      try {
        const results = await Promise.all(
          accounts.map(async (account, i) => {
            await spreadStart(runtime.deps.budgets.get(account.name), i, accounts.length, abort.signal);
            const streams = streamArg === 'all' ? implementedStreams().filter((s) => account.syncTypes.includes(s)) : [streamArg as Stream];
            const out: RunResult[] = [];
            for (const stream of streams) {
              const spec = STREAMS_SPEC[stream];
              const mode: RunMode = modeArg === 'selective' ? 'full' : ((modeArg as RunMode | undefined) ?? spec.defaultMode);
              const r = await executeRun(runtime.deps, account, stream, selective ?? spec.fn, { mode, trigger: 'cli', signal: abort.signal });
              console.log(summaryLine(r));
              out.push(r);
            }
            return out;
          }),
        );
        return results.flat().some((r) => r.status === 'failed' || r.status === 'cancelled') ? 1 : 0;
      } finally {
        release();
      }
    } finally {
      await runtime.close();
    }
  },
};

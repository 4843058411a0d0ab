/**
 * The `emag-sync` command: parses arguments, dispatches, and turns failures into clear messages and
 * exit codes (64 usage, 69 database unavailable, 75 account busy, 78 configuration, 1 sync failed).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type AccountConfig, type Config, ConfigError, loadConfig, readEnv, type Stream } from './config.ts';
import { openRuntime, startDaemon, VERSION } from './daemon.ts';
import { openDatabase } from './db/connect.ts';
import { listConflicts, resolveConflict } from './db/commands.ts';
import { migrate } from './db/migrate.ts';
import { AccountBudget } from './emag/budget.ts';
import { EmagClient } from './emag/client.ts';
import { EmagError, type EmagErrorKind } from './emag/errors.ts';
import { coerceError, scrubSecrets } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { startSandbox } from './sandbox/server.ts';
import { implementedStreams, STREAMS_SPEC } from './streams/registry.ts';
import { executeRun, type RunMode, type RunResult } from './streams/run.ts';

/** A mistake in how the command was called. */
class UsageError extends Error {
  readonly exitCode = 64;
}

/** Another process holds an account's lease. */
class BusyError extends Error {
  readonly exitCode = 75;
}

const HELP: Record<string, string> = {
  main: `emag-sync ${VERSION} — mirrors eMAG Marketplace accounts into PostgreSQL

Usage: emag-sync <command> [options]

Commands:
  start                     run the daemon: scheduled syncs and the status server
  sync <account|all>        run one sync now and exit with a summary per account
  migrate                   apply database migrations and exit
  test [account]            check configuration, database and each account's API access
  conflicts list|resolve    offer changes parked by the manual conflict strategy
  status [--json]           what the running daemon reports (accounts, streams, alerts)
  health                    probe the running daemon: exit 0 pass, 1 warn, 2 fail or unreachable
  sandbox                   run the simulated eMAG API alone
  demo                      sandbox + embedded PostgreSQL + daemon, all at once

Run "emag-sync <command> --help" for a command's options.
Configuration comes from the environment and ./.env (see .env.example).`,
  start: `Usage: emag-sync start

Runs the daemon until SIGTERM/SIGINT: migrations, scheduled syncs per account and stream, and the
status server (GET /health, /api/status, /api/runs, /metrics) on EMAG_SYNC_HOST:EMAG_SYNC_PORT.
Without DATABASE_URL an embedded PostgreSQL is started under EMAG_SYNC_DATA_DIR.
A second signal forces exit.`,
  sync: `Usage: emag-sync sync <account|all> [--stream <name|all>] [--mode full|incremental]

Runs one sync of the given account (or every enabled account) now, prints one line per account and
stream, and exits 0 when every run succeeded (or was partial), 1 when any failed or was
cancelled (Ctrl-C), 75 when another emag-sync process is syncing the account.

Options:
  --stream <name|all>   offers (default), orders, acknowledge, rma, reference, commands; "all"
                        runs every stream in the account's EMAG_<A>_SYNC_TYPES
  --mode <mode>         offers: full (default) scans everything and soft-deletes what is gone;
                          incremental resumes an unfinished scan from its last committed page
                        orders: incremental (default) reads from the cursor minus the lookback;
                          full also re-reads the last 3 days (the nightly re-scan)`,
  migrate: `Usage: emag-sync migrate

Applies the numbered SQL files in sql/ that the database has not seen, each in a transaction, and
refuses to run if an applied file was changed.`,
  test: `Usage: emag-sync test [account]

Checks the configuration, the database connection and one cheap API call (vat/read) per account,
and prints a verdict for each. Exits 0 when everything passed, 1 otherwise.`,
  conflicts: `Usage: emag-sync conflicts list [--all]
       emag-sync conflicts resolve <id> --keep local|emag

Offer and stock commands that met a different value on eMAG are parked here when the conflict
strategy is "manual" (EMAG_CONFLICT_STRATEGY or EMAG_<A>_CONFLICT_STRATEGY).

  list               open conflicts (--all: resolved ones too)
  resolve <id>       --keep local: send the command anyway; --keep emag: keep eMAG's value and
                     cancel the command`,
  status: `Usage: emag-sync status [--json]

Asks the running daemon (GET /api/status on EMAG_SYNC_HOST:EMAG_SYNC_PORT) and prints one line per
account and stream, then the active alerts. --json prints the document as it came.`,
  health: `Usage: emag-sync health

Asks the running daemon's /health, for monitoring probes: prints the status and exits 0 (pass),
1 (warn) or 2 (fail, or the daemon does not answer).`,
  sandbox: `Usage: emag-sync sandbox [--port N] [--offers N] [--orders N] [--latency MS]

Runs the simulated eMAG API (accounts "main" and "fbe") until Ctrl-C, and prints its base URL and
the credentials to put in EMAG_<ACCOUNT>_BASE_URL / _USERNAME / _PASSWORD.

Options:
  --port N        port to listen on (default 8002; 0 = any free port)
  --offers N      offers per account (default 3000)
  --orders N      orders per account (default 200)
  --latency MS    delay added to every answer (default 0)`,
  demo: `Usage: emag-sync demo [--offers N] [--latency MS]

Starts the sandbox eMAG API, an embedded PostgreSQL (data in <EMAG_SYNC_DATA_DIR>/demo) and the
daemon against them. Within a minute both accounts' offers are in the database; the status server
answers on http://127.0.0.1:8001 (EMAG_SYNC_PORT). Ctrl-C stops everything.

Options:
  --offers N      offers per account (default 3000)
  --latency MS    simulated API latency (default 50)`,
};

/** Each command's implementation (declared below; called only after the module has loaded). */
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  start: (a) => cmdStart(a),
  sync: (a) => cmdSync(a),
  migrate: (a) => cmdMigrate(a),
  test: (a) => cmdTest(a),
  conflicts: (a) => cmdConflicts(a),
  status: (a) => cmdStatus(a),
  health: (a) => cmdHealth(a),
  sandbox: (a) => cmdSandbox(a),
  demo: (a) => cmdDemo(a),
};

/** Entry point; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main);
    return command ? 0 : 64;
  }
  if (command === '--version' || command === '-v') {
    console.log(VERSION);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    console.error(`emag-sync: unknown command "${command}"\n\n${HELP.main}`);
    return 64;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP[command]);
    return 0;
  }
  try {
    return await COMMANDS[command](rest);
  } catch (err) {
    return report(err, command);
  }
}

/**
 * Prints a failure the way a person can act on, and picks the exit code: the error's own `exitCode`
 * (usage 64, database 69, busy 75, configuration 78), else 1.
 */
function report(err: unknown, command: string): number {
  const e = coerceError(err);
  const code = (e as { exitCode?: unknown }).exitCode;
  const where = err instanceof ConfigError ? 'emag-sync' : `emag-sync ${command}`;
  const usage = err instanceof UsageError ? `\n\n${HELP[command]}` : '';
  console.error(`${where}: ${scrubSecrets(e.message)}${usage}`);
  return typeof code === 'number' ? code : 1;
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
    return parsed;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

function intOption(value: unknown, name: string, def: number, min = 0): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}, not "${value}"`);
  return n;
}

/**
 * Runs `stop` on SIGTERM/SIGINT (a second signal exits at once) or when `fatal` is called, and
 * resolves with the exit code: 0 after a signal, 1 after a fatal error or a failed stop.
 */
function untilStopped(log: Logger, stop: () => Promise<void>): { done: Promise<number>; fatal: (err: Error) => void } {
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const shutDown = (code: number) => {
    stopping = true;
    stop().then(
      () => finish(code),
      (err) => {
        log.error({ err: scrubSecrets(coerceError(err).message) }, 'error while stopping');
        finish(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal }, 'stopping (send the signal again to force)');
    shutDown(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    done,
    fatal: (err) => {
      if (stopping) return;
      log.error({ err: err.message }, 'stopping after a fatal error');
      shutDown(1);
    },
  };
}

async function cmdStart(args: string[]): Promise<number> {
  parse(args, {});
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  let fatal: (err: Error) => void = () => {};
  const daemon = await startDaemon(config, log, { onFatal: (err) => fatal(err) });
  const run = untilStopped(log, daemon.stop);
  fatal = run.fatal;
  return run.done;
}

function pickAccounts(config: Config, name: string): AccountConfig[] {
  if (name === 'all') return config.accounts.filter((a) => a.enabled);
  const account = config.accounts.find((a) => a.name === name.toLowerCase());
  if (!account) throw new UsageError(`unknown account "${name}" (configured: ${config.accounts.map((a) => a.name).join(', ')}, or "all")`);
  return [account];
}

async function cmdSync(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { stream: { type: 'string' }, mode: { type: 'string' } }, 1);
  if (positionals.length === 0) throw new UsageError('which account? give an account name or "all"');
  const modeArg = values.mode as RunMode | undefined;
  if (modeArg !== undefined && modeArg !== 'full' && modeArg !== 'incremental') throw new UsageError(`--mode must be full or incremental, not "${modeArg}"`);
  const streamArg = (values.stream as string | undefined)?.toLowerCase() ?? 'offers';
  if (streamArg !== 'all' && !STREAMS_SPEC[streamArg as Stream]) {
    throw new UsageError(`--stream "${streamArg}" is not available (available: ${implementedStreams().join(', ')}, all)`);
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
    const onSignal = () => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const results = await Promise.all(
      accounts.map(async (account) => {
        const streams = streamArg === 'all' ? implementedStreams().filter((s) => account.syncTypes.includes(s)) : [streamArg as Stream];
        const out: RunResult[] = [];
        for (const stream of streams) {
          const spec = STREAMS_SPEC[stream]!;
          const mode = modeArg ?? spec.defaultMode;
          const r = await executeRun(runtime.deps, account, stream, spec.fn, { mode, trigger: 'cli', signal: abort.signal });
          console.log(summaryLine(r));
          out.push(r);
        }
        return out;
      }),
    );
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return results.flat().some((r) => r.status === 'failed' || r.status === 'cancelled') ? 1 : 0;
  } finally {
    await runtime.close();
  }
}

/** `main/offers succeeded in 12.3 s: 3000 seen, 3000 inserted, …` */
export function summaryLine(r: RunResult): string {
  const c = r.counters;
  const figures = `${c.items_seen} seen, ${c.items_inserted} inserted, ${c.items_updated} updated, ${c.items_unchanged} unchanged, ${c.items_deleted} deleted, ${c.items_failed} failed; ${c.pages_done} pages, ${c.api_requests} API requests`;
  return `${r.account}/${r.stream} ${r.status} in ${(r.durationMs / 1000).toFixed(1)} s: ${figures}${r.error ? ` — ${r.error}` : ''}`;
}

async function cmdMigrate(args: string[]): Promise<number> {
  parse(args, {});
  const config = loadConfig(readEnv(), { requireAccounts: false });
  const log = createLogger(config.logLevel);
  const db = await openDatabase(config.databaseUrl, config.dataDir, log);
  try {
    const applied = await migrate(db.sql);
    console.log(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    await db.close();
  }
}

async function cmdConflicts(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { keep: { type: 'string' }, all: { type: 'boolean' } }, 2);
  const [action, idArg] = positionals;
  if (action !== 'list' && action !== 'resolve') throw new UsageError('say "list" or "resolve <id> --keep local|emag"');
  if (action === 'resolve' && (!idArg || !/^\d+$/.test(idArg))) throw new UsageError('resolve needs a conflict id (see "emag-sync conflicts list")');
  if (action === 'resolve' && values.keep !== 'local' && values.keep !== 'emag') throw new UsageError('--keep must be local or emag');
  const config = loadConfig(readEnv(), { requireAccounts: false });
  const db = await openDatabase(config.databaseUrl, config.dataDir, createLogger('warn'));
  try {
    await migrate(db.sql);
    if (action === 'list') {
      const rows = await listConflicts(db.sql, values.all === true);
      if (rows.length === 0) console.log(values.all ? 'no conflicts' : 'no open conflicts');
      for (const c of rows) {
        const state = c.status === 'open' ? 'open' : `resolved: kept ${c.resolution}`;
        console.log(`#${c.id} ${c.account} offer ${c.offer_id} (command ${c.command_id}, ${state}): local ${JSON.stringify(c.local)} vs eMAG ${JSON.stringify(c.emag)}`);
      }
      return 0;
    }
    const keep = values.keep as 'local' | 'emag';
    if (!(await resolveConflict(db.sql, Number(idArg), keep))) {
      console.error(`emag-sync conflicts: no open conflict #${idArg}`);
      return 1;
    }
    console.log(keep === 'local' ? `conflict #${idArg} resolved: the command will be sent` : `conflict #${idArg} resolved: eMAG's value kept, command cancelled`);
    return 0;
  } finally {
    await db.close();
  }
}

/** The running daemon's status server, from the same configuration it reads. */
/** The running daemon's status server: only EMAG_SYNC_HOST/PORT matter, so a probe never fails on other settings. */
function statusServerUrl(): string {
  const env = readEnv();
  const configured = env.EMAG_SYNC_HOST?.trim() || '127.0.0.1';
  const host = configured === '0.0.0.0' || configured === '::' ? '127.0.0.1' : configured;
  const port = env.EMAG_SYNC_PORT?.trim() || '8001';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** GETs JSON from the status server; an answer that is not the expected JSON is an error. */
async function fetchJson(url: string, okStatuses: number[]): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!okStatuses.includes(res.status)) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

async function cmdHealth(args: string[]): Promise<number> {
  parse(args, {});
  const url = `${statusServerUrl()}/health`;
  try {
    // /health answers 503 when the status is fail: that is an answer, not an error.
    const body = await fetchJson(url, [200, 503]);
    const status = (body as { status?: string }).status ?? 'fail';
    const problems = Object.entries((body as { checks?: Record<string, Array<{ status: string; output?: string; componentId?: string }>> }).checks ?? {})
      .flatMap(([name, list]) => list.filter((c) => c.status !== 'pass').map((c) => `  ${c.status} ${name}${c.componentId ? `/${c.componentId}` : ''}: ${c.output ?? ''}`));
    console.log([status, ...problems].join('\n'));
    return status === 'pass' ? 0 : status === 'warn' ? 1 : 2;
  } catch (err) {
    console.log(`fail: no answer from ${url} (${coerceError(err).message})`);
    return 2;
  }
}

async function cmdStatus(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } });
  const url = `${statusServerUrl()}/api/status`;
  let body: unknown;
  try {
    body = await fetchJson(url, [200]);
  } catch (err) {
    console.error(`emag-sync status: no answer from ${url} (${coerceError(err).message}); is the daemon running?`);
    return 69;
  }
  if (values.json) {
    console.log(JSON.stringify(body, null, 2));
    return 0;
  }
  type Stream = { stream: string; lastRunStatus: string | null; lastSuccess: string | null; nextRun: string | null; running: { percent: number | null } | null };
  const s = body as { healthScore: number; accounts: Array<{ name: string; status: string; unacknowledgedOrders: number | null; commands: { pending: number; failed: number; conflict: number } | null; streams: Stream[] }>; alerts: Array<{ severity: string; message: string }> };
  console.log(`health score ${s.healthScore}`);
  for (const a of s.accounts) {
    const cmds = a.commands ? `, commands ${a.commands.pending} waiting / ${a.commands.failed} failed / ${a.commands.conflict} conflict` : '';
    console.log(`${a.name}: ${a.status}${a.unacknowledgedOrders !== null ? `, ${a.unacknowledgedOrders} unacknowledged orders` : ''}${cmds}`);
    for (const st of a.streams) {
      const running = st.running ? ` running ${st.running.percent ?? '?'}%` : '';
      console.log(`  ${st.stream.padEnd(12)} ${(st.lastRunStatus ?? 'never').padEnd(11)} last success ${st.lastSuccess ?? '—'}, next ${st.nextRun ?? '—'}${running}`);
    }
  }
  for (const alert of s.alerts) console.log(`${alert.severity}: ${alert.message}`);
  return 0;
}

async function cmdTest(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, 1);
  let ok = true;
  let config: Config;
  try {
    config = loadConfig();
    console.log(`✔ configuration: ${config.accounts.length} account(s): ${config.accounts.map((a) => a.name).join(', ')}`);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.log(`✘ configuration:\n${err.problems.map((p) => `    ${p}`).join('\n')}`);
      return 78;
    }
    throw err;
  }
  const accounts = positionals[0] ? pickAccounts(config, positionals[0]) : config.accounts;
  const log = createLogger('silent');
  try {
    const db = await openDatabase(config.databaseUrl, config.dataDir, log);
    try {
      const [{ version }] = await db.sql<{ version: string }[]>`select current_setting('server_version') as version`;
      console.log(`✔ database: PostgreSQL ${version}, ${db.where}`);
    } finally {
      await db.close();
    }
  } catch (err) {
    ok = false;
    console.log(`✘ database: ${scrubSecrets(coerceError(err).message)}`);
  }
  for (const account of accounts) {
    const client = new EmagClient({
      account: account.name,
      baseUrl: account.baseUrl,
      username: account.username,
      password: account.password,
      budget: new AccountBudget(account.ordersRps, account.otherRps),
      timeoutMs: Math.min(config.apiTimeoutMs, 15_000),
      maxRetries: 1,
    });
    const started = performance.now();
    try {
      await client.read('vat', {});
      console.log(`✔ ${account.name}: API access works (${account.baseUrl}, ${Math.round(performance.now() - started)} ms)`);
    } catch (err) {
      ok = false;
      console.log(`✘ ${account.name}: ${verdict(err)}`);
    }
  }
  return ok ? 0 : 1;
}

/** What a failed API check means for a person. */
function verdict(err: unknown): string {
  if (!(err instanceof EmagError)) return scrubSecrets(coerceError(err).message);
  const hints: Record<EmagErrorKind, string> = {
    auth: 'wrong username/password, or the user lacks API rights',
    ip_not_whitelisted: "this machine's IP is not whitelisted for the API in the eMAG seller panel",
    rate_limited: 'rate limited by eMAG; another integration may be using the same account',
    network: 'cannot reach the API (network or base URL)',
    timeout: 'the API did not answer in time',
    server: 'eMAG answered with a server error; try again later',
    invalid_response: 'the answer was not eMAG JSON (wrong base URL?)',
    rejected: 'eMAG refused the request',
  };
  return `${hints[err.kind]} — ${err.message}`;
}

/** The sandbox accounts' credentials: published, for local use only. */
const SANDBOX_ACCOUNTS = [
  { name: 'main', username: 'main-sandbox', password: 'sandbox-main-pass', orderType: 3 as const },
  { name: 'fbe', username: 'fbe-sandbox', password: 'sandbox-fbe-pass', orderType: 2 as const },
];

async function startDemoSandbox(port: number, offers: number, orders: number, latencyMs: number) {
  return startSandbox({
    port,
    latencyMs,
    sharedSkus: Math.floor(offers / 5),
    accounts: SANDBOX_ACCOUNTS.map((a) => ({ ...a, offers, orders, rmas: Math.floor(orders / 10) })),
  });
}

async function cmdSandbox(args: string[]): Promise<number> {
  const { values } = parse(args, { port: { type: 'string' }, offers: { type: 'string' }, orders: { type: 'string' }, latency: { type: 'string' } });
  const sandbox = await startDemoSandbox(
    intOption(values.port, 'port', 8002),
    intOption(values.offers, 'offers', 3000),
    intOption(values.orders, 'orders', 200),
    intOption(values.latency, 'latency', 0),
  );
  console.log(`sandbox eMAG API on ${sandbox.url}`);
  for (const a of SANDBOX_ACCOUNTS) {
    const up = a.name.toUpperCase();
    console.log(`  EMAG_${up}_BASE_URL=${sandbox.url} EMAG_${up}_USERNAME=${a.username} EMAG_${up}_PASSWORD=${a.password}`);
  }
  console.log('Ctrl-C stops it.');
  const log = createLogger('info');
  return untilStopped(log, () => sandbox.close()).done;
}

async function cmdDemo(args: string[]): Promise<number> {
  const { values } = parse(args, { offers: { type: 'string' }, latency: { type: 'string' } });
  const offers = intOption(values.offers, 'offers', 3000, 1);
  const env = readEnv();
  const sandbox = await startDemoSandbox(0, offers, 200, intOption(values.latency, 'latency', 50));
  const demoEnv: Record<string, string | undefined> = {
    EMAG_SYNC_HOST: env.EMAG_SYNC_HOST,
    EMAG_SYNC_PORT: env.EMAG_SYNC_PORT,
    EMAG_LOG_LEVEL: env.EMAG_LOG_LEVEL,
    EMAG_SYNC_DATA_DIR: `${env.EMAG_SYNC_DATA_DIR?.trim() || './data'}/demo`,
    EMAG_ACCOUNTS: SANDBOX_ACCOUNTS.map((a) => a.name).join(','),
  };
  for (const a of SANDBOX_ACCOUNTS) {
    const up = `EMAG_${a.name.toUpperCase()}`;
    Object.assign(demoEnv, { [`${up}_BASE_URL`]: sandbox.url, [`${up}_USERNAME`]: a.username, [`${up}_PASSWORD`]: a.password, [`${up}_SYNC_INTERVAL`]: '10' });
  }
  let config: Config;
  try {
    config = loadConfig(demoEnv);
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  const log = createLogger(config.logLevel);
  log.info({ sandbox: sandbox.url }, 'demo: sandbox eMAG API started');
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  let fatal: (err: Error) => void = () => {};
  try {
    daemon = await startDaemon(config, log, { onFatal: (err) => fatal(err) });
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  log.info(`demo running: open ${daemon.server.url}/api/status, ${daemon.server.url}/health or ${daemon.server.url}/metrics; Ctrl-C stops everything`);
  const run = untilStopped(log, async () => {
    await daemon.stop();
    await sandbox.close();
  });
  fatal = run.fatal;
  return run.done;
}

/** Runs the command line and exits with its code. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`emag-sync: ${scrubSecrets(coerceError(err).message)}`);
      process.exit(1);
    },
  );
}

// `tsx src/cli.ts …` (the npm scripts); the bin wrapper calls run() itself.
if (process.argv[1] && /[/\\]src[/\\]cli\.ts$/.test(process.argv[1])) run();

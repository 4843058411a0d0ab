/**
 * The daemon: database (embedded or DATABASE_URL), migrations, account leases, scheduler and status
 * server, started in order and stopped in reverse.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { AlertEngine } from './alerts/evaluate.ts';
import type { AccountConfig, Config, Stream } from './config.ts';
import { ApiCallLog } from './db/api-calls.ts';
import { startBackupSchedule } from './backup/schedule.ts';
import { callbackQueueDepths } from './db/callbacks.ts';
import { COMMAND_KINDS, commandCounts } from './db/commands.ts';
import { type Database, openDatabase } from './db/connect.ts';
import { Leases } from './db/leases.ts';
import { Listen } from './db/listen.ts';
import { migrate } from './db/migrate.ts';
import { catalogSettings, setCatalogPriority } from './db/offers.ts';
import { unacknowledgedCounts } from './db/orders.ts';
import { latestRun, markInterrupted } from './db/runs.ts';
import { budgetsFor } from './emag/budget.ts';
import { coerceError, scrubSecrets } from './errors.ts';
import { Disposers } from './disposers.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { RetentionSchedule } from './retention.ts';
import { Ownership } from './ownership.ts';
import { Scheduler } from './scheduler.ts';
import type { RunEvents } from './server/context.ts';
import { callbackHandler } from './server/callbacks/handler.ts';
import { type CallbackServer, startCallbackServer } from './server/callbacks/listener.ts';
import { type StatusServer, startStatusServer } from './server/server.ts';
import type { SyncDeps } from './streams/run.ts';

/** The package version, for /health, /metrics and logs. */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** What the sync commands and the daemon share: an open, migrated database and the accounts this process owns. */
export interface Runtime {
  db: Database;
  deps: SyncDeps;
  leases: Leases;
  /** Accounts whose lease this process holds. */
  owned: AccountConfig[];
  close(): Promise<void>;
}

/**
 * Opens the database, migrates it, and takes the lease of each wanted account (skipping those another
 * process holds). Runs left `running` by a crash of an owned account are marked `interrupted`.
 */
export async function openRuntime(
  config: Config,
  log: Logger,
  accounts: AccountConfig[],
  metrics?: Metrics,
  /** `takeLeases: false` leaves the leases to the ownership loop (the daemon); `instanceId` is recorded on runs. */
  opts: { takeLeases?: boolean; instanceId?: string } = {},
): Promise<Runtime> {
  const parts = new Disposers();
  const closeFailed = (part: string, err: unknown) => log.warn({ part, err: scrubSecrets(coerceError(err).message) }, 'could not close a part of the runtime');
  return parts.start(async () => {
    const db = await openDatabase(config.databaseUrl, config.dataDir, log, accounts.length);
    parts.defer('database', () => db.close());
    const applied = await migrate(db.sql);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
    // Whichever command writes the data, the catalog follows the configured priority.
    await setCatalogPriority(db.sql, config.catalogPriority, catalogSettings(config));
    // A cut lease connection takes the locks with it: the leases hear of it at once.
    const leases: Leases = new Leases(db.connect(1, { persistent: true, onclose: () => leases.connectionClosed() }));
    parts.defer('account leases', () => leases.releaseAll());
    const owned: AccountConfig[] = [];
    for (const account of opts.takeLeases === false ? [] : accounts) {
      if (await leases.acquire(account.name)) {
        owned.push(account);
        const n = await markInterrupted(db.sql, account.name);
        if (n > 0) log.warn({ account: account.name, runs: n }, 'runs left running by an earlier crash marked interrupted');
      } else {
        log.warn({ account: account.name }, 'account is owned by another emag-sync instance; not syncing it here');
      }
    }
    const callLog = new ApiCallLog(db.sql, log);
    parts.defer('API call log', () => callLog.flush());
    const deps: SyncDeps = { sql: db.sql, config, log, budgets: budgetsFor(accounts), metrics, callLog, instanceId: opts.instanceId };
    return { db, deps, leases, owned, close: () => parts.dispose(closeFailed) };
  }, closeFailed);
}

/** A running daemon. */
export interface Daemon {
  runtime: Runtime;
  alerts: AlertEngine;
  scheduler: Scheduler;
  server: StatusServer;
  /** The callback routes' own listener, when EMAG_CALLBACK_PORT is set. */
  callbackServer: CallbackServer | null;
  /** Stops scheduling, cancels runs (they keep what they committed), closes the server and the database. */
  stop(): Promise<void>;
}

/**
 * Starts everything, in order: each part pushes how to stop it onto one stack, so `stop` undoes them
 * in reverse and a part that fails to start undoes the ones before it. A new part goes where it
 * belongs in the sequence, with its `defer` right after it started.
 */
export async function startDaemon(config: Config, log: Logger, opts: { onFatal?: (err: Error) => void } = {}): Promise<Daemon> {
  const parts = new Disposers();
  const stopFailed = (part: string, err: unknown) => log.error({ part, err: scrubSecrets(coerceError(err).message) }, 'could not stop a part of the daemon');
  return parts.start(async () => {
    const metrics = new Metrics({ version: VERSION });
    const enabled = config.accounts.filter((a) => a.enabled);
    const runtime = await openRuntime(config, log, enabled, metrics, { takeLeases: false, instanceId: config.instanceId });
    parts.defer('runtime', () => runtime.close());
    const { sql } = runtime.db;
    // The ERP writes account and kind: anything this daemon does not know is counted as `other`, so
    // a typo cannot create label values without end.
    const accountNames = new Set(config.accounts.map((a) => a.name));
    const kinds = new Set<string>(COMMAND_KINDS);
    metrics.setDatabaseSources({
      unacknowledged: () => unacknowledgedCounts(sql),
      commands: async () =>
        (await commandCounts(sql)).map((c) => ({
          ...c,
          account: accountNames.has(c.account) ? c.account : 'other',
          kind: kinds.has(c.kind) ? c.kind : 'other',
        })),
      callbackQueue: async () => new Map([...(await callbackQueueDepths(sql))].filter(([account]) => accountNames.has(account))),
    });
    // The console's live view: every run of this daemon tells the status server as it goes.
    const runEvents: RunEvents = new EventEmitter();
    runtime.deps.onRunEvent = (e) => runEvents.emit('run', e);
    const scheduler = new Scheduler(runtime.deps);
    const alerts = new AlertEngine({ sql, config, log, countDelivery: (result) => metrics.alertNotifications.inc({ result }) });
    await alerts.start();
    parts.defer('alert engine', () => alerts.stop());
    // New outbox rows NOTIFY their account: drain promptly instead of waiting for the next poll.
    const commandsListen = new Listen(sql, 'emag_commands', (account) => scheduler.poke(account, 'commands'));
    // Callbacks queued through another instance's listener wake this one's drain.
    const callbacksListen = new Listen(sql, 'emag_callbacks', (account) => scheduler.poke(account, 'callbacks'));
    const lastSuccess = async (account: string, stream: Stream) => {
      // A run its previous owner left interrupted (killed mid-run) resumes at once, not at the next slot.
      const latest = await latestRun(sql, account, stream, ['succeeded', 'partial', 'failed', 'cancelled', 'interrupted']);
      if (latest?.status === 'interrupted') return null;
      return (await latestRun(sql, account, stream, ['succeeded', 'partial']))?.finished_at ?? null;
    };
    // Accounts come and go as instances join and leave: the ownership loop adds and removes their jobs.
    const ownership = new Ownership({
      instanceId: config.instanceId,
      version: VERSION,
      accounts: enabled,
      sql,
      leases: runtime.leases,
      budgets: runtime.deps.budgets,
      log,
      metrics,
      intervalMs: config.ownershipIntervalMs,
      take: (account) => (config.enableScheduledSync ? scheduler.addAccount(account, lastSuccess) : Promise.resolve()),
      drop: (account, abort) => scheduler.removeAccount(account, { abort }),
      idle: (account) => scheduler.idle(account),
      flushCalls: () => runtime.deps.callLog?.flush() ?? Promise.resolve(),
      onReconnect: () => (config.enableScheduledSync ? Promise.all([commandsListen.renew(), callbacksListen.renew()]).then(() => {}) : Promise.resolve()),
      onFatal: opts.onFatal,
    });
    runtime.deps.ownedSince = (account) => ownership.ownedSince(account);
    // A queued callback starts the account's drain at once (other instances hear the NOTIFY below).
    const callbackDeps = { sql, config, metrics, log, onQueued: (account: string) => scheduler.poke(account, 'callbacks') };
    const callbacksOwnPort = config.callbacks.token !== null && config.callbacks.port !== null;
    const callbacksOnStatus = config.callbacks.token !== null && !callbacksOwnPort ? callbackHandler(callbackDeps) : undefined;
    // Stopped in reverse: LISTEN, scheduler (runs cancelled while /health still answers), ownership
    // (the leases go back at once and the peers hear of it), then the server.
    let server: StatusServer | null = null;
    parts.defer('status server', () => server?.close());
    parts.defer('account ownership', () => ownership.stop());
    parts.defer('scheduler', () => scheduler.stop());

    if (config.enableScheduledSync) await scheduler.start([], lastSuccess);
    // Accounts first, so the server's first answers already say who owns what.
    await ownership.start();
    server = await startStatusServer({
      sql,
      config,
      metrics,
      scheduler,
      log,
      startedAt: new Date(),
      version: VERSION,
      database: { where: runtime.db.where, embedded: runtime.db.embedded },
      ownedAccounts: () => ownership.owned(),
      accountOwners: () => ownership.owners(),
      runEvents,
      budgets: runtime.deps.budgets,
      onCall: (e) => {
        metrics.observeCall(e);
        runtime.deps.callLog?.record(e);
      },
      alerts,
    }, { callbacks: callbacksOnStatus });
    const callbackServer = callbacksOwnPort ? await startCallbackServer(callbackDeps) : null;
    if (callbackServer) parts.defer('callback server', () => callbackServer.close());
    if (config.enableScheduledSync) {
      await commandsListen.renew();
      await callbacksListen.renew();
      // The connection may already be gone (the database stopped first): `stop` never throws.
      parts.defer('LISTEN emag_commands', () => commandsListen.stop());
      parts.defer('LISTEN emag_callbacks', () => callbacksListen.stop());
    } else {
      log.info('EMAG_ENABLE_SCHEDULED_SYNC=false: serving status and manual runs only');
    }

    // Retention: each owned account's daily cleanup (a maintenance run), caught up shortly after start.
    const retention = new RetentionSchedule(sql, config, log, { owns: (account) => ownership.owned().includes(account) });
    await retention.start(enabled.map((a) => a.name));
    parts.defer('retention', () => retention.stop());
    const backups = startBackupSchedule(sql, config, log);
    if (backups) parts.defer('backup schedule', () => backups.stop());

    log.info(
      {
        url: server.url,
        ...(config.callbacks.token !== null ? { callbacks: callbackServer?.url ?? server.url } : {}),
        instance: config.instanceId,
        accounts: ownership.owned(),
        database: runtime.db.where,
        scheduled: config.enableScheduledSync,
      },
      `emag-sync ${VERSION} started`,
    );
    return {
      runtime,
      alerts,
      scheduler,
      server,
      callbackServer,
      stop: async () => {
        await parts.dispose(stopFailed);
        log.info('emag-sync stopped');
      },
    };
  }, stopFailed);
}

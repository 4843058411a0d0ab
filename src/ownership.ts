/**
 * Account ownership among the instances sharing one database. Every instance registers itself
 * (`emag_instances`, live while its lease connection holds the lock of its id) and, every
 * `EMAG_SYNC_OWNERSHIP_INTERVAL` seconds or as soon as a peer says something changed, it:
 *
 * - takes the enabled accounts nobody owns, up to ceil(enabled accounts / live instances), so the
 *   accounts of an instance that died are taken over within one interval;
 * - hands surplus accounts back when a peer joined — at a run boundary: the account's jobs stop at
 *   once, its runs in flight finish, then the lease is released and the peers are told.
 *
 * A lease lost with the connection (the database restarted, or the network was cut and a peer took
 * the account) cancels the account's runs and closes its budget at once, before any further request;
 * the instance goes on with its other accounts and takes the account back if it is still free.
 * A new owner starts the account's budget from the old owner's last logged requests.
 */
import { hostname } from 'node:os';
import type { AccountConfig } from './config.ts';
import { ConfigError } from './config.ts';
import { recentCalls } from './db/api-calls.ts';
import type { Sql } from './db/connect.ts';
import { deregisterInstance, heartbeat, liveInstances, notifyPeers, OWNERSHIP_CHANNEL, pruneInstances, registerInstance } from './db/instances.ts';
import { accountHolders, databaseNow, type Leases } from './db/leases.ts';
import { Listen } from './db/listen.ts';
import { markInterrupted } from './db/runs.ts';
import { type AccountBudget, BudgetClosedError } from './emag/budget.ts';
import { coerceError, scrubSecrets } from './errors.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

/** What the ownership loop needs. */
export interface OwnershipOptions {
  /** This instance's id (EMAG_SYNC_INSTANCE_ID). */
  instanceId: string;
  version: string;
  /** The enabled accounts of the configuration, in configuration order. */
  accounts: AccountConfig[];
  sql: Sql;
  leases: Leases;
  budgets: Map<string, AccountBudget>;
  log: Logger;
  metrics?: Metrics;
  /** Between two rounds (ms). @default 10000 */
  intervalMs?: number;
  /** Starts syncing an account just taken. */
  take(account: AccountConfig): Promise<void>;
  /** Stops syncing an account; resolves once its runs ended. With `abort`, they are cancelled now. */
  drop(account: string, abort?: Error): Promise<void>;
  /** Whether no run of the account is in progress. */
  idle(account: string): boolean;
  /** Writes the API call log out, so the next owner sees our last requests. */
  flushCalls?(): Promise<void>;
  /** Called when the database came back after our connection to it was lost (to renew LISTENs). */
  onReconnect?(): Promise<void>;
  /** Called when this instance cannot go on (another instance took its id while the database was away). */
  onFatal?(err: Error): void;
}

/** Runs the ownership loop of one instance. */
export class Ownership {
  readonly #o: OwnershipOptions;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #listen: Listen | null = null;
  /** Accounts whose lease was lost, until their runs have ended: not taken back before. */
  readonly #dropping = new Set<string>();
  /** Accounts being handed back: their jobs are stopped, their lease goes when their runs end. */
  readonly #handingBack = new Set<string>();
  #owners = new Map<string, string | null>();
  /** When each held account was taken (database clock). */
  readonly #since = new Map<string, Date>();
  /** Whether this instance wrote its row (a refused start must not delete the live holder's row). */
  #registered = false;
  #live = 1;

  constructor(opts: OwnershipOptions) {
    this.#o = opts;
    this.#intervalMs = opts.intervalMs ?? 10_000;
  }

  /**
   * Registers the instance and takes its first accounts. Throws ConfigError (exit 78) when a live
   * instance already uses this id.
   */
  async start(): Promise<void> {
    const { instanceId: id, leases, sql, log } = this.#o;
    if (!(await leases.lockInstance(id))) {
      throw new ConfigError([`EMAG_SYNC_INSTANCE_ID: "${id}" is already used by another running emag-sync instance; give every instance its own id (or leave it unset for hostname:pid)`]);
    }
    await registerInstance(leases.sql, this.#row());
    this.#registered = true;
    await pruneInstances(sql).catch(() => 0);
    leases.onLost((accounts) => this.#lost(accounts));
    this.#listen = new Listen(sql, OWNERSHIP_CHANNEL, (from) => {
      if (from !== id) void this.round();
    });
    await this.#listen.renew();
    await this.round();
    await this.#notify();
    this.#timer = setInterval(() => void this.round(), this.#intervalMs);
    this.#timer.unref();
    log.info({ instance: id, owned: [...leases.held], live: this.#live }, 'instance registered');
  }

  #row() {
    return { id: this.#o.instanceId, host: hostname(), pid: process.pid, version: this.#o.version };
  }

  /** The accounts this instance holds. */
  owned(): string[] {
    return [...this.#o.leases.held];
  }

  /** The owning instance of each enabled account as of the last round (null: nobody, or a one-off command). */
  owners(): Map<string, string | null> {
    const out = new Map(this.#owners);
    for (const a of this.#o.leases.held) out.set(a, this.#o.instanceId);
    return out;
  }

  /** When this instance took the account (database clock); null when it does not hold it. */
  ownedSince(account: string): Date | null {
    return this.#o.leases.held.has(account) ? (this.#since.get(account) ?? null) : null;
  }

  /** Live instances as of the last round. */
  liveInstances(): number {
    return this.#live;
  }

  /** One round now (rounds never overlap: a round asked for during one runs right after it). */
  round(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#round) {
      this.#again = true;
      return this.#round;
    }
    this.#round = (async () => {
      do {
        this.#again = false;
        try {
          await this.#roundOnce();
        } catch (err) {
          // The database is away: the next round tries again; the leases went with the connection.
          this.#o.log.warn({ err: scrubSecrets(coerceError(err).message) }, 'ownership round failed');
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#round = null;
    });
    return this.#round;
  }

  async #roundOnce(): Promise<void> {
    const { instanceId: id, leases, sql, log, accounts } = this.#o;
    if (!leases.instanceLocked) {
      // Our connection was re-made (a database restart): the id's lock must be ours again.
      if (!(await leases.lockInstance(id))) {
        log.fatal({ instance: id }, 'another instance took this instance id while the database was away; stopping');
        this.#o.onFatal?.(new Error(`instance id ${id} taken by another instance`));
        return;
      }
      if (this.#listen) {
        await this.#listen.renew();
        await this.#o.onReconnect?.();
        log.info({ instance: id }, 'database connection re-made: instance lock and LISTEN renewed');
      }
    }
    await heartbeat(leases.sql, this.#row());
    await leases.verify();
    this.#live = Math.max(1, (await liveInstances(sql)).length);
    const cap = Math.ceil(accounts.length / this.#live);

    // Surplus first, at a run boundary: idle accounts go before busy ones.
    const keep = [...leases.held].filter((a) => !this.#handingBack.has(a));
    const surplus = leases.held.size - cap;
    if (surplus > 0 && keep.length > 0) {
      const order = [...keep].sort((a, b) => Number(this.#o.idle(b)) - Number(this.#o.idle(a)));
      for (const account of order.slice(0, Math.max(0, surplus - this.#handingBack.size))) this.#handBack(account);
    }

    // Then the accounts nobody owns, up to our share. Start at a place that depends on our id, so
    // instances starting together do not all try the same account first.
    if (leases.held.size < cap) {
      const start = hash(id) % Math.max(1, accounts.length);
      for (let i = 0; i < accounts.length && leases.held.size < cap && !this.#stopped; i++) {
        const account = accounts[(start + i) % accounts.length];
        if (leases.held.has(account.name) || this.#handingBack.has(account.name) || this.#dropping.has(account.name)) continue;
        if (await leases.acquire(account.name)) await this.#took(account);
      }
    }

    const holders = await accountHolders(sql, accounts.map((a) => a.name));
    this.#owners = new Map(holders.map((h) => [h.account, h.owner]));
    this.#publish();
  }

  /** Starts an account just taken: runs its last owner left running are dead, its budget starts from their requests. */
  async #took(account: AccountConfig): Promise<void> {
    const { sql, log, budgets, leases } = this.#o;
    try {
      this.#since.set(account.name, await databaseNow(sql));
      const interrupted = await markInterrupted(sql, account.name);
      const budget = budgets.get(account.name);
      if (budget) {
        budget.reopen();
        budget.noteSent(await recentCalls(sql, account.name));
      }
      await this.#o.take(account);
      log.info({ account: account.name, instance: this.#o.instanceId, interrupted }, 'account taken');
    } catch (err) {
      log.warn({ account: account.name, err: scrubSecrets(coerceError(err).message) }, 'could not start an account just taken; giving it back');
      await this.#o.drop(account.name, new Error('the account could not be started'));
      await leases.release(account.name).catch(() => {});
    }
  }

  #handBack(account: string): void {
    const { leases, log } = this.#o;
    this.#handingBack.add(account);
    log.info({ account, instance: this.#o.instanceId, live: this.#live }, 'handing an account back to balance the instances (after its runs end)');
    void (async () => {
      try {
        await this.#o.drop(account);
        await this.#o.flushCalls?.();
        await leases.release(account);
        await this.#notify();
        log.info({ account }, 'account handed back');
      } catch (err) {
        log.warn({ account, err: scrubSecrets(coerceError(err).message) }, 'could not hand an account back');
      } finally {
        this.#handingBack.delete(account);
        this.#publish();
      }
    })();
  }

  /** Leases gone with the connection (or found taken): stop those accounts before their next request. */
  #lost(accounts: string[]): void {
    const { log, budgets } = this.#o;
    for (const account of accounts) {
      const reason = new BudgetClosedError(`the lease of account ${account} was lost`);
      // Cancel the runs first (they end `cancelled`), then refuse any request still to come. The
      // account is taken back only once its runs have ended, so their rows are not marked interrupted.
      this.#dropping.add(account);
      void this.#o
        .drop(account, reason)
        .catch(() => {})
        .finally(() => {
          this.#dropping.delete(account);
          if (!this.#stopped) void this.round();
        });
      budgets.get(account)?.close(reason);
      log.warn({ account, instance: this.#o.instanceId }, 'account lease lost: its runs are cancelled; taking it back if it is still free');
    }
    this.#publish();
    if (!this.#stopped) void this.round();
  }

  #publish(): void {
    const { metrics, accounts, leases } = this.#o;
    if (!metrics) return;
    for (const a of accounts) metrics.accountOwned.set({ account: a.name }, leases.held.has(a.name) ? 1 : 0);
    metrics.instances.set(this.#live);
  }

  async #notify(): Promise<void> {
    await notifyPeers(this.#o.sql, this.#o.instanceId).catch(() => {});
  }

  /**
   * Stops the loop and gives every lease back at once (call after the scheduler stopped, so no run
   * is in flight), then tells the peers so one takes over within moments.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#round?.catch(() => {});
    await this.#listen?.stop();
    const { leases, sql, log } = this.#o;
    await this.#o.flushCalls?.().catch(() => {});
    for (const account of [...leases.held]) await leases.release(account).catch(() => {});
    if (!this.#registered) return;
    await deregisterInstance(sql, this.#o.instanceId).catch((err) => log.warn({ err: scrubSecrets(coerceError(err).message) }, 'could not deregister the instance'));
    await this.#notify();
  }
}

/** A small stable hash of a string (FNV-1a). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

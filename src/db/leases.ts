/**
 * Account leases: a session-level Postgres advisory lock per account, held on a client of its own
 * (one connection that is never recycled), so that among several daemons (and one-off `sync`
 * commands) each account is synced by one process at a time. A crashed process's connection closes
 * and its leases go with it; so do ours when our connection is cut, which `connectionClosed` reports
 * at once (before the next request of a run of that account is sent).
 *
 * A daemon also holds the lock of its instance id on the same connection: that is what makes it live
 * (see instances.ts), and what refuses a second instance started with the same id.
 */
import type { Sql } from './connect.ts';

const accountKey = (account: string) => `emag-sync:account:${account}`;
const instanceKey = (id: string) => `emag-sync:instance:${id}`;

/** Called with the accounts whose leases were lost. */
export type LostListener = (accounts: string[]) => void;

/** The leases one process holds. */
export class Leases {
  readonly held = new Set<string>();
  /** The instance id whose lock this connection holds, if any. */
  #instance: string | null = null;
  #closing = false;
  readonly #listeners: LostListener[] = [];

  /**
   * `sql` must be a persistent client with a single connection (Database.connect(1, {persistent: true})),
   * created with `onclose: () => leases.connectionClosed()` so a cut connection is noticed at once.
   */
  constructor(readonly sql: Sql) {}

  /** Registers a listener for leases lost with the connection or found taken by `verify`. */
  onLost(listener: LostListener): void {
    this.#listeners.push(listener);
  }

  /** Tries to take an account's lease; false when another process holds it. */
  async acquire(account: string): Promise<boolean> {
    if (this.held.has(account)) return true;
    const [row] = await this.sql<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${accountKey(account)})) as ok`;
    if (row.ok) this.held.add(account);
    return row.ok;
  }

  /** Gives an account's lease back (a peer may take it at once). */
  async release(account: string): Promise<void> {
    if (!this.held.delete(account)) return;
    await this.sql`select pg_advisory_unlock(hashtext(${accountKey(account)}))`;
  }

  /** Takes the lock of an instance id; false when a live instance holds it. Held until the connection closes. */
  async lockInstance(id: string): Promise<boolean> {
    if (this.#instance === id) return true;
    const [row] = await this.sql<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${instanceKey(id)})) as ok`;
    if (row.ok) this.#instance = id;
    return row.ok;
  }

  /** Whether this connection holds its instance lock (false after the connection was cut, until retaken). */
  get instanceLocked(): boolean {
    return this.#instance !== null;
  }

  /**
   * Checks that the leases are still held by this very session and returns the accounts whose lease
   * is gone (reported to the listeners too). A cut connection is normally reported by
   * `connectionClosed` already; this catches the rest.
   */
  async verify(): Promise<string[]> {
    if (this.held.size === 0) return [];
    const accounts = [...this.held];
    const rows = await this.sql<{ account: string; ok: boolean }[]>`
      select a.account, exists (
        select 1 from pg_locks l where l.locktype = 'advisory' and l.pid = pg_backend_pid() and l.granted
          and l.objsubid = 1 and l.classid = ((k.k >> 32) & 4294967295)::oid and l.objid = (k.k & 4294967295)::oid
      ) as ok
      from unnest(${this.sql.array(accounts)}::text[]) a (account),
      lateral (select hashtext('emag-sync:account:' || a.account)::bigint as k) k`;
    const lost = rows.filter((r) => !r.ok && this.held.delete(r.account)).map((r) => r.account);
    if (lost.length > 0) this.#emit(lost);
    return lost;
  }

  /** The lease connection closed: every lock on it is gone. Wire it to the client's `onclose`. */
  connectionClosed(): void {
    if (this.#closing) return;
    this.#instance = null;
    const lost = [...this.held];
    this.held.clear();
    if (lost.length > 0) this.#emit(lost);
  }

  #emit(lost: string[]): void {
    for (const l of this.#listeners) l(lost);
  }

  /** Releases every lease and closes the client. */
  async releaseAll(): Promise<void> {
    this.#closing = true;
    this.held.clear();
    this.#instance = null;
    // Closing the session releases its advisory locks.
    await this.sql.end({ timeout: 5 });
  }
}

/** The database's clock, for times compared with rows the database stamped (claims, calls). */
export async function databaseNow(sql: Sql): Promise<Date> {
  const [row] = await sql<{ now: Date }[]>`select now() as now`;
  return row.now;
}

/** Who holds an account's lease: an instance (by id), another process (a one-off `sync`), or nobody. */
export interface AccountHolder {
  account: string;
  locked: boolean;
  /** The holding instance's id; null when nobody or a process that is not a registered instance holds it. */
  owner: string | null;
}

/** The holder of each account's lease, from the server's lock table and the instances' lease connections. */
export async function accountHolders(sql: Sql, accounts: readonly string[]): Promise<AccountHolder[]> {
  if (accounts.length === 0) return [];
  return sql<AccountHolder[]>`
    select a.account, l.pid is not null as locked, i.id as owner
    from unnest(${sql.array([...accounts])}::text[]) with ordinality a (account, ord)
    cross join lateral (select hashtext('emag-sync:account:' || a.account)::bigint as k) k
    left join pg_locks l on l.locktype = 'advisory' and l.granted and l.objsubid = 1
      and l.database = (select oid from pg_database where datname = current_database())
      and l.classid = ((k.k >> 32) & 4294967295)::oid and l.objid = (k.k & 4294967295)::oid
    left join emag_instances i on i.lease_pid = l.pid
    order by a.ord`;
}

/** Which of `accounts` some process (this one included) holds the lease of in this database. */
export async function leasedAccounts(sql: Sql, accounts: string[]): Promise<Set<string>> {
  return new Set((await accountHolders(sql, accounts)).filter((h) => h.locked).map((h) => h.account));
}

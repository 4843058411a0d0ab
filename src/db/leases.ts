/**
 * Account leases: a session-level Postgres advisory lock per account, held on a client of its own
 * (one connection that is never recycled), so that among several daemons (and one-off `sync`
 * commands) each account is synced by one process at a time. A crashed process's connection closes
 * and its leases go with it.
 */
import type { Sql } from './connect.ts';

const key = (account: string) => `emag-sync:account:${account}`;

/** The leases one process holds. */
export class Leases {
  readonly held = new Set<string>();

  /** `sql` must be a persistent client with a single connection (Database.connect(1, {persistent: true})). */
  constructor(private readonly sql: Sql) {}

  /** Tries to take an account's lease; false when another process holds it. */
  async acquire(account: string): Promise<boolean> {
    if (this.held.has(account)) return true;
    const [row] = await this.sql<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${key(account)})) as ok`;
    if (row.ok) this.held.add(account);
    return row.ok;
  }

  /**
   * Checks that the leases are still held (the connection may have been cut, taking the locks with
   * it) and takes back any that were lost. False when one is now held by another process.
   */
  async verify(): Promise<boolean> {
    for (const account of this.held) {
      const [row] = await this.sql<{ ok: boolean }[]>`
        select exists (select 1 from pg_locks l where l.locktype = 'advisory' and l.pid = pg_backend_pid() and l.granted
          and l.objid = (hashtext(${key(account)})::bigint & 4294967295)::oid) as ok`;
      if (row.ok) continue;
      const [again] = await this.sql<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${key(account)})) as ok`;
      if (!again.ok) return false;
    }
    return true;
  }

  /** Releases every lease and closes the client. */
  async releaseAll(): Promise<void> {
    this.held.clear();
    // Closing the session releases its advisory locks.
    await this.sql.end({ timeout: 5 });
  }
}

/** Which of `accounts` some process (this one included) holds the lease of in this database, read from pg_locks. */
export async function leasedAccounts(sql: Sql, accounts: string[]): Promise<Set<string>> {
  if (accounts.length === 0) return new Set();
  const rows = await sql<{ account: string }[]>`
    select a.account from unnest(${accounts}::text[], ${accounts.map(key)}::text[]) as a(account, key)
    where exists (select 1 from pg_locks l where l.locktype = 'advisory' and l.granted
      and l.database = (select oid from pg_database where datname = current_database())
      and l.objid = (hashtext(a.key)::bigint & 4294967295)::oid)`;
  return new Set(rows.map((r) => r.account));
}

/**
 * Account leases: a session-level Postgres advisory lock per account, held on one reserved
 * connection, so that among several daemons (and one-off `sync` commands) each account is synced by
 * one process at a time. A crashed process's connection closes and its leases go with it.
 */
import type postgres from 'postgres';
import type { Sql } from './connect.ts';

/** The leases one process holds. */
export class Leases {
  #conn: postgres.ReservedSql | null = null;
  readonly held = new Set<string>();

  constructor(private readonly sql: Sql) {}

  /** Tries to take an account's lease; false when another process holds it. */
  async acquire(account: string): Promise<boolean> {
    if (this.held.has(account)) return true;
    this.#conn ??= await this.sql.reserve();
    const [row] = await this.#conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${`emag-sync:account:${account}`})) as ok`;
    if (row.ok) this.held.add(account);
    return row.ok;
  }

  /** Releases every lease. */
  async releaseAll(): Promise<void> {
    if (!this.#conn) return;
    for (const account of this.held) {
      await this.#conn`select pg_advisory_unlock(hashtext(${`emag-sync:account:${account}`}))`.catch(() => {});
    }
    this.held.clear();
    this.#conn.release();
    this.#conn = null;
  }
}

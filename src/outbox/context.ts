/**
 * What the outbox works with: the account's eMAG client and the database, and a place to store the
 * records it re-reads from eMAG. The commands stream hands in its run's context, which fits.
 */
import type { AccountConfig } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import type { EmagClient } from '../emag/client.ts';

/** Stores records eMAG sent in one transaction, quarantining the ones that do not parse. */
export interface RecordStore {
  store<T, C>(items: unknown[], parse: (raw: unknown) => T, write: (tx: Tx, rows: T[]) => Promise<C>): Promise<{ rows: T[]; counts: C }>;
}

/** The outbox's view of one account. */
export interface OutboxContext {
  sql: Sql;
  client: EmagClient;
  account: AccountConfig;
  signal: AbortSignal;
  run: RecordStore;
}

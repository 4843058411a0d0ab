/**
 * The cheapest question to the database, for health probes: `select 1`, returned unawaited so the
 * caller can cancel it when it waits too long for a connection.
 */
import type { Sql } from './connect.ts';

/** `select 1`, cancellable with `.cancel()`. */
export function ping(sql: Sql) {
  return sql`select 1`;
}

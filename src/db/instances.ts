/**
 * The SQL that owns `emag_instances`: the daemons sharing this database. A row is written when an
 * instance starts and refreshed by its heartbeat; an instance counts as live while its lease
 * connection (`lease_pid`) holds the advisory lock of its id, so a killed instance stops counting the
 * moment its connection drops — no timeout to wait out.
 */
import type { Sql } from './connect.ts';

/** An instance as its row describes it. */
export interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  started_at: Date;
  last_seen_at: Date;
}

/**
 * Writes (or takes over the row of a dead instance with the same id) this instance's row.
 * Run it on the lease connection, after taking the instance lock: `lease_pid` is that session.
 */
export async function registerInstance(leaseSql: Sql, r: { id: string; host: string; pid: number; version: string }): Promise<void> {
  await leaseSql`
    insert into emag_instances (id, host, pid, version, lease_pid)
    values (${r.id}, ${r.host}, ${r.pid}, ${r.version}, pg_backend_pid())
    on conflict (id) do update set host = excluded.host, pid = excluded.pid, version = excluded.version,
      lease_pid = excluded.lease_pid, started_at = now(), last_seen_at = now()`;
}

/**
 * The heartbeat, on the lease connection (its backend pid changes when the connection is re-made).
 * Writes the row again if it is gone (deleted by hand, or the database restored from a backup).
 */
export async function heartbeat(leaseSql: Sql, r: { id: string; host: string; pid: number; version: string }): Promise<void> {
  await leaseSql`
    insert into emag_instances (id, host, pid, version, lease_pid)
    values (${r.id}, ${r.host}, ${r.pid}, ${r.version}, pg_backend_pid())
    on conflict (id) do update set last_seen_at = now(), lease_pid = excluded.lease_pid`;
}

/** Deletes an instance's row (at a clean stop). */
export async function deregisterInstance(sql: Sql, id: string): Promise<void> {
  await sql`delete from emag_instances where id = ${id}`;
}

/** The live instances: those whose lease connection holds the lock of their id. */
export async function liveInstances(sql: Sql): Promise<InstanceRow[]> {
  return sql<InstanceRow[]>`
    select i.id, i.host, i.pid, i.version, i.started_at, i.last_seen_at
    from emag_instances i
    cross join lateral (select hashtext('emag-sync:instance:' || i.id)::bigint as k) k
    where exists (
      select 1 from pg_locks l where l.locktype = 'advisory' and l.granted and l.pid = i.lease_pid and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = ((k.k >> 32) & 4294967295)::oid and l.objid = (k.k & 4294967295)::oid)
    order by i.started_at, i.id`;
}

/** The channel instances NOTIFY when they join or let accounts go, so their peers act at once. */
export const OWNERSHIP_CHANNEL = 'emag_sync_ownership';

/** Tells the peers that something changed (`id`: who says so, so it can ignore its own notice). */
export async function notifyPeers(sql: Sql, id: string): Promise<void> {
  await sql`select pg_notify(${OWNERSHIP_CHANNEL}, ${id})`;
}

/** Deletes rows of instances not seen for `days` (they died without a clean stop). */
export async function pruneInstances(sql: Sql, days = 7): Promise<number> {
  const r = await sql`delete from emag_instances where last_seen_at < now() - make_interval(days => ${days})`;
  return r.count;
}

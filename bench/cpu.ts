/**
 * CPU time of the processes a run spends it in, read from /proc (Linux): the syncing process itself,
 * the sandbox's process and the PostgreSQL backends serving the bench's database. CPU time, unlike
 * wall time, hardly moves when other work shares the machine, so it is the figure to compare.
 */
import { readFileSync } from 'node:fs';
import type { Sql } from '../src/db/connect.ts';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User + system CPU ms of a process (and its threads) so far; 0 when it is gone or unreadable. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU ms by backend pid of every session of the database `sql` is connected to. */
export async function backendsCpuMs(sql: Sql): Promise<Map<number, number>> {
  const rows = await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`;
  return new Map(rows.map((r) => [r.pid, processCpuMs(r.pid)]));
}

/** A meter of CPU time spent from now on by this process, other processes, and the database's backends. */
export async function cpuMeter(sql: Sql, pids: number[] = []): Promise<() => Promise<{ selfMs: number; othersMs: number; databaseMs: number }>> {
  const self = process.cpuUsage();
  const others = pids.map(processCpuMs);
  const backends = await backendsCpuMs(sql);
  return async () => {
    const used = process.cpuUsage(self);
    const now = await backendsCpuMs(sql);
    let databaseMs = 0;
    // A backend that started during the run started from zero; one that ended is lost (sessions stay open here).
    for (const [pid, ms] of now) databaseMs += ms - (backends.get(pid) ?? 0);
    return {
      selfMs: (used.user + used.system) / 1000,
      othersMs: pids.reduce((s, pid, i) => s + processCpuMs(pid) - others[i], 0),
      databaseMs,
    };
  };
}

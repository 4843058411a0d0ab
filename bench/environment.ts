/**
 * The conditions the figures were taken in: a busy machine or a slow disk (every page is a commit,
 * and every commit waits for the WAL to reach the disk) moves them more than any code change.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Sql } from '../src/db/connect.ts';

/** What the machine looked like. */
export interface Environment {
  cores: number;
  /** One-minute load average. */
  load1: number;
  /** Latency of a one-row insert in its own transaction (a WAL flush), ms. */
  commitP50Ms: number;
  commitMaxMs: number;
}

/** How many commits the probe times. */
const COMMITS = 30;

/** Measures the machine and the database's commit latency (in a scratch table it drops). */
export async function probeEnvironment(sql: Sql): Promise<Environment> {
  await sql`create table if not exists bench_commit_probe (n int)`;
  const times: number[] = [];
  try {
    for (let n = 0; n < COMMITS; n++) {
      const started = performance.now();
      await sql`insert into bench_commit_probe values (${n})`;
      times.push(performance.now() - started);
    }
  } finally {
    await sql`drop table if exists bench_commit_probe`;
  }
  times.sort((a, b) => a - b);
  return { cores: availableParallelism(), load1: loadavg()[0], commitP50Ms: times[Math.floor(times.length / 2)], commitMaxMs: times[times.length - 1] };
}

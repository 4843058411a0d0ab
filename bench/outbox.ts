/**
 * The commands outbox, measured with no bar yet: how many commands a second one run drains with the
 * limits lifted, and how long an idle account takes from a command's insert to the eMAG call
 * (LISTEN/NOTIFY wakes the daemon, which starts a commands run, as src/daemon.ts wires it).
 */
import type { Sql } from '../src/db/connect.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { commandsStream } from '../src/streams/commands.ts';
import { offersStream } from '../src/streams/offers.ts';
import { executeRun } from '../src/streams/run.ts';
import { benchAccount, benchConfig, benchDeps } from './sync-setup.ts';

/** What the outbox section measured. */
export interface OutboxFigures {
  commands: number;
  requests: number;
  seconds: number;
  perSecond: number;
  /** Insert → first eMAG request of that command, ms, per try. */
  wakeMs: number[];
}

/** Commands drained in the throughput run. */
const COMMANDS = 2000;
/** Inserts timed one by one for the wake-up latency. */
const WAKES = 5;

/** Resolves with the arrival time of the first write request the sandbox sees after `from`. */
function nextWrite(sandbox: Sandbox, from: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const look = () => {
      const hit = sandbox.log.slice(from).find((e) => e.action !== 'read' && e.action !== 'count');
      if (hit) return resolve(hit.t);
      if (performance.now() > deadline) return reject(new Error(`no eMAG call within ${timeoutMs} ms of the insert`));
      setTimeout(look, 1);
    };
    look();
  });
}

/** Measures the outbox against an in-process sandbox (its work per command is small). */
export async function measureOutbox(sql: Sql, databaseUrl: string): Promise<OutboxFigures> {
  const sandbox = await startSandbox({ accounts: [benchAccount('outbox', COMMANDS)], enforceLimits: false });
  const config = benchConfig(databaseUrl, { outbox: sandbox.url }, { EMAG_CONFLICT_STRATEGY: 'local_priority' });
  const account = config.accounts[0];
  try {
    const lifted = await benchDeps(sql, config, 'lifted');
    const scan = await executeRun(lifted, account, 'offers', offersStream(), { mode: 'full', trigger: 'cli' });
    if (scan.status !== 'succeeded') throw new Error(`the outbox account's offers scan ${scan.status}: ${scan.error}`);
    const ids = sandbox.account('outbox').offers.map((o) => Number(o.id));
    await sql`
      insert into emag_commands (account, kind, payload)
      select 'outbox', 'offer_update', jsonb_build_object('id', id, 'vat_id', 1) from unnest(${sql.array(ids)}::bigint[]) as id`;
    const from = sandbox.log.length;
    const started = performance.now();
    const drained = await executeRun(lifted, account, 'commands', commandsStream(), { mode: 'incremental', trigger: 'cli' });
    const seconds = (performance.now() - started) / 1000;
    if (drained.status !== 'succeeded' || drained.counters.items_updated !== COMMANDS) {
      throw new Error(`the outbox run ${drained.status} with ${drained.counters.items_updated} of ${COMMANDS} done: ${drained.error}`);
    }
    const requests = sandbox.log.slice(from).filter((e) => e.action !== 'read' && e.action !== 'count').length;

    // An idle account under eMAG's own budget, woken by the insert's NOTIFY.
    const real = await benchDeps(sql, config, 'emag');
    let running: Promise<unknown> = Promise.resolve();
    const listening = await sql.listen('emag_commands', (name) => {
      if (name !== 'outbox') return;
      running = running.then(() => executeRun(real, account, 'commands', commandsStream(), { mode: 'incremental', trigger: 'schedule' }));
    });
    const wakeMs: number[] = [];
    try {
      for (let i = 0; i < WAKES; i++) {
        await running;
        // Idle: the budget has a slot again, as it would after a quiet spell.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const at = sandbox.log.length;
        const inserted = Date.now();
        await sql`insert into emag_commands (account, kind, payload) values ('outbox', 'offer_update', ${sql.json({ id: ids[i], vat_id: 2 })})`;
        wakeMs.push((await nextWrite(sandbox, at, 10_000)) - inserted);
      }
      await running;
    } finally {
      await listening.unlisten();
    }
    return { commands: COMMANDS, requests, seconds, perSecond: COMMANDS / seconds, wakeMs };
  } finally {
    await sandbox.close();
  }
}

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../src/db/connect.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { FORCED_EXIT_CODE, SAME_SIGNAL_MS } from '../src/signals.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { cli } from './helpers/processes.ts';
import { sandboxEnv, TEST_ACCOUNTS } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;

before(async () => {
  // Slow pages, so an offers scan of `main` is still going when the signals arrive.
  [sandbox, db] = await Promise.all([
    startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: 3000 }, { ...TEST_ACCOUNTS[1], offers: 5 }], latencyMs: 300 }),
    testDatabase(),
  ]);
});
after(async () => {
  await sandbox?.close();
  await db?.close();
});

interface Daemon {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `emag-sync start`, syncing only offers, logging JSON at debug level. */
async function startDaemon(): Promise<Daemon> {
  const env = sandboxEnv(sandbox, db, { EMAG_SYNC_PORT: String(await freePort()), EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers', EMAG_LOG_LEVEL: 'debug' });
  const p = cli(['start'], env);
  return { ...p, exited: once(p.child, 'exit').then(([code]) => code as number | null) };
}

/** The id of main's offers run once it has committed a page. */
async function runningScan(d: Daemon): Promise<number> {
  const end = Date.now() + 30_000;
  for (;;) {
    const [row] = await db.sql<{ id: number }[]>`select id from emag_sync_runs where account = 'main' and stream = 'offers' and status = 'running' and pages_done >= 1`;
    if (row) return row.id;
    if (d.child.exitCode !== null || Date.now() > end) throw new Error(`no running offers scan:\n${d.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves with the exit code, or kills the daemon and fails after `ms`. */
async function exitWithin(d: Daemon, ms: number): Promise<number | null> {
  const timer = setTimeout(() => d.child.kill('SIGKILL'), ms);
  const code = await d.exited;
  clearTimeout(timer);
  return code;
}

test('one Ctrl-C passed on twice within milliseconds stops gracefully: the run is cancelled, exit 0', async () => {
  const d = await startDaemon();
  const runId = await runningScan(d);
  // What the terminal and npm/tsx do with one Ctrl-C: the same SIGINT twice, a few ms apart.
  d.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 5));
  d.child.kill('SIGINT');
  assert.equal(await exitWithin(d, 20_000), 0, d.output());
  assert.match(d.output(), /stopping \(send the signal again to force\)/);
  assert.match(d.output(), /the same signal again \(passed on by npm or tsx\): still stopping gracefully/);
  assert.doesNotMatch(d.output(), /second signal: exiting now/);
  assert.match(d.output(), /emag-sync stopped/);
  const [row] = await db.sql`select status from emag_sync_runs where id = ${runId}`;
  assert.equal(row.status, 'cancelled');
  const running = await db.sql`select id from emag_sync_runs where status = 'running'`;
  assert.equal(running.length, 0, 'no run left running');
});

test('a second Ctrl-C a moment later forces exit 130 while the graceful stop is still waiting', async () => {
  const d = await startDaemon();
  const runId = await runningScan(d);
  // Hold the run's row, so the graceful stop cannot record the end of the run and keeps waiting.
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked: () => void = () => {};
  const isLocked = new Promise<void>((r) => {
    locked = r;
  });
  const holder = db.sql.begin(async (tx) => {
    await tx`select id from emag_sync_runs where id = ${runId} for update`;
    locked();
    await released;
  });
  try {
    await isLocked;
    const first = performance.now();
    d.child.kill('SIGINT');
    // A person reads "stopping …", then presses Ctrl-C again.
    await new Promise((r) => setTimeout(r, SAME_SIGNAL_MS + 300));
    assert.equal(d.child.exitCode, null, `still stopping gracefully after ${Math.round(performance.now() - first)} ms:\n${d.output()}`);
    d.child.kill('SIGINT');
    assert.equal(await exitWithin(d, 10_000), FORCED_EXIT_CODE, d.output());
    assert.match(d.output(), /stopping \(send the signal again to force\)/);
    assert.match(d.output(), /second signal: exiting now/);
    assert.doesNotMatch(d.output(), /emag-sync stopped/);
  } finally {
    release();
    await holder;
  }
  // Forced: the run was not recorded as ended (the next start marks it interrupted).
  const [row] = await db.sql`select status from emag_sync_runs where id = ${runId}`;
  assert.equal(row.status, 'running');
});

test('a Ctrl-C to the whole terminal group stops the demo gracefully: its embedded PostgreSQL is not signalled, and stops last', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'emag-sync-demo-'));
  chmodSync(dataDir, 0o755);
  // Its own process group, like a terminal's foreground job: the signal below goes to every process in it.
  const { child, output } = cli(['demo', '--offers', '300', '--latency', '0'], { EMAG_SYNC_PORT: String(await freePort()), EMAG_SYNC_DATA_DIR: dataDir }, { detached: true });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  try {
    const end = Date.now() + 60_000;
    while (!output().includes('demo running')) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`the demo did not start:\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(-(child.pid as number), 'SIGINT');
    assert.equal(await exited, 0, output());
    assert.match(output(), /emag-sync stopped/);
    // Had postgres taken the SIGINT, the leases' connection would have dropped under the stop.
    assert.doesNotMatch(output(), /lease lost|could not deregister|ECONNRESET/, output());
  } finally {
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

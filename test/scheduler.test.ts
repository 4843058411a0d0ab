import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../src/log.ts';
import type { Config } from '../src/config.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { AccountBudget } from '../src/emag/budget.ts';
import { failoverDelayMs, OFFSET_SHARE_OF_PERIOD, periodSeconds, RAMP_MS_PER_RUN, RunRefusedError, Scheduler, spreadStart, startOffsetSeconds } from '../src/scheduler.ts';
import type { SyncDeps } from '../src/streams/run.ts';
import type { TestDatabase } from './helpers/db.ts';
import { harness } from './helpers/setup.ts';

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;
harness([{ offers: 450 }, { offers: 30 }], { env: { EMAG_AUTO_FAILOVER: 'true', EMAG_MAX_RETRIES: '0' } }, (h) => {
  ({ sandbox, db, config, deps } = h);
});

test('start offsets are stable per account stream, never zero, and differ between accounts', () => {
  const hourly = 3600;
  assert.equal(startOffsetSeconds('main', 'offers', hourly), startOffsetSeconds('main', 'offers', hourly));
  const offsets = ['main', 'fbe', 'bg', 'hu'].flatMap((a) => ['offers', 'orders', 'rma'].map((s) => startOffsetSeconds(a, s, hourly)));
  assert.ok(offsets.every((o) => o >= 1 && o < 180 && o % 60 !== 0), 'never at a round time');
  assert.ok(new Set(offsets).size > offsets.length / 2, 'spread out');
});

test('the start offset is bounded by a tenth of the period, and never zero', () => {
  const names = Array.from({ length: 200 }, (_, i) => `account${i}`);
  for (const period of [30, 60, 300, 600, 1800, 3600, 86_400]) {
    const offsets = names.map((a) => startOffsetSeconds(a, 'commands', period));
    const bound = Math.min(180, Math.max(2, period * OFFSET_SHARE_OF_PERIOD));
    assert.ok(offsets.every((o) => Number.isInteger(o) && o >= 1 && o < bound), `period ${period} s: offsets ${Math.min(...offsets)}–${Math.max(...offsets)} s within [1, ${bound})`);
    assert.ok(offsets.every((o) => o % 60 !== 0), `period ${period} s: never a whole minute`);
    if (period >= 60) assert.ok(new Set(offsets).size > 1, `period ${period} s: accounts spread out`);
  }
  // A stream every 30 s first runs again ~30 s after start, not minutes later.
  assert.ok(startOffsetSeconds('main', 'commands', periodSeconds({ kind: 'interval', minutes: 0.5 })) <= 2);
  // A cron schedule's period is the gap between its slots.
  assert.equal(periodSeconds({ kind: 'cron', expression: '*/5 * * * *' }), 300);
  assert.equal(periodSeconds({ kind: 'cron', expression: '0 3 * * *' }), 86_400);
});

test('a scheduled run of a stream every 30 s is due again about 30 s after start, not minutes later', async () => {
  const scheduler = new Scheduler(deps);
  const main = { ...config.accounts[0], syncTypes: ['commands' as const], schedules: { ...config.accounts[0].schedules, commands: { kind: 'interval' as const, minutes: 0.5 } } };
  const startedAt = Date.now();
  await scheduler.start([main], async () => new Date());
  const next = scheduler.nextRun('main', 'commands');
  await scheduler.stop();
  assert.ok(next, 'scheduled');
  const inMs = next.getTime() - startedAt;
  assert.ok(inMs >= 30_000 && inMs <= 34_000, `next run in ${inMs} ms`);
});

test('failover delays grow from ~30 s and are capped at 10 min, with jitter', () => {
  for (let failures = 1; failures <= 8; failures++) {
    const base = Math.min(600_000, 30_000 * 2 ** (failures - 1));
    const samples = Array.from({ length: 30 }, () => failoverDelayMs(failures));
    assert.ok(samples.every((d) => d >= base / 2 && d <= base));
  }
});

test('never two runs of one account stream at once, while other accounts run alongside', async () => {
  sandbox.setLatency(100);
  const scheduler = new Scheduler(deps);
  const main = config.accounts[0];
  const first = scheduler.trigger(main, 'offers', 'full', 'manual');
  await assert.rejects(scheduler.trigger(main, 'offers', 'full', 'manual'), RunRefusedError);
  assert.deepEqual(scheduler.activeRuns().map((r) => `${r.account}/${r.stream}`), ['main/offers']);
  // Another account's same stream runs alongside: budgets are per account.
  const other = scheduler.trigger(config.accounts[1], 'offers', 'full', 'manual');
  assert.deepEqual(scheduler.activeRuns().map((r) => r.account).sort(), ['fbe', 'main']);
  assert.equal((await first).status, 'succeeded');
  assert.equal((await other).status, 'succeeded');
  sandbox.setLatency(0);
  await scheduler.stop();
  await assert.rejects(scheduler.trigger(main, 'offers', 'full', 'manual'), /stopping/);
});

test('scheduled streams run at start when due, a poke starts a stream at once, and stop leaves nothing running', async () => {
  const scheduler = new Scheduler(deps);
  // Offers never synced (due now); every other stream just succeeded (not due).
  await scheduler.start([config.accounts[0]], async (_account, stream) => (stream === 'offers' ? null : new Date()));
  const next = scheduler.nextRun('main', 'offers');
  assert.ok(next && next.getTime() > Date.now(), 'the next slot is in the future');
  const waitFor = async (what: () => Promise<boolean>) => {
    for (let i = 0; i < 200; i++) {
      if (await what()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('timed out');
  };
  // Never synced, so due: the catch-up run starts within a few seconds.
  await waitFor(async () => scheduler.activeRuns().some((r) => r.stream === 'offers'));
  assert.ok(scheduler.activeRuns().some((r) => r.stream === 'offers' && r.trigger === 'schedule'));
  const before = await db.sql`select count(*)::int as n from emag_sync_runs where account = 'main' and stream = 'commands'`;
  await new Promise((r) => setTimeout(r, 2500));
  const idle = await db.sql`select count(*)::int as n from emag_sync_runs where account = 'main' and stream = 'commands'`;
  assert.equal(idle[0].n, before[0].n, 'commands is not due, so nothing runs it');
  scheduler.poke('main', 'commands');
  await waitFor(async () => (await db.sql`select count(*)::int as n from emag_sync_runs where account = 'main' and stream = 'commands'`)[0].n > before[0].n);
  const after = await db.sql`select count(*)::int as n from emag_sync_runs where account = 'main' and stream = 'commands'`;
  assert.ok(after[0].n > before[0].n, 'a poke starts a commands run');
  await scheduler.stop();
  const running = await db.sql`select count(*)::int as n from emag_sync_runs where status = 'running'`;
  assert.equal(running[0].n, 0, 'stop leaves no run running');
});

test('a failed run is retried by failover well before its next slot, and not for wrong credentials', async () => {
  const scheduler = new Scheduler(deps, { failoverFirstMs: 300 });
  const main = config.accounts[0];
  await scheduler.start([main], async () => new Date());
  sandbox.fault({ kind: 'server_error', count: 1, resource: 'product_offer' });
  const r = await scheduler.trigger(main, 'offers', 'full', 'manual');
  assert.equal(r.status, 'failed');
  const [row] = await db.sql`select error_kind from emag_sync_runs where id = ${r.runId}`;
  assert.equal(row.error_kind, 'server');
  let retried: { status: string }[] = [];
  for (let i = 0; i < 100 && retried.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    retried = await db.sql<{ status: string }[]>`select status from emag_sync_runs where id > ${r.runId} and trigger = 'failover' and status <> 'running'`;
  }
  assert.equal(retried[0]?.status, 'succeeded', 'the failover run succeeded within seconds');

  // Wrong credentials are not fixed by retrying: no failover run.
  const locked = await scheduler.trigger({ ...main, password: 'wrong-password' }, 'offers', 'full', 'manual');
  assert.equal(locked.status, 'failed');
  assert.equal(locked.errorKind, 'auth');
  await new Promise((res) => setTimeout(res, 1500));
  const after = await db.sql`select id from emag_sync_runs where id > ${locked.runId} and trigger = 'failover'`;
  assert.equal(after.length, 0);
  await scheduler.stop();
});

test('a scheduled run refused because the last one still runs is logged, not dropped', async () => {
  let found: (entry: Record<string, unknown>) => void = () => {};
  const skipped = new Promise<Record<string, unknown>>((resolve) => {
    found = resolve;
  });
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'run skipped') found(entry);
      }
      done();
    },
  });
  const scheduler = new Scheduler({ ...deps, log: createLogger('info', sink) });
  const main = { ...config.accounts[0], syncTypes: ['offers' as const] };
  // One page that never answers (until the 5-s API timeout) keeps the manual run going.
  sandbox.fault({ kind: 'hang', count: 1, account: 'main', resource: 'product_offer' });
  const manual = scheduler.trigger(main, 'offers', 'full', 'manual');
  // Never synced, so the catch-up run fires within ~2 s, while the manual one still runs.
  await scheduler.start([main], async () => null);
  const timeout = setTimeout(() => found({ msg: 'timed out waiting for the "run skipped" log line' }), 10_000);
  const entry = await skipped;
  clearTimeout(timeout);
  assert.equal(entry.msg, 'run skipped');
  assert.equal(entry.account, 'main');
  assert.equal(entry.stream, 'offers');
  assert.equal(entry.trigger, 'schedule');
  assert.equal(entry.reason, 'main/offers is already running');
  await scheduler.stop();
  assert.equal((await manual).status, 'cancelled');
  sandbox.clearFaults();
});

test('spreadStart: the turns of a wave share out one spacing, or RAMP_MS_PER_RUN per run when that is longer', async () => {
  const budget = new AccountBudget(12, 3);
  const waited = async (i: number, n: number) => {
    const t = performance.now();
    await spreadStart(budget, i, n);
    return performance.now() - t;
  };
  assert.ok((await waited(0, 20)) < 50, 'the first starts at once');
  // Two accounts: half a spacing (345 ms at 3/s) apart.
  const two = await waited(1, 2);
  assert.ok(two >= budget.other.spacingMs / 2 - 5 && two < budget.other.spacingMs / 2 + 150, `${Math.round(two)} ms`);
  // Twenty: 20 × 40 ms = 800 ms is longer than a spacing: the last of them waits 19/20 of it.
  const twenty = await waited(19, 20);
  assert.ok(twenty >= (20 * RAMP_MS_PER_RUN * 19) / 20 - 5 && twenty < 20 * RAMP_MS_PER_RUN + 150, `${Math.round(twenty)} ms`);
  // An abort ends the wait at once.
  const abort = new AbortController();
  const t = performance.now();
  const cut = spreadStart(budget, 19, 20, abort.signal);
  abort.abort();
  await cut;
  assert.ok(performance.now() - t < 50, 'aborted: no wait');
});

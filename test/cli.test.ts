import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { COMMANDS, mainHelp } from '../src/cli.ts';
import { UsageError } from '../src/cli/command.ts';
import { parseSelectiveFilters } from '../src/cli/sync.ts';
import { VERSION } from '../src/daemon.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { STREAMS_SPEC } from '../src/streams/registry.ts';
import type { TestDatabase } from './helpers/db.ts';
import { harness, sandboxEnv } from './helpers/setup.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const NAMES = Object.keys(COMMANDS);

let sandbox: Sandbox;
let db: TestDatabase;
harness([{ offers: 240 }, { offers: 5 }], {}, (h) => {
  ({ sandbox, db } = h);
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (through the bin wrapper, as `npx emag-sync` does) with only `env` set. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/emag-sync.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the main --help lists every command of the table with its summary', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.equal(help.stdout, `${mainHelp()}\n`);
  for (const [name, c] of Object.entries(COMMANDS)) {
    assert.match(help.stdout, new RegExp(`^ {2}${name}\\b.* ${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `${name} is listed`);
  }
  const bare = await cli([]);
  assert.equal(bare.code, 64, 'no command is a usage mistake');
  assert.equal(bare.stdout, help.stdout);
  const version = await cli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), VERSION);
});

test('every command has a usage, and --help (or -h) prints it and exits 0', async () => {
  assert.deepEqual(NAMES, ['start', 'sync', 'migrate', 'test', 'conflicts', 'awb', 'backup', 'export', 'status', 'health', 'alerts', 'sandbox', 'demo']);
  const results = await Promise.all(NAMES.map((name) => cli([name, name === 'sync' ? '-h' : '--help'])));
  NAMES.forEach((name, i) => {
    const usage = COMMANDS[name].usage;
    assert.ok(usage.startsWith(`Usage: emag-sync ${name}`), `${name}: usage starts with its synopsis`);
    assert.ok(COMMANDS[name].summary.length > 0);
    assert.equal(results[i].code, 0, `${name} --help: ${results[i].stderr}`);
    assert.equal(results[i].stdout, `${usage}\n`);
  });
});

test('an unknown command exits 64 naming it', async () => {
  const r = await cli(['frobnicate', '--all']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /^emag-sync: unknown command "frobnicate"/);
  assert.match(r.stderr, /Commands:/);
});

test('an unknown option exits 64 naming it, with the command usage, for every command', async () => {
  // Parsing comes before anything runs: no configuration, no database, no daemon is needed.
  const results = await Promise.all(NAMES.map((name) => cli(name === 'sync' ? [name, 'main', '--colour', 'red'] : [name, '--colour'])));
  NAMES.forEach((name, i) => {
    assert.equal(results[i].code, 64, `${name}: ${results[i].stderr}`);
    assert.match(results[i].stderr, new RegExp(`^emag-sync ${name}: Unknown option '--colour'`), name);
    assert.ok(results[i].stderr.includes(COMMANDS[name].usage), `${name}: the usage follows`);
  });
});

test('an argument too many exits 64 naming it', async () => {
  const [migrate, testCmd, conflicts] = await Promise.all([cli(['migrate', 'now']), cli(['test', 'main', 'fbe']), cli(['conflicts', 'resolve', '1', 'extra'])]);
  assert.equal(migrate.code, 64);
  assert.match(migrate.stderr, /^emag-sync migrate: Unexpected argument 'now'/);
  assert.equal(testCmd.code, 64);
  assert.match(testCmd.stderr, /^emag-sync test: unexpected argument "fbe"/);
  assert.equal(conflicts.code, 64);
  assert.match(conflicts.stderr, /unexpected argument "extra"/);
});

test('selective filters: name=value pairs become eMAG filters of the right type', () => {
  const selective = STREAMS_SPEC.offers.selective;
  assert.ok(selective, 'offers has a selective mode');
  assert.deepEqual(parseSelectiveFilters('offers', selective, ['status=1', 'part_number=ABC-1']), { status: 1, part_number: 'ABC-1' });
  assert.deepEqual(parseSelectiveFilters('offers', selective, ['id=4294967295', 'part_number_key=D5DD9BBBM', 'general_stock=0', 'estimated_stock=3']), {
    id: 4_294_967_295,
    part_number_key: 'D5DD9BBBM',
    general_stock: 0,
    estimated_stock: 3,
  });
  assert.deepEqual(parseSelectiveFilters('offers', selective, ['part_number=A=B ş']), { part_number: 'A=B ş' }, 'only the first = separates');
  const refused: Array<[string[], RegExp]> = [
    [[], /--mode selective needs at least one --filter name=value \(offers filters: id, status, part_number, part_number_key, general_stock, estimated_stock\)/],
    [['status'], /--filter "status" must be name=value/],
    [['=1'], /--filter "=1" must be name=value/],
    [['colour=red'], /unknown --filter "colour" \(offers filters: id, status,/],
    [['__proto__=1'], /unknown --filter "__proto__"/],
    [['status=1', 'status=0'], /--filter status is given twice/],
    [['status=7'], /--filter status="7": must be 0 \(inactive\), 1 \(active\) or 2 \(end of life\)/],
    [['status='], /--filter status="": must be 0/],
    [['id=0'], /--filter id="0": must be a whole number from 1 to 4294967295/],
    [['id=4294967296'], /--filter id="4294967296": must be a whole number/],
    [['id=1.5'], /--filter id="1.5": must be a whole number/],
    [['general_stock=-1'], /--filter general_stock="-1": must be a whole number from 0/],
    [['part_number= ABC'], /--filter part_number=" ABC": must be the exact part number/],
    [['part_number='], /--filter part_number="": must be the exact part number/],
    [[`part_number=${'x'.repeat(256)}`], /must be the exact part number \(1–255 characters/],
    [['part_number_key=D5DD-9BBBM'], /--filter part_number_key="D5DD-9BBBM": must be an eMAG part number key/],
  ];
  for (const [args, message] of refused) {
    assert.throws(() => parseSelectiveFilters('offers', selective, args), (err: unknown) => err instanceof UsageError && message.test(err.message), args.join(' '));
  }
});

test('selective usage mistakes exit 64 with a clear message, before any configuration is read', async () => {
  // No EMAG_ACCOUNTS: reaching the configuration would exit 78 instead.
  const cases: Array<[string[], RegExp]> = [
    [['sync', 'main', '--filter', 'status=1'], /--filter needs --mode selective/],
    [['sync', 'main', '--mode', 'full', '--filter', 'status=1'], /--filter needs --mode selective/],
    [['sync', 'main', '--mode', 'selective'], /--mode selective needs at least one --filter/],
    [['sync', 'main', '--stream', 'orders', '--mode', 'selective', '--filter', 'status=1'], /--mode selective needs --stream offers, not "orders"/],
    [['sync', 'all', '--stream', 'all', '--mode', 'selective', '--filter', 'status=1'], /--mode selective needs --stream offers, not "all"/],
    [['sync', 'main', '--mode', 'selective', '--filter', 'colour=red'], /unknown --filter "colour"/],
    [['sync', 'main', '--mode', 'selective', '--filter', 'status=9'], /--filter status="9": must be 0 \(inactive\)/],
    [['sync', 'main', '--mode', 'partial'], /--mode must be full, incremental, selective, not "partial"/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  cases.forEach(([args, message], i) => {
    assert.equal(results[i].code, 64, `${args.join(' ')}: ${results[i].stderr}`);
    assert.match(results[i].stderr, new RegExp(`^emag-sync sync: ${message.source}`), args.join(' '));
    assert.match(results[i].stderr, /Usage: emag-sync sync/);
  });
});

test('a selective scan reads only the matching offers and never soft-deletes', async () => {
  const env = sandboxEnv(sandbox, db);
  const full = await cli(['sync', 'main', '--stream', 'offers'], env);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /^main\/offers succeeded in [\d.]+ s: 240 seen, 240 inserted/m);

  const active = await db.sql<{ id: string; part_number: string }[]>`select id, part_number from emag_offers where account = 'main' and status = 1 and deleted_at is null order by id`;
  assert.ok(active.length > 1 && active.length < 240, `some offers are active, not all (${active.length})`);
  // Gone from eMAG: a full scan would soft-delete these; a selective one must not.
  const gone = Number(active[0].id);
  sandbox.account('main').removeOffer(gone);
  const [inactive] = await db.sql<{ id: string }[]>`select id from emag_offers where account = 'main' and status <> 1 limit 1`;
  const goneInactive = Number(inactive.id);
  sandbox.account('main').removeOffer(goneInactive);
  const wanted = active[1];

  const one = await cli(['sync', 'main', '--stream', 'offers', '--mode', 'selective', '--filter', 'status=1', '--filter', `part_number=${wanted.part_number}`], env);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^main\/offers succeeded in [\d.]+ s: 1 seen, 0 inserted, .* 0 deleted, 0 failed; 1 pages/m);

  const allActive = await cli(['sync', 'main', '--stream', 'offers', '--mode', 'selective', '--filter', 'status=1'], env);
  assert.equal(allActive.code, 0, allActive.stderr);
  const stillActive = active.length - 1;
  assert.match(allActive.stdout, new RegExp(`^main/offers succeeded in [\\d.]+ s: ${stillActive} seen, .* 0 deleted, 0 failed`, 'm'));
  const [runRow] = await db.sql`select items_seen, items_deleted from emag_sync_runs where account = 'main' and stream = 'offers' order by id desc limit 1`;
  assert.equal(runRow.items_seen, stillActive, 'only the active offers were read');
  assert.equal(runRow.items_deleted, 0);
  const deleted = await db.sql`select id from emag_offers where account = 'main' and deleted_at is not null`;
  assert.deepEqual([...deleted], [], 'nothing soft-deleted by a selective scan');

  // The same offers do go with a full scan: the assertion above could have failed.
  const again = await cli(['sync', 'main', '--stream', 'offers'], env);
  assert.equal(again.code, 0, again.stderr);
  const goneNow = await db.sql<{ id: string }[]>`select id from emag_offers where account = 'main' and deleted_at is not null order by id`;
  assert.deepEqual(goneNow.map((r) => Number(r.id)).sort((a, b) => a - b), [gone, goneInactive].sort((a, b) => a - b));
});

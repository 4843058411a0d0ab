import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, PLATFORMS, readEnv } from '../src/config.ts';

const base = {
  EMAG_ACCOUNTS: 'main,fbe',
  EMAG_MAIN_USERNAME: 'seller@example.com',
  EMAG_MAIN_PASSWORD: 'hunter2-secret',
  EMAG_FBE_USERNAME: 'fbe@example.com',
  EMAG_FBE_PASSWORD: 'fbe-secret-pw',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.exitCode, 78);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('two accounts with defaults', () => {
  const c = loadConfig(base);
  assert.deepEqual(c.accounts.map((a) => a.name), ['main', 'fbe']);
  const [main, fbe] = c.accounts;
  assert.equal(main.baseUrl, PLATFORMS.ro);
  assert.equal(main.orderType, 3);
  assert.equal(fbe.orderType, 2, 'an account named fbe reads FBE orders (type 2)');
  assert.equal(main.otherRps, 3);
  assert.equal(main.ordersRps, 12);
  assert.deepEqual(main.schedules.offers, { kind: 'interval', minutes: 60 });
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8001);
  assert.equal(c.databaseUrl, null);
  assert.deepEqual(c.catalogPriority, ['main', 'fbe']);
  assert.equal(c.enableScheduledSync, true);
});

test('per-account settings, cron schedules and platforms', () => {
  const c = loadConfig({
    ...base,
    EMAG_MAIN_SYNC_INTERVAL: '30',
    EMAG_FBE_SYNC_INTERVAL: '4 */2 * * *',
    EMAG_FBE_PLATFORM: 'bg',
    EMAG_MAIN_BASE_URL: 'http://127.0.0.1:9999/api-3/',
    EMAG_MAIN_OTHER_RPS: '2',
    EMAG_MAIN_MAX_PAGES: '5',
    EMAG_CATALOG_PRIORITY: 'fbe,main',
    EMAG_ENABLE_SCHEDULED_SYNC: 'false',
  });
  const [main, fbe] = c.accounts;
  assert.deepEqual(main.schedules.offers, { kind: 'interval', minutes: 30 });
  assert.deepEqual(fbe.schedules.offers, { kind: 'cron', expression: '4 */2 * * *' });
  assert.equal(fbe.baseUrl, PLATFORMS.bg);
  assert.equal(main.baseUrl, 'http://127.0.0.1:9999/api-3', 'trailing slash removed');
  assert.equal(main.otherRps, 2);
  assert.equal(main.maxPages, 5);
  assert.deepEqual(c.catalogPriority, ['fbe', 'main']);
  assert.equal(c.enableScheduledSync, false);
});

test('older single-account names are accepted as aliases', () => {
  const c = loadConfig({ EMAG_API_USERNAME: 'u', EMAG_API_PASSWORD: 'p', EMAG_FBE_API_USERNAME: 'f', EMAG_FBE_API_PASSWORD: 'q' });
  assert.deepEqual(c.accounts.map((a) => [a.name, a.username]), [['main', 'u'], ['fbe', 'f']]);
});

test('every problem is reported at once, naming its variable', () => {
  const p = problems({
    EMAG_ACCOUNTS: 'main,Bad-Name,main',
    EMAG_MAIN_USERNAME: 'u',
    EMAG_SYNC_PORT: 'eighty',
    EMAG_MAIN_OTHER_RPS: '10',
    EMAG_MAIN_SYNC_INTERVAL: 'every hour',
    EMAG_ENABLE_SCHEDULED_SYNC: 'maybe',
    EMAG_MAIN_PLATFORM: 'de',
    EMAG_API_TIMEOUT: '-1',
    DATABASE_URL: 'mysql://x',
    EMAG_ORDERS_START_DATE: '1',
    EMAG_MAIN_ORDER_TYPE: '1',
    EMAG_CONFLICT_STRATEGY: 'coin_flip',
    EMAG_MAIN_SYNC_TYPES: 'offers,weather',
  });
  const text = p.join('\n');
  for (const v of ['EMAG_ACCOUNTS', 'EMAG_MAIN_PASSWORD', 'EMAG_SYNC_PORT', 'EMAG_MAIN_OTHER_RPS', 'EMAG_MAIN_SYNC_INTERVAL', 'EMAG_ENABLE_SCHEDULED_SYNC', 'EMAG_MAIN_PLATFORM', 'EMAG_API_TIMEOUT', 'DATABASE_URL', 'EMAG_ORDERS_START_DATE', 'EMAG_MAIN_ORDER_TYPE', 'EMAG_CONFLICT_STRATEGY', 'EMAG_MAIN_SYNC_TYPES']) {
    assert.match(text, new RegExp(`^${v}:`, 'm'), `a problem names ${v}`);
  }
  assert.match(text, /listed twice/);
  assert.match(text, /unknown stream "weather"/);
  assert.match(text, /out of range 0\.1\.\.3/, 'a rate above eMAG’s 3/s is refused');
});

test('no accounts is an error; secrets never appear in problems', () => {
  assert.match(problems({}).join(), /EMAG_ACCOUNTS: no accounts configured/);
  const p = problems({ ...base, DATABASE_URL: 'mysql://admin:topsecret@db/x', EMAG_SYNC_ADMIN_TOKEN: 'short' }).join('\n');
  assert.doesNotMatch(p, /topsecret|hunter2|short"/);
});

test('.env is read under the real environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emag-env-'));
  const file = join(dir, '.env');
  writeFileSync(file, 'EMAG_ACCOUNTS=main\nEMAG_MAIN_USERNAME=from-file\nEMAG_MAIN_PASSWORD="p w"\n');
  const env = readEnv(file, { EMAG_MAIN_USERNAME: 'from-env' });
  assert.equal(env.EMAG_MAIN_USERNAME, 'from-env');
  assert.equal(env.EMAG_MAIN_PASSWORD, 'p w');
  assert.equal(loadConfig(env).accounts[0].username, 'from-env');
});

test('the CLI exits 78 with one message listing the problems, and no password', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'sync', 'all'], {
    env: { PATH: process.env.PATH, EMAG_ACCOUNTS: 'main', EMAG_MAIN_PASSWORD: 'hunter2-secret', EMAG_SYNC_PORT: 'x' },
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '..'),
  });
  assert.equal(r.status, 78);
  assert.match(r.stderr, /EMAG_MAIN_USERNAME: required/);
  assert.match(r.stderr, /EMAG_SYNC_PORT: "x" is not a whole number/);
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
});

test('the CLI explains usage mistakes with exit 64', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  const unknown = cli('frobnicate');
  assert.equal(unknown.status, 64);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const help = cli('sync', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: emag-sync sync <account\|all>/);
  const badFlag = cli('sync', 'main', '--color');
  assert.equal(badFlag.status, 64);
  assert.match(badFlag.stderr, /Unknown option '--color'/);
});

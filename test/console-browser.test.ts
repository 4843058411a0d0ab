/**
 * The console in a real browser: Debian's Chromium driven by playwright-core, against the status
 * server, a real Postgres and the sandbox eMAG API. The page loads without console errors or CSP
 * violations, shows both accounts, starts a sync whose progress bar advances and finishes, cancels
 * one, finds a known SKU, downloads exactly the filtered rows as CSV, and hides its controls without
 * a token (and says so for a wrong one). It takes the README's screenshot during a sync.
 *
 * Skipped, with a message, only where /usr/bin/chromium is missing and CI is not set: in CI it runs.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { AlertEngine } from '../src/alerts/evaluate.ts';
import type { Config } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { Scheduler } from '../src/scheduler.ts';
import type { RunEvents, StatusContext } from '../src/server/context.ts';
import { type StatusServer, startStatusServer } from '../src/server/server.ts';
import type { SyncDeps } from '../src/streams/run.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { syncDeps, TEST_ACCOUNTS } from './helpers/setup.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-token-0123456789abcdef';
const MAIN_OFFERS = 300;
const FBE_OFFERS = 2000;
/** Small, so it can live in the repository; regenerated into docs/ with UPDATE_SCREENSHOTS=1. */
const SCREENSHOT_MAX_BYTES = 200 * 1024;

/**
 * Waits until the running run's progress bar shows at least `min` pages. A function, not a string:
 * the page's CSP forbids evaluating strings, and the tests prove it holds.
 */
function progressAtLeast(page: Page, min: number): Promise<unknown> {
  return page.waitForFunction(
    // biome-ignore lint/suspicious/noExplicitAny: runs in the page, where the DOM types are not loaded
    (m) => Number((globalThis as any).document.querySelector('#running li progress')?.getAttribute('value') ?? 0) >= m,
    min,
    { timeout: 30_000 },
  );
}

const skip = !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} is missing (apt-get install -y chromium); set CI=1 to make this a failure` : false;
if (skip) console.log(`# console-browser: skipped: ${skip}`);

let sandbox: Sandbox;
let db: TestDatabase;
let config: Config;
let deps: SyncDeps;
let scheduler: Scheduler;
let server: StatusServer;
let openServer: StatusServer;
let browser: Browser;

/**
 * A fresh page that records console errors and page errors (CSP violations are console errors).
 * `noEvents`: /api/events fails, as when a proxy cuts the stream.
 */
async function open(url: string, opts: { noEvents?: boolean } = {}): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  if (opts.noEvents) await context.route('**/api/events', (route) => route.abort());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator('[data-account="main"]').waitFor();
  return { page, errors };
}

async function enterToken(page: Page, token: string): Promise<void> {
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Use token' }).click();
}

describe('the console in Chromium', { skip }, () => {
  before(async () => {
    const { chromium } = await import('playwright-core');
    [sandbox, db, browser] = await Promise.all([
      startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: MAIN_OFFERS }, { ...TEST_ACCOUNTS[1], offers: FBE_OFFERS, orderType: 2 }], sharedSkus: 20 }),
      testDatabase(),
      chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
    ]);
    ({ config, deps } = await syncDeps(sandbox, db, { EMAG_SYNC_ADMIN_TOKEN: TOKEN, EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers' }));
    const runEvents: RunEvents = new EventEmitter();
    deps.onRunEvent = (e) => runEvents.emit('run', e);
    scheduler = new Scheduler(deps);
    const context: StatusContext = {
      sql: db.sql,
      config,
      metrics: deps.metrics as Metrics,
      scheduler,
      log: createLogger('silent'),
      startedAt: new Date(),
      version: 'test',
      database: { where: 'test', embedded: false },
      ownedAccounts: () => ['main', 'fbe'],
      runEvents,
      budgets: deps.budgets,
      // Not started: the page's alert list is not what this test is about.
      alerts: new AlertEngine({ sql: db.sql, config, log: createLogger('silent') }),
    };
    server = await startStatusServer(context);
    openServer = await startStatusServer({ ...context, config: { ...config, adminToken: null } });
    await scheduler.trigger(config.accounts[0], 'offers', 'full', 'manual');
  });

  after(async () => {
    await browser?.close();
    await scheduler?.stop();
    await server?.close();
    await openServer?.close();
    await sandbox?.close();
    await db?.close();
  });

  it('loads without console errors or CSP violations and shows both accounts', async () => {
    const { page, errors } = await open(server.url);
    await page.locator('#catalog tbody tr').first().waitFor();
    assert.equal(await page.locator('#accounts article').count(), 2);
    assert.match(String(await page.locator('[data-account="main"] h3').textContent()), /main/);
    assert.match(String(await page.locator('[data-account="fbe"] h3').textContent()), /fbe/);
    await page.locator('#live', { hasText: /^live$/ }).waitFor();
    // Product names carry quotes and diacritics: they are shown as text, not parsed as HTML.
    assert.equal(await page.locator('#catalog tbody script, #catalog tbody img').count(), 0);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('has no controls without a configured token, and says how to enable them', async () => {
    const { page, errors } = await open(openServer.url);
    await page.getByText('Controls are off').waitFor();
    assert.equal(await page.locator('button.ctl').count(), 0);
    assert.equal(await page.locator('#sync').isVisible(), false);
    assert.equal(await page.locator('#token-form').isVisible(), false);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('says so when the token is wrong, and keeps the controls away', async () => {
    const { page } = await open(server.url);
    await enterToken(page, 'this-is-not-the-token-at-all');
    await page.getByText('That token is wrong').waitFor();
    assert.equal(await page.locator('button.ctl').count(), 0);
    assert.equal(await page.locator('#sync').isVisible(), false);
    // biome-ignore lint/suspicious/noExplicitAny: runs in the page
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
    await page.context().close();
  });

  it('starts a sync whose progress bar advances and then finishes (and takes the screenshot)', async () => {
    const { page, errors } = await open(server.url);
    await enterToken(page, TOKEN);
    await page.locator('#sync').waitFor({ state: 'visible' });
    await page.locator('#sync-account').selectOption('fbe');
    await page.locator('#sync-stream').selectOption('offers');
    await page.locator('#sync-mode').selectOption('full');
    sandbox.setLatency(100);
    try {
      await page.getByRole('button', { name: 'Start' }).click();
      const bar = page.locator('#running li progress');
      await progressAtLeast(page, 2);
      const first = Number(await bar.getAttribute('value'));
      assert.ok(Number(await bar.getAttribute('max')) >= FBE_OFFERS / 100);
      const shot = await page.screenshot({ type: 'png' });
      assert.ok(shot.length < SCREENSHOT_MAX_BYTES, `screenshot is ${shot.length} bytes`);
      writeFileSync(process.env.UPDATE_SCREENSHOTS ? join(import.meta.dirname, '..', 'docs', 'dashboard.png') : join(tmpdir(), 'emag-sync-dashboard.png'), shot);
      await progressAtLeast(page, first + 1);
      await page.locator('#running li').waitFor({ state: 'detached', timeout: 60_000 });
      assert.match(String(await page.locator('#announce').textContent()), /fbe\/offers succeeded/);
      await page.locator('#history tbody tr', { hasText: 'succeeded' }).first().waitFor();
      assert.deepEqual(errors, []);
    } finally {
      sandbox.setLatency(0);
      await page.context().close();
    }
  });

  it('follows a run by polling when the event stream is down', async () => {
    const { page } = await open(server.url, { noEvents: true });
    await page.locator('#live', { hasText: 'polling' }).waitFor();
    sandbox.setLatency(100);
    try {
      const runId = await scheduler.startNow(config.accounts[1], 'offers', 'full', 'manual');
      await page.locator(`#running li[data-run="${runId}"] progress`).waitFor({ timeout: 30_000 });
      await page.locator(`#running li[data-run="${runId}"]`).waitFor({ state: 'detached', timeout: 60_000 });
      // The ended run shows up in the history, which polling refreshes too.
      await page.locator('#history tbody tr td:first-child', { hasText: new RegExp(`^${runId}$`) }).waitFor();
    } finally {
      sandbox.setLatency(0);
      await page.context().close();
    }
  });

  it('cancels a running sync from the page', async () => {
    const { page } = await open(server.url);
    await enterToken(page, TOKEN);
    await page.locator('#sync').waitFor({ state: 'visible' });
    await page.locator('#sync-account').selectOption('fbe');
    await page.locator('#sync-stream').selectOption('offers');
    await page.locator('#sync-mode').selectOption('full');
    sandbox.setLatency(200);
    try {
      await page.getByRole('button', { name: 'Start' }).click();
      await progressAtLeast(page, 1);
      const runId = Number(await page.locator('#running li').getAttribute('data-run'));
      await page.getByRole('button', { name: `Cancel run ${runId}` }).click();
      await page.locator('#running li').waitFor({ state: 'detached', timeout: 30_000 });
      assert.match(String(await page.locator('#announce').textContent()), /fbe\/offers cancelled/);
      const [row] = await db.sql<{ status: string }[]>`select status from emag_sync_runs where id = ${runId}`;
      assert.equal(row.status, 'cancelled');
    } finally {
      sandbox.setLatency(0);
      await page.context().close();
    }
  });

  it('shows names with markup, quotes and diacritics as text', async () => {
    const name = `<img src=x onerror="document.title='pwned'"> Ceai "Verde" l'été – ăîșț`;
    await db.sql`insert into emag_offers (account, id, part_number, name, status, raw, content_hash)
      values ('main', 990001, 'XSS-TEST-1', ${name}, 1, ${db.sql.json({ id: 990001, name })}, 'test')`;
    try {
      const { page, errors } = await open(server.url);
      await page.locator('#catalog-source').selectOption('main');
      await page.getByLabel('Search').fill('XSS-TEST-1');
      await page.getByRole('button', { name: 'Search' }).click();
      const cell = page.locator('#catalog tbody tr[data-sku="XSS-TEST-1"] td').nth(1);
      await cell.waitFor();
      assert.equal(await cell.textContent(), name);
      assert.equal(await page.locator('#catalog img').count(), 0);
      assert.notEqual(await page.title(), 'pwned');
      assert.deepEqual(errors, []);
      await page.context().close();
    } finally {
      await db.sql`delete from emag_offers where id = 990001`;
    }
  });

  it('finds a known SKU, and the CSV download holds exactly the filtered rows', async () => {
    const { page, errors } = await open(server.url);
    const sku = String(sandbox.account('main').offers[42].part_number);
    await page.locator('#catalog-source').selectOption('main');
    await page.getByLabel('Search').fill(sku);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator(`#catalog tbody tr[data-sku="${sku}"]`).waitFor();
    assert.equal(await page.locator('#catalog tbody tr').count(), 1);
    // The row's details, with the raw eMAG record.
    await page.locator(`#catalog tbody tr[data-sku="${sku}"]`).click();
    await page.locator('#details').waitFor({ state: 'visible' });
    assert.equal(JSON.parse(String(await page.locator('#details-raw').textContent())).part_number, sku);
    await page.getByRole('button', { name: 'Close' }).click();

    const one = await download(page);
    assert.deepEqual(
      one.slice(1).map((r) => r.split(',')[2]),
      [sku],
    );

    // A wider filter: every active offer of main, across all pages of the table.
    await page.getByLabel('Search').fill('');
    await page.locator('#catalog-status').selectOption('1');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#catalog-total', { hasText: 'offers of main match' }).waitFor();
    await page.locator('#catalog tbody tr').nth(1).waitFor();
    const [{ n }] = await db.sql<{ n: number }[]>`select count(*)::int as n from emag_offers where account = 'main' and status = 1 and deleted_at is null`;
    assert.ok(n > 25, 'more than one page');
    const all = await download(page);
    assert.equal(all.length - 1, n);
    assert.ok(all.slice(1).every((r) => r.split(',')[0] === 'main'));
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});

/** Clicks "Download CSV" and returns the file's lines (header first). */
async function download(page: Page): Promise<string[]> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  const path = await file.path();
  assert.ok(path && statSync(path).size > 0);
  return readFileSync(path, 'utf8').trimEnd().split('\r\n');
}

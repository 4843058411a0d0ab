/**
 * The monitoring kit against a live daemon: every metric the Prometheus rules and the Grafana
 * dashboard use is exported by /metrics, so they cannot drift apart; the dashboard has its panels
 * and the `account` variable; and promtool checks the rules, runs their unit tests and lints a live
 * scrape (allowing only prom-client's `nodejs_active_*_total` gauges, which it names like counters).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { type Daemon, startDaemon } from '../src/daemon.ts';
import { createLogger } from '../src/log.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';
import { sandboxEnv, TEST_ACCOUNTS } from './helpers/setup.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const RULES = `${ROOT}monitoring/prometheus/emag-sync.rules.yml`;
const RULES_TEST = `${ROOT}monitoring/prometheus/emag-sync.rules.test.yml`;
const DASHBOARD = `${ROOT}monitoring/grafana/emag-sync.json`;
/** Series Prometheus makes itself, not the daemon. */
const PROMETHEUS_OWN = new Set(['up']);
const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

let sandbox: Sandbox;
let db: TestDatabase;
let daemon: Daemon;
let scrape: string;

before(async () => {
  [sandbox, db] = await Promise.all([startSandbox({ accounts: [{ ...TEST_ACCOUNTS[0], offers: 5 }, { ...TEST_ACCOUNTS[1], offers: 5 }] }), testDatabase()]);
  const env = sandboxEnv(sandbox, db, { EMAG_LOG_LEVEL: 'silent', EMAG_MAIN_SYNC_TYPES: 'offers', EMAG_FBE_SYNC_TYPES: 'offers' });
  daemon = await startDaemon(loadConfig(env), createLogger('silent'));
  // After a run, the per-account series have samples too (not only HELP and TYPE).
  for (let i = 0; i < 200; i++) {
    scrape = await (await fetch(`${daemon.server.url}/metrics`)).text();
    if (/^emag_sync_last_success_timestamp_seconds\{account="fbe"/m.test(scrape) && /^emag_sync_last_success_timestamp_seconds\{account="main"/m.test(scrape)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(async () => {
  await daemon?.stop();
  await sandbox?.close();
  await db?.close();
});

/** Metric names a live scrape exports, with the series a histogram or summary adds. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1] + s);
    if (m[2] === 'summary') for (const s of ['_sum', '_count']) names.add(m[1] + s);
  }
  return names;
}

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/(?<![\w$])([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)].map((m) => m[1]).filter((w) => !PROMQL_WORDS.has(w.toLowerCase()));
}

/** The `expr:` values of a rules file (one-line, or a `|` block). */
function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]);
    if (!m) continue;
    if (m[2] !== '|' && m[2] !== '>') {
      out.push(m[2]);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > m[1].length)) block.push(lines[++i]);
    out.push(block.join('\n'));
  }
  return out;
}

/** Every PromQL query in a dashboard: panel targets and variable queries. */
function dashboardQueries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) dashboardQueries(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'definition') && typeof v === 'string') out.push(v.replace(/^label_values\(([^,]+),.*\)$/, '$1'));
      else dashboardQueries(v, out);
    }
  }
  return out;
}

it('every metric the rules and the dashboard use is exported by a live daemon', () => {
  const names = exported(scrape);
  const rules = ruleExpressions(readFileSync(RULES, 'utf8'));
  assert.ok(rules.length >= 10, `${rules.length} rule expressions`);
  const queries = dashboardQueries(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
  assert.ok(queries.length >= 12, `${queries.length} dashboard queries`);
  const used = new Set([...rules, ...queries].flatMap(metricNames));
  assert.ok(used.has('emag_sync_last_success_timestamp_seconds') && used.has('emag_sync_health_score'), 'the extraction finds metric names');
  const missing = [...used].filter((n) => !names.has(n) && !PROMETHEUS_OWN.has(n));
  assert.deepEqual(missing, [], `used but not exported: ${missing.join(', ')}`);
  // And the extraction is not blind: a name that is not exported would be caught.
  assert.deepEqual(metricNames('rate(emag_sync_no_such_metric_total{account=~"$account"}[5m])'), ['emag_sync_no_such_metric_total']);
});

it('the dashboard has a panel for each figure and an account variable', () => {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; query: unknown }> } };
  const account = d.templating.list.find((v) => v.name === 'account');
  assert.ok(account, 'an account template variable');
  const exprOf = (title: RegExp) => d.panels.find((p) => title.test(p.title))?.targets.map((t) => t.expr).join(' ') ?? '';
  const expected: Array<[RegExp, RegExp]> = [
    [/time since last success/i, /emag_sync_last_success_timestamp_seconds/],
    [/run durations/i, /emag_sync_run_duration_seconds_bucket/],
    [/records written per minute/i, /emag_sync_records_total.*\* 60/],
    [/api requests by status/i, /emag_api_requests_total/],
    [/latency/i, /emag_api_request_duration_seconds_bucket/],
    [/rate-limit waits and 429s/i, /emag_rate_limit_wait.*emag_rate_limited_total/s],
    [/unacknowledged orders/i, /emag_orders_unacknowledged/],
    [/outbox by status/i, /emag_commands/],
    [/health score/i, /emag_sync_health_score/],
  ];
  for (const [title, expr] of expected) assert.match(exprOf(title), expr, String(title));
  // Per-account panels filter by the variable.
  for (const p of d.panels) for (const t of p.targets) if (/emag_(sync_last|sync_run_|sync_records|api_|rate_|orders_|commands)/.test(t.expr)) assert.match(t.expr, /account=~"\$account"/, p.title);
});

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
// CI (.ci/run) installs promtool and sets EMAG_REQUIRE_PROMTOOL=1, so these never skip there.
const skip = !promtool && process.env.EMAG_REQUIRE_PROMTOOL !== '1' ? 'promtool is not installed (Debian: apt-get install prometheus)' : false;

it('promtool checks the rules and passes their unit tests', { skip }, () => {
  const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  const test = spawnSync('promtool', ['test', 'rules', RULES_TEST], { encoding: 'utf8' });
  assert.equal(test.status, 0, test.stdout + test.stderr);
  assert.match(test.stdout, /SUCCESS/);
});

it('promtool finds nothing wrong with a live scrape but prom-client’s nodejs_active_*_total gauges', { skip }, () => {
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
  const findings = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '');
  const allowed = /^nodejs_active_[a-z_]+_total non-counter metrics should not have "_total" suffix$/;
  const other = findings.filter((l) => !allowed.test(l.trim()));
  assert.deepEqual(other, [], 'promtool check metrics findings');
  if (findings.length === 0) assert.equal(lint.status, 0);
});

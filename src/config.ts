/**
 * The environment (and an optional `.env` file) turned into one typed, validated Config.
 * Every problem is collected and reported together, naming the variable; secrets are never echoed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { Cron } from 'croner';

/** The streams an account can sync. */
export const STREAMS = ['offers', 'orders', 'acknowledge', 'rma', 'reference', 'commands', 'callbacks'] as const;
export type Stream = (typeof STREAMS)[number];

/** eMAG's platforms and their API base URLs (official doc §1.1). */
export const PLATFORMS: Record<string, string> = {
  ro: 'https://marketplace-api.emag.ro/api-3',
  bg: 'https://marketplace-api.emag.bg/api-3',
  hu: 'https://marketplace-api.emag.hu/api-3',
  fd_ro: 'https://marketplace-ro-api.fashiondays.com/api-3',
  fd_bg: 'https://marketplace-bg-api.fashiondays.com/api-3',
};

/** eMAG's published ceilings (§1.5): a configured rate above them is refused. */
export const EMAG_LIMITS = { ordersPerSecond: 12, otherPerSecond: 3 } as const;

/** Where the status server listens unless EMAG_SYNC_HOST / EMAG_SYNC_PORT say otherwise. */
export const SERVER_DEFAULTS = { host: '127.0.0.1', port: 8001 } as const;

/** When a stream runs: every N minutes, or on a cron expression. */
export type Schedule = { kind: 'interval'; minutes: number } | { kind: 'cron'; expression: string };

/** One eMAG seller account. */
export interface AccountConfig {
  /** Lower-case name, as in EMAG_ACCOUNTS (`main`, `fbe`, …). */
  name: string;
  username: string;
  password: string;
  /** API base URL without a trailing slash. */
  baseUrl: string;
  /** 2 = fulfilled by eMAG, 3 = fulfilled by seller. @default 2 for an account named `fbe`, else 3 */
  orderType: 2 | 3;
  /** Streams this account syncs. */
  syncTypes: Stream[];
  /** Schedule per stream. */
  schedules: Record<Stream, Schedule>;
  /** Requests per second for the orders routes. @default 12 */
  ordersRps: number;
  /** Requests per second for every other resource together. @default 3 */
  otherRps: number;
  /** Stop a scan after this many pages (0 = no cap). A capped scan never soft-deletes. @default 0 */
  maxPages: number;
  /** @default true */
  enabled: boolean;
  /** What an offer or stock command does when eMAG's value changed since the ERP saw it. @default EMAG_CONFLICT_STRATEGY */
  conflictStrategy: ConflictStrategy;
  /** The sender printed on AWBs (`awb_create`), unless a command's payload names one. */
  awbSender: { name: string | null; contact: string | null; phone: string | null };
}

/** Conflict strategies of offer and stock commands. */
export const CONFLICT_STRATEGIES = ['emag_priority', 'local_priority', 'newest_wins', 'manual'] as const;
export type ConflictStrategy = (typeof CONFLICT_STRATEGIES)[number];

/** The whole configuration of one daemon. */
export interface Config {
  /** Null: use the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  /** @default ./data */
  dataDir: string;
  accounts: AccountConfig[];
  /** Account names in catalog priority order (the unified catalog prefers the first). */
  catalogPriority: string[];
  /** Hours after an account's last successful offers run at which the catalog prefers the next account's rows. @default 26 */
  catalogStaleHours: number;
  /** @default 30000 */
  apiTimeoutMs: number;
  /** @default 3 */
  maxRetries: number;
  /** @default 'info' */
  logLevel: string;
  /** API call log retention. @default 30 */
  logRetentionDays: number;
  /** @default true */
  enableScheduledSync: boolean;
  /** Retry a failed run with backoff before its next slot. @default true */
  autoFailover: boolean;
  /** @default SERVER_DEFAULTS.host */
  host: string;
  /** @default SERVER_DEFAULTS.port */
  port: number;
  /** Bearer token for the control endpoints; null turns them off. */
  adminToken: string | null;
  /**
   * Host names the status server answers besides its bound address, `localhost` and IP literals
   * (others get 421: DNS rebinding). Lower case, without ports. @default []
   */
  allowedHosts: string[];
  /** Orders backfill start for the first orders run. @default 90 days back */
  ordersStartDate: Date;
  /** Lookback overlap for the orders cursor. @default 10 */
  ordersLookbackMinutes: number;
  /** @default true */
  autoAcknowledge: boolean;
  /** Alert rules, thresholds and webhook delivery. */
  alerts: AlertConfig;
  /** Where backups are written and listed. @default <dataDir>/backups */
  backupDir: string;
  /** Backups older than this many days are deleted by `backup cleanup` and after scheduled backups. @default 30 */
  backupRetentionDays: number;
  /** Cron expression of the daemon's own backups; null: none. @default null */
  backupSchedule: string | null;
  /** Cron expression of the daily retention cleanup (shifted by each account's offset). @default '0 3 * * *' */
  retentionSchedule: string;
  /** Runs older than this are deleted (the last 50 of each stream are always kept). @default 90 */
  runsRetentionDays: number;
  /** Done and cancelled commands older than this are deleted. @default 90 */
  commandsRetentionDays: number;
  /** This daemon's name among the instances sharing the database: no spaces, ≤ 100 characters. @default hostname:pid */
  instanceId: string;
  /** How often the instance heartbeats and takes or hands back accounts (ms). @default 10000 */
  ownershipIntervalMs: number;
  /** eMAG's callbacks (`/callbacks/<account>/<event>?token=…`). */
  callbacks: CallbackConfig;
}

/** The alert engine's settings (EMAG_ALERT_*). */
export interface AlertConfig {
  /** Where notifications are POSTed; empty: alerts are kept but nobody is told. */
  webhookUrls: string[];
  /** HMAC-SHA256 key for `X-Emag-Sync-Signature`; null sends unsigned. */
  webhookSecret: string | null;
  /** Time between evaluations. @default 30000 */
  intervalMs: number;
  /** One webhook attempt's timeout. @default 10000 */
  webhookTimeoutMs: number;
  /** First retry delay of a failed delivery, doubling up to 10 min. @default 30000 */
  retryFirstMs: number;
  /** A delivery still failing this long after its first attempt is given up (undelivered). @default 3600000 */
  giveUpMs: number;
  thresholds: AlertThresholds;
}

/** When the rules fire; every figure is a positive number. */
export interface AlertThresholds {
  /** Consecutive failed runs of a stream that make `sync_failing`. @default 3 */
  failedRuns: number;
  /** Orders not synced for this long are stale. @default 30 */
  staleOrdersMinutes: number;
  /** Returns not synced for this long are stale. @default 120 */
  staleReturnsMinutes: number;
  /** Other streams are stale after this many of their intervals. @default 2 */
  staleIntervals: number;
  /** A new order older than this and not acknowledged. @default 15 */
  unacknowledgedMinutes: number;
  /** Share of failed API calls in the window, in percent. @default 10 */
  errorRatePercent: number;
  /** p95 API latency in the window, in seconds. @default 5 */
  slowP95Seconds: number;
  /** The window of the API-call rules, in minutes. @default 15 */
  apiWindowMinutes: number;
  /** An outbox command pending longer than this. @default 10 */
  outboxPendingMinutes: number;
  /** An enabled account no instance owns for this long. @default 2 */
  unownedMinutes: number;
}

/** An IPv4 or IPv6 network, e.g. 192.0.2.0/24. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Where and how eMAG's callbacks are received. */
export interface CallbackConfig {
  /** The token every callback URL carries (≥ 24 characters); null turns the callback routes off. */
  token: string | null;
  /** A listener of their own for the callback routes; null serves them on the status server. */
  port: number | null;
  /** @default '127.0.0.1' */
  host: string;
  /** Sources allowed to call; null allows any (the token still guards). */
  allowedIps: Cidr[] | null;
  /** Proxies whose X-Forwarded-For is believed. @default none */
  trustedProxies: Cidr[];
  /** Queued callbacks per account beyond which new ones are left to the scheduled poll. @default 10000 */
  queueMax: number;
}

/** Raised when the configuration is invalid; `problems` has one line per problem. */
export class ConfigError extends Error {
  /** EX_CONFIG, so systemd does not restart-loop on a configuration mistake. */
  readonly exitCode = 78;
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Default schedules per stream; interval minutes or cron. Offers fall back to EMAG_<A>_SYNC_INTERVAL. */
const DEFAULT_SCHEDULES: Record<Stream, Schedule> = {
  offers: { kind: 'interval', minutes: 60 },
  orders: { kind: 'interval', minutes: 5 },
  acknowledge: { kind: 'interval', minutes: 10 },
  rma: { kind: 'interval', minutes: 30 },
  reference: { kind: 'interval', minutes: 24 * 60 },
  commands: { kind: 'interval', minutes: 0.5 },
  // Poked the moment a callback is queued; the schedule catches what a restart left and re-reads AWBs.
  callbacks: { kind: 'interval', minutes: 1 },
};

/** Streams an account syncs unless EMAG_<A>_SYNC_TYPES says otherwise. */
export const DEFAULT_SYNC_TYPES: Stream[] = ['offers', 'orders', 'acknowledge', 'rma', 'reference', 'commands', 'callbacks'];

/** Reads `.env` (if present) under the real environment: real variables win. */
export function readEnv(envFile = '.env', env: Env = process.env): Env {
  if (!existsSync(envFile)) return { ...env };
  return { ...parseEnv(readFileSync(envFile, 'utf8')), ...env };
}

/** Validates the environment into a Config, or throws ConfigError listing every problem. */
export function loadConfig(env: Env = readEnv(), opts: { requireAccounts?: boolean } = {}): Config {
  const problems: string[] = [];
  const p = new Parser(env, problems);

  const accounts = accountNames(env, problems).map((name) => loadAccount(name, env, p));
  if (opts.requireAccounts !== false && accounts.length === 0 && problems.length === 0) {
    problems.push('EMAG_ACCOUNTS: no accounts configured (e.g. EMAG_ACCOUNTS=main,fbe with EMAG_MAIN_USERNAME/EMAG_MAIN_PASSWORD)');
  }

  const names = accounts.map((a) => a.name);
  const priority = p.list('EMAG_CATALOG_PRIORITY') ?? [...names].sort((a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : 0));
  for (const n of priority) if (!names.includes(n)) problems.push(`EMAG_CATALOG_PRIORITY: unknown account "${n}" (accounts: ${names.join(', ') || 'none'})`);

  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: must be a postgres:// or postgresql:// URL');
  }

  const config: Config = {
    databaseUrl,
    dataDir: env.EMAG_SYNC_DATA_DIR?.trim() || './data',
    accounts,
    catalogPriority: priority,
    catalogStaleHours: p.number('EMAG_CATALOG_STALE_HOURS', 26, { min: 1, max: 8760 }),
    apiTimeoutMs: p.number('EMAG_API_TIMEOUT', 30, { min: 1, max: 600 }) * 1000,
    maxRetries: p.int('EMAG_MAX_RETRIES', 3, { min: 0, max: 10 }),
    logLevel: p.oneOf('EMAG_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    logRetentionDays: p.int('EMAG_LOG_RETENTION_DAYS', 30, { min: 1, max: 3650 }),
    enableScheduledSync: p.bool('EMAG_ENABLE_SCHEDULED_SYNC', true),
    autoFailover: p.bool('EMAG_AUTO_FAILOVER', true),
    host: env.EMAG_SYNC_HOST?.trim() || SERVER_DEFAULTS.host,
    port: p.int('EMAG_SYNC_PORT', SERVER_DEFAULTS.port, { min: 0, max: 65535 }),
    adminToken: env.EMAG_SYNC_ADMIN_TOKEN?.trim() || null,
    allowedHosts: p.list('EMAG_SYNC_ALLOWED_HOSTS') ?? [],
    ordersStartDate: p.date('EMAG_ORDERS_START_DATE', new Date(Date.now() - 90 * 86_400_000)),
    ordersLookbackMinutes: p.int('EMAG_ORDERS_LOOKBACK_MINUTES', 10, { min: 0, max: 24 * 60 }),
    autoAcknowledge: p.bool('EMAG_AUTO_ACKNOWLEDGE', true),
    alerts: loadAlerts(env, p),
    backupDir: env.EMAG_BACKUP_DIR?.trim() || join(env.EMAG_SYNC_DATA_DIR?.trim() || './data', 'backups'),
    backupRetentionDays: p.int('EMAG_BACKUP_RETENTION_DAYS', 30, { min: 1, max: 3650 }),
    backupSchedule: p.cron('EMAG_BACKUP_SCHEDULE', null),
    retentionSchedule: p.cron('EMAG_RETENTION_SCHEDULE', '0 3 * * *') ?? '0 3 * * *',
    runsRetentionDays: p.int('EMAG_RUNS_RETENTION_DAYS', 90, { min: 1, max: 3650 }),
    commandsRetentionDays: p.int('EMAG_COMMANDS_RETENTION_DAYS', 90, { min: 1, max: 3650 }),
    instanceId: env.EMAG_SYNC_INSTANCE_ID?.trim() || `${hostname().slice(0, 80)}:${process.pid}`,
    ownershipIntervalMs: p.number('EMAG_SYNC_OWNERSHIP_INTERVAL', 10, { min: 0.1, max: 300 }) * 1000,
    callbacks: {
      token: env.EMAG_CALLBACK_TOKEN?.trim() || null,
      port: env.EMAG_CALLBACK_PORT?.trim() ? p.int('EMAG_CALLBACK_PORT', 0, { min: 0, max: 65535 }) : null,
      host: env.EMAG_CALLBACK_HOST?.trim() || '127.0.0.1',
      allowedIps: p.cidrs('EMAG_CALLBACK_ALLOWED_IPS'),
      trustedProxies: p.cidrs('EMAG_TRUSTED_PROXIES') ?? [],
      queueMax: p.int('EMAG_CALLBACK_QUEUE_MAX', 10_000, { min: 1, max: 1_000_000 }),
    },
  };
  if (/\s/.test(config.instanceId) || config.instanceId.length > 100) {
    problems.push('EMAG_SYNC_INSTANCE_ID: must be at most 100 characters without spaces');
  }
  if (config.adminToken !== null && config.adminToken.length < 16) {
    problems.push('EMAG_SYNC_ADMIN_TOKEN: must be at least 16 characters');
  }
  for (const h of config.allowedHosts) {
    if (!/^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$/.test(h)) problems.push(`EMAG_SYNC_ALLOWED_HOSTS: "${h.slice(0, 100)}" is not a host name (e.g. emag-sync.internal; no scheme, port or path)`);
  }
  const token = config.callbacks.token;
  // The token is the only secret in the URL eMAG calls: short ones can be guessed.
  if (token !== null && (token.length < 24 || !/^[A-Za-z0-9._~-]+$/.test(token))) {
    problems.push('EMAG_CALLBACK_TOKEN: must be at least 24 characters of letters, digits, and . _ ~ - (it travels in a URL)');
  }
  if (token !== null) {
    // Queued callbacks are read by the callbacks stream: an account without it would only fill the queue.
    for (const a of accounts.filter((x) => x.enabled && !x.syncTypes.includes('callbacks'))) {
      problems.push(`EMAG_${a.name.toUpperCase()}_SYNC_TYPES: add "callbacks" (EMAG_CALLBACK_TOKEN is set, and the callbacks stream reads what eMAG's callbacks announce)`);
    }
  }
  if (token === null && config.callbacks.port !== null) problems.push('EMAG_CALLBACK_PORT: set, but EMAG_CALLBACK_TOKEN is not (the callback routes need a token)');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Account names from EMAG_ACCOUNTS, or from the older single-account variable names. */
function accountNames(env: Env, problems: string[]): string[] {
  const raw = env.EMAG_ACCOUNTS?.trim();
  if (raw) {
    const names = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const seen = new Set<string>();
    for (const n of names) {
      if (!/^[a-z][a-z0-9_]{0,31}$/.test(n)) problems.push(`EMAG_ACCOUNTS: "${n}" is not a valid account name (letters, digits, _; starting with a letter)`);
      if (seen.has(n)) problems.push(`EMAG_ACCOUNTS: "${n}" is listed twice`);
      seen.add(n);
    }
    return [...seen].filter((n) => /^[a-z][a-z0-9_]{0,31}$/.test(n));
  }
  const legacy: string[] = [];
  if (env.EMAG_API_USERNAME || env.EMAG_MAIN_USERNAME) legacy.push('main');
  if (env.EMAG_FBE_API_USERNAME || env.EMAG_FBE_USERNAME) legacy.push('fbe');
  return legacy;
}

/** Older single-account variable names accepted as aliases (`EMAG_API_USERNAME` → main, `EMAG_FBE_API_USERNAME` → fbe). */
function alias(env: Env, account: string, key: string): string | undefined {
  const upper = account.toUpperCase();
  const direct = env[`EMAG_${upper}_${key}`];
  if (direct !== undefined) return direct;
  if (account === 'main') return env[`EMAG_API_${key}`];
  if (account === 'fbe') return env[`EMAG_FBE_API_${key}`];
  return undefined;
}

function loadAccount(name: string, env: Env, p: Parser): AccountConfig {
  const up = `EMAG_${name.toUpperCase()}`;
  const username = alias(env, name, 'USERNAME')?.trim() ?? '';
  const password = alias(env, name, 'PASSWORD') ?? '';
  if (!username) p.problem(`${up}_USERNAME: required for account "${name}"`);
  if (!password) p.problem(`${up}_PASSWORD: required for account "${name}"`);

  let baseUrl = alias(env, name, 'BASE_URL')?.trim();
  const platform = (alias(env, name, 'PLATFORM')?.trim().toLowerCase() || 'ro');
  if (baseUrl) {
    if (!/^https?:\/\/[^\s]+$/.test(baseUrl)) p.problem(`${up}_BASE_URL: "${baseUrl}" is not an http(s) URL`);
    baseUrl = baseUrl.replace(/\/+$/, '');
  } else if (!PLATFORMS[platform]) {
    p.problem(`${up}_PLATFORM: "${platform}" is not one of ${Object.keys(PLATFORMS).join(', ')}`);
  } else {
    baseUrl = PLATFORMS[platform];
  }

  const orderType = p.int(`${up}_ORDER_TYPE`, name.includes('fbe') ? 2 : 3, { min: 2, max: 3 }) as 2 | 3;
  const syncTypes = (p.list(`${up}_SYNC_TYPES`) ?? DEFAULT_SYNC_TYPES) as Stream[];
  for (const s of syncTypes) {
    if (!(STREAMS as readonly string[]).includes(s)) p.problem(`${up}_SYNC_TYPES: unknown stream "${s}" (streams: ${STREAMS.join(', ')})`);
  }
  const schedules = { ...DEFAULT_SCHEDULES };
  for (const stream of STREAMS) {
    const key = stream === 'offers' && env[`${up}_OFFERS_INTERVAL`] === undefined ? `${up}_SYNC_INTERVAL` : `${up}_${stream.toUpperCase()}_INTERVAL`;
    schedules[stream] = p.schedule(key, DEFAULT_SCHEDULES[stream]);
  }
  return {
    name,
    username,
    password,
    baseUrl: baseUrl ?? '',
    orderType,
    syncTypes,
    schedules,
    ordersRps: p.number(`${up}_ORDERS_RPS`, EMAG_LIMITS.ordersPerSecond, { min: 0.1, max: EMAG_LIMITS.ordersPerSecond }),
    otherRps: p.number(`${up}_OTHER_RPS`, EMAG_LIMITS.otherPerSecond, { min: 0.1, max: EMAG_LIMITS.otherPerSecond }),
    maxPages: p.int(`${up}_MAX_PAGES`, 0, { min: 0, max: 1_000_000 }),
    enabled: p.bool(`${up}_ENABLED`, true),
    conflictStrategy: p.oneOf(`${up}_CONFLICT_STRATEGY`, p.oneOf('EMAG_CONFLICT_STRATEGY', 'emag_priority', [...CONFLICT_STRATEGIES]), [...CONFLICT_STRATEGIES]) as ConflictStrategy,
    awbSender: {
      name: env[`${up}_AWB_SENDER_NAME`]?.trim() || null,
      contact: env[`${up}_AWB_SENDER_CONTACT`]?.trim() || null,
      phone: p.phone(`${up}_AWB_SENDER_PHONE`),
    },
  };
}

/** Only the alert settings (for `emag-sync alerts test`, which needs nothing else); throws ConfigError. */
export function loadAlertConfig(env: Env = readEnv()): AlertConfig {
  const problems: string[] = [];
  const alerts = loadAlerts(env, new Parser(env, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  return alerts;
}

/** EMAG_ALERT_*: webhooks, timings and the thresholds of the rules. */
function loadAlerts(env: Env, p: Parser): AlertConfig {
  const webhookUrls = (env.EMAG_ALERT_WEBHOOK_URL ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const [i, u] of webhookUrls.entries()) {
    // The URL itself is not echoed: Slack and Mattermost webhook paths are secrets.
    if (!isHttpUrl(u)) p.problem(`EMAG_ALERT_WEBHOOK_URL: entry ${i + 1} is not an http(s) URL`);
    else if (/^[a-z]+:\/\/[^/]*@/i.test(u)) p.problem(`EMAG_ALERT_WEBHOOK_URL: entry ${i + 1} carries a user and password, which a webhook POST cannot send (sign with EMAG_ALERT_WEBHOOK_SECRET instead)`);
  }
  const positive = (key: string, def: number) => p.positive(key, def);
  return {
    webhookUrls,
    webhookSecret: env.EMAG_ALERT_WEBHOOK_SECRET?.trim() || null,
    intervalMs: positive('EMAG_ALERT_INTERVAL', 30) * 1000,
    webhookTimeoutMs: positive('EMAG_ALERT_WEBHOOK_TIMEOUT', 10) * 1000,
    retryFirstMs: positive('EMAG_ALERT_RETRY_SECONDS', 30) * 1000,
    giveUpMs: positive('EMAG_ALERT_GIVE_UP_MINUTES', 60) * 60_000,
    thresholds: {
      failedRuns: p.int('EMAG_ALERT_FAILED_RUNS', 3, { min: 1, max: 1000 }),
      staleOrdersMinutes: positive('EMAG_ALERT_STALE_ORDERS_MINUTES', 30),
      staleReturnsMinutes: positive('EMAG_ALERT_STALE_RETURNS_MINUTES', 120),
      staleIntervals: positive('EMAG_ALERT_STALE_INTERVALS', 2),
      unacknowledgedMinutes: positive('EMAG_ALERT_UNACKNOWLEDGED_MINUTES', 15),
      errorRatePercent: percent(p, 'EMAG_ALERT_ERROR_RATE_PERCENT', 10),
      slowP95Seconds: positive('EMAG_ALERT_SLOW_P95_SECONDS', 5),
      apiWindowMinutes: positive('EMAG_ALERT_API_WINDOW_MINUTES', 15),
      outboxPendingMinutes: positive('EMAG_ALERT_OUTBOX_PENDING_MINUTES', 10),
      unownedMinutes: positive('EMAG_ALERT_UNOWNED_MINUTES', 2),
    },
  };
}

function percent(p: Parser, key: string, def: number): number {
  const n = p.positive(key, def);
  if (n > 100) p.problem(`${key}: ${n} is more than 100 (percent)`);
  return Math.min(n, 100);
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** Typed readers that record a problem (naming the variable) instead of throwing. */
class Parser {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  problem(text: string): void {
    this.problems.push(text);
  }

  private raw(key: string): string | undefined {
    const v = this.env[key]?.trim();
    return v === undefined || v === '' ? undefined : v;
  }

  number(key: string, def: number, range: { min: number; max: number }): number {
    const v = this.raw(key);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) return this.bad(key, `"${v}" is not a number`, def);
    if (n < range.min || n > range.max) return this.bad(key, `${n} is out of range ${range.min}..${range.max}`, def);
    return n;
  }

  /** A number greater than 0 (a threshold or a duration). */
  positive(key: string, def: number): number {
    const v = this.raw(key);
    if (v === undefined) return def;
    const n = /^\d+(\.\d+)?$|^\.\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!(n > 0 && Number.isFinite(n))) return this.bad(key, `"${v}" is not a positive number`, def);
    return n;
  }

  int(key: string, def: number, range: { min: number; max: number }): number {
    const v = this.raw(key);
    if (v !== undefined && !/^-?\d+$/.test(v)) return this.bad(key, `"${v}" is not a whole number`, def);
    return this.number(key, def, range);
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw(key)?.toLowerCase();
    if (v === undefined) return def;
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    return this.bad(key, `"${v}" is not a boolean (true/false)`, def);
  }

  oneOf(key: string, def: string, allowed: string[]): string {
    const v = this.raw(key)?.toLowerCase();
    if (v === undefined) return def;
    if (!allowed.includes(v)) return this.bad(key, `"${v}" is not one of ${allowed.join(', ')}`, def);
    return v;
  }

  list(key: string): string[] | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  }

  date(key: string, def: Date): Date {
    const v = this.raw(key);
    if (v === undefined) return def;
    // Only a calendar date or an ISO timestamp: `new Date("1")` would happily mean 2001.
    const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime())) return this.bad(key, `"${v}" is not a date (YYYY-MM-DD or an ISO timestamp)`, def);
    return d;
  }

  /** A cron expression (five or six fields), or `def` when unset. */
  cron<T extends string | null>(key: string, def: T): string | T {
    const v = this.raw(key);
    if (v === undefined) return def;
    try {
      new Cron(v, { paused: true }).stop();
      return v;
    } catch (err) {
      return this.bad(key, `"${v}" is not a cron expression (${(err as Error).message})`, def);
    }
  }

  /** A phone number as eMAG prints it on AWBs: 8 to 11 digits, an optional leading +; spaces and dashes dropped. */
  phone(key: string): string | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    const phone = v.replace(/[\s().-]/g, '');
    if (!/^\+?\d{8,11}$/.test(phone)) return this.bad(key, `"${v}" is not a phone number of 8 to 11 digits`, null);
    return phone;
  }

  /** A comma-separated list of IP addresses or CIDR networks; null when unset. */
  cidrs(key: string): Cidr[] | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    const out: Cidr[] = [];
    for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
      const [address, bits, extra] = item.split('/');
      const family = isIP(address);
      const max = family === 6 ? 128 : 32;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        this.problems.push(`${key}: "${item}" is not an IP address or CIDR network (e.g. 192.0.2.0/24, 2001:db8::/32)`);
        continue;
      }
      out.push({ address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' });
    }
    return out;
  }

  /** Minutes (a number) or a cron expression (five or six fields). */
  schedule(key: string, def: Schedule): Schedule {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (/^\d+(\.\d+)?$/.test(v)) {
      const minutes = Number(v);
      if (minutes <= 0 || minutes > 7 * 24 * 60) return this.bad(key, `${v} minutes is out of range (0 < minutes ≤ 10080)`, def);
      return { kind: 'interval', minutes };
    }
    try {
      new Cron(v, { paused: true }).stop();
      return { kind: 'cron', expression: v };
    } catch (err) {
      return this.bad(key, `"${v}" is neither minutes nor a cron expression (${(err as Error).message})`, def);
    }
  }

  private bad<T>(key: string, text: string, def: T): T {
    this.problems.push(`${key}: ${text}`);
    return def;
  }
}

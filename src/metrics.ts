/**
 * The Prometheus metrics, in one registry. Labels stay bounded: account, stream, resource, status
 * class and result — never SKUs, order ids or emails.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CallEvent } from './emag/call-event.ts';

/** Queries behind the gauges that describe the database rather than this process. */
export interface DatabaseSources {
  unacknowledged(): Promise<Map<string, number>>;
  commands(): Promise<Array<{ account: string; kind: string; status: string; n: number }>>;
  /** Queued callbacks per account. */
  callbackQueue?(): Promise<Map<string, number>>;
}

/** What the alert gauges read at scrape time (the alert engine). */
export interface AlertSource {
  active(): Array<{ type: string; severity: string }>;
  healthScore(): number;
}

/** All metrics of one daemon. */
export class Metrics {
  readonly registry = new Registry();
  readonly runs = new Counter({ name: 'emag_sync_runs_total', help: 'Finished sync runs by account, stream and result.', labelNames: ['account', 'stream', 'result'], registers: [this.registry] });
  readonly records = new Counter({ name: 'emag_sync_records_total', help: 'Records processed by sync runs, by what happened to them.', labelNames: ['account', 'stream', 'outcome'], registers: [this.registry] });
  readonly runDuration = new Histogram({ name: 'emag_sync_run_duration_seconds', help: 'Duration of finished sync runs.', labelNames: ['account', 'stream'], buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600], registers: [this.registry] });
  readonly lastSuccess = new Gauge({ name: 'emag_sync_last_success_timestamp_seconds', help: 'When each account stream last finished successfully (Unix time).', labelNames: ['account', 'stream'], registers: [this.registry] });
  readonly running = new Gauge({ name: 'emag_sync_running', help: '1 while a run of the account stream is in progress.', labelNames: ['account', 'stream'], registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'emag_api_requests_total', help: 'eMAG API requests by account, resource, action and HTTP status (0 = no answer).', labelNames: ['account', 'resource', 'action', 'status'], registers: [this.registry] });
  readonly apiDuration = new Histogram({ name: 'emag_api_request_duration_seconds', help: 'eMAG API request durations.', labelNames: ['account', 'resource'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [this.registry] });
  readonly apiErrors = new Counter({ name: 'emag_api_errors_total', help: 'Failed eMAG API attempts by kind.', labelNames: ['account', 'resource', 'kind'], registers: [this.registry] });
  readonly rateLimitWaits = new Counter({ name: 'emag_rate_limit_waits_total', help: 'Requests that waited for the rate budget before being sent.', labelNames: ['account'], registers: [this.registry] });
  readonly rateLimitWaitSeconds = new Counter({ name: 'emag_rate_limit_wait_seconds_total', help: 'Total time requests waited for the rate budget.', labelNames: ['account'], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'emag_rate_limited_total', help: 'HTTP 429 answers from eMAG.', labelNames: ['account'], registers: [this.registry] });
  readonly accountOwned = new Gauge({ name: 'emag_sync_account_owned', help: '1 when this instance owns the account (holds its lease), else 0.', labelNames: ['account'], registers: [this.registry] });
  readonly instances = new Gauge({ name: 'emag_sync_instances', help: 'Live emag-sync instances sharing the database, as this instance last counted them.', registers: [this.registry] });
  readonly quarantined = new Counter({ name: 'emag_quarantined_records_total', help: 'Records set aside because they could not be parsed.', labelNames: ['account', 'stream'], registers: [this.registry] });
  readonly eventClients = new Gauge({ name: 'emag_sync_event_clients', help: 'Clients connected to the console event stream (/api/events).', registers: [this.registry] });
  readonly eventClientsDropped = new Counter({ name: 'emag_sync_event_clients_dropped_total', help: 'Event-stream clients dropped because they stopped reading.', registers: [this.registry] });
  /**
   * eMAG callbacks by account (`unknown` for names not configured), event (`unknown` likewise) and
   * result: queued, coalesced, probe (no id: eMAG testing the URL), invalid (a malformed id),
   * not_found (wrong or missing token, unknown account or event), forbidden (source IP not allowed),
   * overflow (queue full: left to the scheduled poll), late (answered before the queue write ended;
   * the write goes on), error (the queue could not be written).
   */
  readonly callbacks = new Counter({ name: 'emag_callbacks_total', help: 'eMAG callbacks received, by account, event and result (overflow: queue full, left to the poll).', labelNames: ['account', 'event', 'result'], registers: [this.registry] });
  /** How long the callback routes took to answer (eMAG wants an answer at once; the budget is 100 ms). */
  readonly callbackAnswer = new Histogram({ name: 'emag_callback_answer_seconds', help: 'Time from a callback request to its answer.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  /** Filled at scrape time from the database, by the sources the daemon sets with `setDatabaseSources`. */
  readonly unacknowledged: Gauge;
  readonly callbackQueue: Gauge;
  readonly commands: Gauge;
  #sources: DatabaseSources | null = null;
  readonly alertNotifications = new Counter({ name: 'emag_alert_notifications_total', help: 'Alert webhook deliveries by result: delivered, retried (an attempt failed), undelivered (given up).', labelNames: ['result'], registers: [this.registry] });
  /** Filled at scrape time from the alert engine set with `setAlertSource`. */
  readonly healthScore: Gauge;
  readonly alertsActive: Gauge;
  #alerts: AlertSource | null = null;
  readonly buildInfo = new Gauge({ name: 'emag_sync_build_info', help: 'Version of the running emag-sync.', labelNames: ['version', 'node'], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean; version?: string } = {}) {
    const self = this;
    this.unacknowledged = new Gauge({
      name: 'emag_orders_unacknowledged',
      help: 'Seller-fulfilled orders still new (status 1) and not acknowledged, per account.',
      labelNames: ['account'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await self.#read((s) => s.unacknowledged());
        for (const [account, n] of rows ?? []) this.set({ account }, n);
      },
    });
    this.commands = new Gauge({
      name: 'emag_commands',
      help: 'Outbox commands waiting (pending/running), failed or in conflict, per account and kind.',
      labelNames: ['account', 'kind', 'status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const c of (await self.#read((s) => s.commands())) ?? []) this.inc({ account: c.account, kind: c.kind, status: c.status }, c.n);
      },
    });
    this.healthScore = new Gauge({
      name: 'emag_sync_health_score',
      help: 'The 0–100 health score of /api/status and /health, from the active alerts.',
      registers: [this.registry],
      collect() {
        // No engine (one-off commands): nothing is known to be wrong.
        this.set(self.#alerts?.healthScore() ?? 100);
      },
    });
    this.alertsActive = new Gauge({
      name: 'emag_sync_alerts_active',
      help: 'Active alerts by type and severity.',
      labelNames: ['type', 'severity'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of self.#alerts?.active() ?? []) this.inc({ type: a.type, severity: a.severity });
      },
    });
    // Every result from zero, so rate() and increase() see the first delivery.
    for (const result of ['delivered', 'retried', 'undelivered']) this.alertNotifications.inc({ result }, 0);
    this.callbackQueue = new Gauge({
      name: 'emag_callback_queue_depth',
      help: 'eMAG callbacks queued and not yet read, per account.',
      labelNames: ['account'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await self.#read((s) => s.callbackQueue?.() ?? Promise.resolve(new Map<string, number>()));
        for (const [account, n] of rows ?? []) this.set({ account }, n);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: opts.version ?? '0.0.0', node: process.version }, 1);
  }

  /**
   * A database-backed figure within a second, or null: a slow or unreachable database leaves these
   * gauges empty instead of failing or stalling the whole scrape.
   */
  async #read<T>(query: (s: DatabaseSources) => Promise<T>): Promise<T | null> {
    if (!this.#sources) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), 1000);
    });
    try {
      return await Promise.race([query(this.#sources).catch(() => null), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Where the database-backed gauges read their numbers at scrape time. */
  setDatabaseSources(sources: DatabaseSources): void {
    this.#sources = sources;
  }

  /** Where the health score and active-alert gauges read at scrape time. */
  setAlertSource(source: AlertSource): void {
    this.#alerts = source;
  }

  /** Records one eMAG attempt. */
  observeCall(e: CallEvent): void {
    this.apiRequests.inc({ account: e.account, resource: e.resource, action: boundedAction(e.action), status: String(e.status) });
    this.apiDuration.observe({ account: e.account, resource: e.resource }, e.durationMs / 1000);
    if (e.error) this.apiErrors.inc({ account: e.account, resource: e.resource, kind: e.error });
    if (e.status === 429) this.rateLimited.inc({ account: e.account });
    if (e.waitedMs > 5) {
      this.rateLimitWaits.inc({ account: e.account });
      this.rateLimitWaitSeconds.inc({ account: e.account }, e.waitedMs / 1000);
    }
  }
}

/** `acknowledge/123` or `offer_stock/123` would make one series per order or offer: ids become `:id`. */
function boundedAction(action: string): string {
  return /^\d+$/.test(action) ? ':id' : action.replace(/\/.*$/, '');
}

/**
 * The alert engine: every EMAG_ALERT_INTERVAL it reads the facts, runs the rules, and turns a
 * condition into an alert once it held for two evaluations in a row (and clears it the same way),
 * so a blip never notifies anyone. State lives in `emag_alerts`: a restarted daemon takes its
 * active alerts back without notifying them again, and resumes deliveries that were not finished.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import { type AlertRow, type AlertSeverity, activeAlerts, alertsLastHour, clearAlert, insertAlert, recordNotification, undeliveredAlerts, updateAlert } from '../db/alerts.ts';
import type { Sql } from '../db/connect.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type ActiveAlert, alertJson } from './alert-json.ts';
import { FactReader } from './facts.ts';
import { type DeliveryCounter, Notifier, notificationText, type Notification } from './notify.ts';
import { type AlertType, type Condition, evaluateRules, healthScore } from './rules.ts';

/** Evaluations a condition must hold (or be gone) in a row before the alert fires (or clears). */
const HOLD = 2;


interface Held extends ActiveAlert {
  key: string;
}

/** What the engine needs from the daemon. */
export interface AlertEngineDeps {
  sql: Sql;
  config: Config;
  log: Logger;
  /** Counts notification results (emag_alert_notifications_total). */
  countDelivery?: DeliveryCounter;
  /** When the daemon started: a stream never synced is stale once it had that long. @default now */
  startedAt?: Date;
}

/**
 * Runs the rules on a timer, keeps the active alerts, and notifies. Emits `evaluated` after each
 * evaluation (tests wait for it instead of sleeping).
 */
export class AlertEngine extends EventEmitter {
  readonly #sql: Sql;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #notifier: Notifier;
  readonly #facts: FactReader;
  readonly #active = new Map<string, Held>();
  /** Conditions seen in consecutive evaluations, not firing yet. */
  readonly #seen = new Map<string, number>();
  /** Active alerts whose condition was gone in consecutive evaluations. */
  readonly #absent = new Map<string, number>();
  /** Database writes that failed (the database was down), replayed in order once it answers. */
  readonly #pendingWrites: Array<() => Promise<unknown>> = [];
  /** Per alert, its notifications in order: a resolved one waits for the firing one. */
  readonly #deliveries = new Map<string, Promise<void>>();
  #lastHour: Record<AlertSeverity, number> = { warning: 0, critical: 0 };
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** Evaluations done since start. */
  evaluations = 0;

  constructor(deps: AlertEngineDeps) {
    super();
    this.#sql = deps.sql;
    this.#config = deps.config;
    this.#log = deps.log;
    this.#facts = new FactReader(deps.sql, deps.config, deps.log, deps.startedAt ?? new Date());
    this.#notifier = new Notifier(deps.config.alerts, deps.log, deps.countDelivery);
  }

  /** Takes the active alerts back from the database, resumes unfinished deliveries, and starts the timer. */
  async start(): Promise<void> {
    await this.#adoptFromDatabase();
    for (const row of await undeliveredAlerts(this.#sql)) {
      const alert = fromRow(row);
      if (row.notify_result === null) this.#notify(alert, 'firing');
      if (row.cleared_at && row.resolved_notify_result === null) this.#notify(alert, 'resolved', row.cleared_at);
    }
    this.#schedule();
  }

  /** The active alerts, critical first, then oldest first. */
  active(): ActiveAlert[] {
    return [...this.#active.values()]
      .map(({ key: _key, ...a }) => a)
      .sort((a, b) => (a.severity === b.severity ? a.since.getTime() - b.since.getTime() : a.severity === 'critical' ? -1 : 1));
  }

  /** The health score of the active alerts (see `healthScore`). */
  healthScore(): number {
    return healthScore(this.active());
  }

  /** Alerts active at some moment of the last hour, by severity, from the history (as of the last evaluation). */
  lastHour(): Record<AlertSeverity, number> {
    return { ...this.#lastHour };
  }

  /** One evaluation now (concurrent calls share it). */
  evaluate(): Promise<void> {
    this.#running ??= this.#evaluate().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Stops the timer, waits for the evaluation in flight, and abandons pending retries. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
    await this.#notifier.stop();
    await Promise.allSettled([...this.#deliveries.values()]);
    // What an outage kept from the table, if the database answers now (briefly: we are stopping).
    if (this.#pendingWrites.length > 0) await Promise.race([this.#flushWrites(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.evaluate()
        .catch((err) => this.#log.warn({ err: scrubSecrets(coerceError(err).message) }, 'alert evaluation failed'))
        .finally(() => this.#schedule());
    }, this.#config.alerts.intervalMs);
    this.#timer.unref();
  }

  async #evaluate(): Promise<void> {
    const now = new Date();
    const facts = await this.#facts.read(now);
    if (facts.database.ok) {
      await this.#flushWrites();
      if (this.#pendingWrites.length === 0) await this.#adoptFromDatabase();
    }
    const conditions = new Map(evaluateRules(facts, this.#config.alerts.thresholds).map((c) => [c.key, c]));
    for (const [key, c] of conditions) {
      this.#absent.delete(key);
      const held = this.#active.get(key);
      if (held) {
        if (held.severity !== c.severity || held.message !== c.message || held.action !== c.action) {
          Object.assign(held, { severity: c.severity, message: c.message, action: c.action });
          void this.#write(() => updateAlert(this.#sql, held.id, c));
        }
        continue;
      }
      const seen = (this.#seen.get(key) ?? 0) + 1;
      this.#seen.set(key, seen);
      if (seen >= HOLD) await this.#fire(c, now);
    }
    for (const key of this.#seen.keys()) if (!conditions.has(key) || this.#active.has(key)) this.#seen.delete(key);
    for (const [key, held] of this.#active) {
      // Without the database only the database rule can judge; the others keep their state.
      if (conditions.has(key) || (facts.accounts === null && held.type !== 'database')) continue;
      const absent = (this.#absent.get(key) ?? 0) + 1;
      this.#absent.set(key, absent);
      if (absent >= HOLD) await this.#clear(held, now);
    }
    if (facts.database.ok) {
      this.#lastHour = await alertsLastHour(this.#sql).catch(() => this.#lastHour);
    }
    this.evaluations++;
    this.emit('evaluated', this.evaluations);
  }

  async #fire(c: Condition, now: Date): Promise<void> {
    const held: Held = { key: c.key, id: randomUUID(), type: c.type, severity: c.severity, account: c.account, stream: c.stream, message: c.message, action: c.action, since: now };
    const row = { id: held.id, key: c.key, type: c.type, account: c.account, stream: c.stream, severity: c.severity, message: c.message, action: c.action, started_at: now };
    if (this.#pendingWrites.length === 0) {
      try {
        // Another instance that fired it first owns the row and its notification.
        if (!(await insertAlert(this.#sql, row))) return;
      } catch {
        this.#pendingWrites.push(() => insertAlert(this.#sql, row));
      }
    } else {
      this.#pendingWrites.push(() => insertAlert(this.#sql, row));
    }
    this.#active.set(c.key, held);
    this.#seen.delete(c.key);
    this.#log.warn({ alert: c.type, account: c.account, stream: c.stream, severity: c.severity }, `alert firing: ${c.message}`);
    this.#notify(held, 'firing');
  }

  async #clear(held: Held, now: Date): Promise<void> {
    this.#active.delete(held.key);
    this.#absent.delete(held.key);
    if (this.#pendingWrites.length === 0) {
      try {
        if (!(await clearAlert(this.#sql, held.id, now))) return;
      } catch {
        this.#pendingWrites.push(() => clearAlert(this.#sql, held.id, now));
      }
    } else {
      this.#pendingWrites.push(() => clearAlert(this.#sql, held.id, now));
    }
    this.#log.info({ alert: held.type, account: held.account, stream: held.stream }, `alert resolved: ${held.message}`);
    this.#notify(held, 'resolved', now);
  }

  #notify(alert: ActiveAlert, state: 'firing' | 'resolved', until?: Date): void {
    const n = notification(alert, state, until);
    const previous = this.#deliveries.get(alert.id) ?? Promise.resolve();
    const done = previous
      .then(() => this.#notifier.deliver(n))
      .then((outcome) => {
        if (outcome.result === 'stopped') return;
        // Awaited (stop waits for it): a delivery not recorded would be sent again after a restart.
        return this.#write(() => recordNotification(this.#sql, alert.id, state === 'resolved', outcome.result as 'delivered' | 'undelivered' | 'no_webhook', outcome.error));
      });
    this.#deliveries.set(alert.id, done);
    void done.finally(() => {
      if (this.#deliveries.get(alert.id) === done) this.#deliveries.delete(alert.id);
    });
  }

  /** Writes now, or after the writes still waiting for the database, in order. */
  async #write(fn: () => Promise<unknown>): Promise<void> {
    if (this.#pendingWrites.length > 0) {
      this.#pendingWrites.push(fn);
      return;
    }
    await fn().catch(() => this.#pendingWrites.push(fn));
  }

  async #flushWrites(): Promise<void> {
    while (this.#pendingWrites.length > 0) {
      try {
        await this.#pendingWrites[0]();
      } catch (err) {
        this.#log.debug({ err: scrubSecrets(coerceError(err).message) }, 'alert state not written yet');
        return;
      }
      this.#pendingWrites.shift();
    }
  }

  /** Makes memory agree with the table: alerts another instance (or an earlier run) fired are taken in, cleared ones dropped. */
  async #adoptFromDatabase(): Promise<void> {
    const rows = await activeAlerts(this.#sql);
    const keys = new Set(rows.map((r) => r.key));
    for (const row of rows) if (!this.#active.has(row.key)) this.#active.set(row.key, { key: row.key, ...fromRow(row) });
    for (const key of this.#active.keys()) if (!keys.has(key)) this.#active.delete(key);
  }
}

function fromRow(row: AlertRow): ActiveAlert {
  return { id: row.id, type: row.type as AlertType, severity: row.severity, account: row.account, stream: row.stream, message: row.message, action: row.action, since: row.started_at };
}

/** The webhook body of an alert's start or end: ids, names and texts only, no secrets or customer data. */
export function notification(a: ActiveAlert, state: 'firing' | 'resolved', until?: Date): Notification {
  const alert = { ...alertJson(a), state, ...(until ? { until: until.toISOString() } : {}) };
  return { text: notificationText(alert), alert };
}

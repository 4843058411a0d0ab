/**
 * What the status server reads from the daemon around it, and the few handles its control routes act
 * through (start and cancel runs). Without those handles (the benchmark's server) it only reads.
 */
import type { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import type { AccountBudget } from '../emag/budget.ts';
import type { CallEvent } from '../emag/call-event.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Scheduler } from '../scheduler.ts';
import type { RunEvent } from '../streams/run.ts';
import type { AlertView } from './alerts.ts';

/** The daemon's run events (`SyncDeps.onRunEvent` re-emitted), for the console's live view. */
export type RunEvents = EventEmitter<{ run: [RunEvent] }>;

/** The daemon's parts the status server reports on. */
export interface StatusContext {
  sql: Sql;
  config: Config;
  metrics: Metrics;
  /** Reads always; `startNow` and `cancelRun` back the control routes (absent: they answer 503). */
  scheduler: Pick<Scheduler, 'running' | 'nextRun' | 'activeRuns'> & Partial<Pick<Scheduler, 'startNow' | 'cancelRun'>>;
  log: Logger;
  /** When the daemon started; "never synced" only counts as stale after the daemon had time to sync. */
  startedAt: Date;
  version: string;
  /** Where the database is, already without credentials. */
  database: { where: string; embedded: boolean };
  /** Accounts whose lease this daemon holds (others are synced by another instance). */
  ownedAccounts(): string[];
  /** Run started/progress/finished events of this daemon; without them the page polls. */
  runEvents?: RunEvents;
  /** The accounts' shared rate budgets, so a connection test counts against the account's limits. */
  budgets?: Map<string, AccountBudget>;
  /** Where a connection test's call is recorded (metrics, call log), like a run's. */
  onCall?: (e: CallEvent) => void;
  /** How often `/api/events` sends its `status` heartbeat. @default 15000 */
  heartbeatMs?: number;
  /** The alert engine's active alerts, health score and history counts. */
  alerts: AlertView;
  /** The instance owning each account (null: nobody, or a one-off command); absent without ownership. */
  accountOwners?(): Map<string, string | null>;
}

/**
 * What the status server shows of the alert engine: the active alerts (as JSON), the health score
 * they give, and the last hour's count from the history. The engine decides; the server only reads.
 */
import { type ActiveAlert, type AlertJson, alertJson } from '../alerts/alert-json.ts';
import type { AlertSeverity } from '../db/alerts.ts';

/** The engine's state as the server reads it (the AlertEngine, or a stand-in in tests). */
export interface AlertView {
  active(): ActiveAlert[];
  healthScore(): number;
  lastHour(): Record<AlertSeverity, number>;
}

/** An active alert as JSON. */
export type AlertBody = AlertJson;

/** An active alert as the server's documents carry it (the console's event stream diffs these). */
export type Alert = AlertBody;

/** An active alert as /api/status lists it. */
export const alertBody: (a: ActiveAlert) => AlertBody = alertJson;

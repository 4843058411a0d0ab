/**
 * What the status server shows of the alert engine: the active alerts (as JSON), the health score
 * they give, and the last hour's count from the history. The engine decides; the server only reads.
 */
import type { ActiveAlert } from '../alerts/evaluate.ts';
import type { AlertSeverity } from '../db/alerts.ts';

/** The engine's state as the server reads it (the AlertEngine, or a stand-in in tests). */
export interface AlertView {
  active(): ActiveAlert[];
  healthScore(): number;
  lastHour(): Record<AlertSeverity, number>;
}

/** An active alert as JSON. */
export interface AlertBody {
  id: string;
  type: string;
  severity: AlertSeverity;
  account?: string;
  stream?: string;
  message: string;
  action: string;
  since: string;
}

/** An active alert as the server's documents carry it (the console's event stream diffs these). */
export type Alert = AlertBody;

/** An active alert as /api/status lists it. */
export function alertBody(a: ActiveAlert): AlertBody {
  return {
    id: a.id,
    type: a.type,
    severity: a.severity,
    ...(a.account ? { account: a.account } : {}),
    ...(a.stream ? { stream: a.stream } : {}),
    message: a.message,
    action: a.action,
    since: a.since.toISOString(),
  };
}

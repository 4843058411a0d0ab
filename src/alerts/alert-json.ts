/**
 * An alert as JSON: what /api/status, /api/alerts, the event stream and the webhook bodies carry.
 * Ids, names and texts only — never secrets or customer data.
 */
import type { AlertSeverity } from '../db/alerts.ts';
import type { Condition } from './rules.ts';

/** An active alert as /api/status and /api/alerts show it: a condition that held, with its id and start. */
export interface ActiveAlert extends Omit<Condition, 'key'> {
  id: string;
  since: Date;
}

/** An active alert as JSON. */
export interface AlertJson {
  id: string;
  type: string;
  severity: AlertSeverity;
  account?: string;
  stream?: string;
  message: string;
  action: string;
  since: string;
}

/** The JSON of an active alert (account and stream only where the alert has them). */
export function alertJson(a: ActiveAlert): AlertJson {
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

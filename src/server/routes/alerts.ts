/**
 * GET /api/alerts?state=active|cleared (or firing|resolved)&since=<ISO time>&limit=: the alert
 * history (kept EMAG_LOG_RETENTION_DAYS), newest first, each with when it started and cleared and
 * how its notifications ended.
 */
import { type AlertRow, listAlerts } from '../../db/alerts.ts';
import { MAX_LIMIT, oneOfParam, wholeParam } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Alerts listed when `limit` is not given. */
export const DEFAULT_ALERTS = 100;
/** The webhook's words for the states, accepted too. */
const STATES = { active: 'active', cleared: 'cleared', firing: 'active', resolved: 'cleared' } as const;

/** Answers GET /api/alerts after validating the query (400 naming a bad state, since or limit). */
export function alertsRoute(ctx: RouteContext): Handler {
  return async ({ url }) => {
    const params = url.searchParams;
    const state = oneOfParam(params, 'state', Object.keys(STATES) as Array<keyof typeof STATES>);
    const rawSince = params.get('since') || undefined;
    const since = rawSince === undefined ? undefined : new Date(/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(rawSince) ? rawSince : Number.NaN);
    if (since !== undefined && Number.isNaN(since.getTime())) throw new HttpError(400, 'bad_request', 'since: must be an ISO date or time, e.g. 2026-12-01T08:00:00Z');
    const limit = wholeParam(params, 'limit', 1, MAX_LIMIT) ?? DEFAULT_ALERTS;
    const rows = await listAlerts(ctx.sql, { state: state && STATES[state], since, limit });
    return json(200, { alerts: rows.map(present) });
  };
}

function present(r: AlertRow) {
  return {
    id: r.id,
    type: r.type,
    severity: r.severity,
    account: r.account,
    stream: r.stream,
    message: r.message,
    action: r.action,
    state: r.cleared_at ? 'cleared' : 'active',
    startedAt: r.started_at.toISOString(),
    clearedAt: r.cleared_at?.toISOString() ?? null,
    notifiedAt: r.notified_at?.toISOString() ?? null,
    notifyResult: r.notify_result,
    resolvedNotifiedAt: r.resolved_notified_at?.toISOString() ?? null,
    resolvedNotifyResult: r.resolved_notify_result,
    notifyError: r.notify_error,
  };
}

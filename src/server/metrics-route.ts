/**
 * GET /metrics: the Prometheus registry, after refreshing the gauges whose truth is the database —
 * last success per account stream (also another instance's runs, and across restarts) and the health
 * score. Labels are account and stream only, so series stay bounded.
 */
import { Gauge } from 'prom-client';
import type { StatusContext } from './context.ts';
import type { Handler } from './reply.ts';
import type { Snapshots } from './snapshot.ts';
import { buildStatus } from './status.ts';

const HEALTH_SCORE = 'emag_sync_health_score';

/** Answers GET /metrics in the registry's exposition format. */
export function metricsRoute(ctx: StatusContext, snapshots: Snapshots): Handler {
  const registry = ctx.metrics.registry;
  // One registry may serve several servers (tests, restarts): register the gauge once.
  const score = (registry.getSingleMetric(HEALTH_SCORE) as Gauge | undefined) ?? new Gauge({ name: HEALTH_SCORE, help: 'The 0–100 health score of /api/status.', registers: [registry] });
  return async () => {
    const snapshot = await snapshots.status();
    score.set(buildStatus(ctx, snapshot).healthScore);
    for (const state of snapshot.states?.values() ?? []) {
      if (state.lastSuccessAt) ctx.metrics.lastSuccess.set({ account: state.account, stream: state.stream }, state.lastSuccessAt.getTime() / 1000);
    }
    return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
  };
}

/**
 * GET /metrics: the Prometheus registry, after refreshing the gauges whose truth is the database —
 * last success per account stream (also another instance's runs, and across restarts). Labels are
 * account and stream only, so series stay bounded. The health score and alert gauges read the same
 * alert engine as /api/status and /health, so the three agree.
 */
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /metrics in the registry's exposition format. */
export function metricsRoute(ctx: RouteContext): Handler {
  const registry = ctx.metrics.registry;
  ctx.metrics.setAlertSource(ctx.alerts);
  return async () => {
    const snapshot = await ctx.snapshots.status();
    for (const state of snapshot.states?.values() ?? []) {
      if (state.lastSuccessAt) ctx.metrics.lastSuccess.set({ account: state.account, stream: state.stream }, state.lastSuccessAt.getTime() / 1000);
    }
    return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
  };
}

/**
 * GET /metrics: the Prometheus registry, after refreshing the gauges whose truth is the database —
 * last success per account stream (also another instance's runs, and across restarts) and the health
 * score. Labels are account and stream only, so series stay bounded.
 */
import type { Handler, RouteContext } from '../route.ts';
import { buildStatus } from './status.ts';

/** Answers GET /metrics in the registry's exposition format. */
export function metricsRoute(ctx: RouteContext): Handler {
  const registry = ctx.metrics.registry;
  return async () => {
    const snapshot = await ctx.snapshots.status();
    ctx.metrics.healthScore.set(buildStatus(ctx, snapshot).healthScore);
    for (const state of snapshot.states?.values() ?? []) {
      if (state.lastSuccessAt) ctx.metrics.lastSuccess.set({ account: state.account, stream: state.stream }, state.lastSuccessAt.getTime() / 1000);
    }
    return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
  };
}

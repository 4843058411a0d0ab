/**
 * POST /api/accounts/<name>/test: the connection test of `emag-sync test <name>` (one `vat/read`
 * under the account's rate budget), as JSON: `{account, ok, durationMs, kind, message}`.
 */
import { probeAccount } from '../../emag/probe.ts';
import { knownAccount } from '../params.ts';
import { json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers POST /api/accounts/<name>/test (behind the guard); 200 whatever the verdict. */
export function accountTestRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const name = knownAccount(ctx, params.name);
    const account = ctx.config.accounts.find((a) => a.name === name);
    if (!account) throw new Error('unreachable: knownAccount found it');
    return json(200, await probeAccount(account, { apiTimeoutMs: ctx.config.apiTimeoutMs, budget: ctx.budgets?.get(name), onCall: ctx.onCall }));
  };
}

/**
 * A sandbox eMAG in a process of its own, so serving pages does not take CPU from the process being
 * measured. Argument: JSON `SandboxProcessInput`. Prints `{"url": …}` once listening (after any
 * pre-rendering) and runs until its stdin closes or it gets SIGTERM; then prints a `SandboxReport`
 * of every request it saw.
 */
import { startSandbox, windowViolations } from '../src/sandbox/server.ts';
import { endWithParent } from './child.ts';
import { benchAccount } from './sync-setup.ts';

/** What the parent asks for. */
export interface SandboxProcessInput {
  accounts: Array<{ name: string; offers: number; orders?: number; orderHistoryDays?: number }>;
  enforceLimits: boolean;
  latencyMs: number;
  /** Serve offer pages rendered at start (the rig is then not what is measured). @default false */
  prerender?: boolean;
}

/** Per account: what arrived, when. Times are `Date.now()` ms. */
export interface SandboxAccountReport {
  requests: number;
  reads: number;
  first: number;
  last: number;
  tooMany: number;
}

/** What the sandbox saw, printed when it ends. */
export interface SandboxReport {
  accounts: Record<string, SandboxAccountReport>;
  /** Requests over eMAG's limits in any 1-s or 60-s window, all accounts. */
  violations: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as SandboxProcessInput;
const sandbox = await startSandbox({
  accounts: input.accounts.map((a) => ({ ...benchAccount(a.name, a.offers), orders: a.orders, orderHistoryDays: a.orderHistoryDays, prerenderPages: input.prerender })),
  enforceLimits: input.enforceLimits,
  latencyMs: input.latencyMs,
});
endWithParent(async () => {
  const accounts: Record<string, SandboxAccountReport> = {};
  for (const e of sandbox.log) {
    if (e.account === null) continue;
    accounts[e.account] ??= { requests: 0, reads: 0, first: e.t, last: e.t, tooMany: 0 };
    const a = accounts[e.account];
    a.requests++;
    if (e.action === 'read') a.reads++;
    if (e.status === 429) a.tooMany++;
    a.first = Math.min(a.first, e.t);
    a.last = Math.max(a.last, e.t);
  }
  const report: SandboxReport = { accounts, violations: windowViolations(sandbox.log).length };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await sandbox.close();
});
process.stdout.write(`${JSON.stringify({ url: sandbox.url })}\n`);

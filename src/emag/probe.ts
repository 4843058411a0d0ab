/**
 * An account's connection test: one cheap read (`vat/read`) under the account's budget, and what a
 * failure means for a person. `emag-sync test` and the console's "test connection" give this verdict.
 */
import type { AccountConfig } from '../config.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import { AccountBudget } from './budget.ts';
import type { CallEvent } from './call-event.ts';
import { EmagClient } from './client.ts';
import { EmagError, type EmagErrorKind } from './errors.ts';

/** The outcome of a connection test. */
export interface ProbeVerdict {
  account: string;
  ok: boolean;
  /** How long the call took, in ms. */
  durationMs: number;
  /** The eMAG error kind when it failed with one (auth, ip_not_whitelisted, …). */
  kind: EmagErrorKind | null;
  /** One line for a person: what works, or what is wrong and what it means. Never a secret. */
  message: string;
}

const HINTS: Record<EmagErrorKind, string> = {
  auth: 'wrong username/password, or the user lacks API rights',
  ip_not_whitelisted: "this machine's IP is not whitelisted for the API in the eMAG seller panel",
  rate_limited: 'rate limited by eMAG; another integration may be using the same account',
  network: 'cannot reach the API (network or base URL)',
  timeout: 'the API did not answer in time',
  server: 'eMAG answered with a server error; try again later',
  invalid_response: 'the answer was not eMAG JSON (wrong base URL?)',
  rejected: 'eMAG refused the request',
};

/** What a failed API check means for a person. */
export function failureVerdict(err: unknown): string {
  if (!(err instanceof EmagError)) return scrubSecrets(coerceError(err).message);
  return `${HINTS[err.kind]} — ${err.message}`;
}

/**
 * Tests one account with a `vat/read`: at most 15 s and one retry. `budget` is the account's shared
 * budget when a daemon runs its syncs in the same process (the test then counts against its limits).
 */
export async function probeAccount(
  account: AccountConfig,
  opts: { apiTimeoutMs: number; budget?: AccountBudget; onCall?: (e: CallEvent) => void },
): Promise<ProbeVerdict> {
  const client = new EmagClient({
    account: account.name,
    baseUrl: account.baseUrl,
    username: account.username,
    password: account.password,
    budget: opts.budget ?? new AccountBudget(account.ordersRps, account.otherRps),
    timeoutMs: Math.min(opts.apiTimeoutMs, 15_000),
    maxRetries: 1,
    onCall: opts.onCall,
  });
  const started = performance.now();
  try {
    await client.read('vat', {});
    const durationMs = Math.round(performance.now() - started);
    return { account: account.name, ok: true, durationMs, kind: null, message: `API access works (${account.baseUrl}, ${durationMs} ms)` };
  } catch (err) {
    return { account: account.name, ok: false, durationMs: Math.round(performance.now() - started), kind: err instanceof EmagError ? err.kind : null, message: failureVerdict(err) };
  }
}

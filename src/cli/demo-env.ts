/**
 * The demo's world: the sandbox accounts with their published credentials, the sandbox that serves
 * them, and the environment that points a daemon at both.
 */
import { startSandbox } from '../sandbox/server.ts';

/** The sandbox accounts' credentials: published, for local use only. */
export const SANDBOX_ACCOUNTS = [
  { name: 'main', username: 'main-sandbox', password: 'sandbox-main-pass', orderType: 3 as const },
  { name: 'fbe', username: 'fbe-sandbox', password: 'sandbox-fbe-pass', orderType: 2 as const },
];

/** What the demo's sandbox holds and how it answers. */
export interface DemoSandboxOptions {
  /** 0 = any free port. */
  port: number;
  /** Offers per account; a fifth of them are shared SKUs. */
  offers: number;
  /** Orders per account; a tenth of that in returns. */
  orders: number;
  latencyMs: number;
}

/** Starts the sandbox eMAG API with the SANDBOX_ACCOUNTS. */
export function startDemoSandbox(opts: DemoSandboxOptions) {
  return startSandbox({
    port: opts.port,
    latencyMs: opts.latencyMs,
    sharedSkus: Math.floor(opts.offers / 5),
    accounts: SANDBOX_ACCOUNTS.map((a) => ({ ...a, offers: opts.offers, orders: opts.orders, rmas: Math.floor(opts.orders / 10) })),
  });
}

/**
 * The demo daemon's environment: the sandbox accounts at `sandboxUrl` (offers every 10 min), data
 * under <EMAG_SYNC_DATA_DIR>/demo so a real data directory is never touched, and only the server
 * and log settings of the caller's own environment `env`.
 */
export function demoEnvironment(env: Record<string, string | undefined>, sandboxUrl: string): Record<string, string | undefined> {
  const demo: Record<string, string | undefined> = {
    EMAG_SYNC_HOST: env.EMAG_SYNC_HOST,
    EMAG_SYNC_PORT: env.EMAG_SYNC_PORT,
    EMAG_LOG_LEVEL: env.EMAG_LOG_LEVEL,
    EMAG_SYNC_DATA_DIR: `${env.EMAG_SYNC_DATA_DIR?.trim() || './data'}/demo`,
    EMAG_ACCOUNTS: SANDBOX_ACCOUNTS.map((a) => a.name).join(','),
  };
  for (const a of SANDBOX_ACCOUNTS) {
    const up = `EMAG_${a.name.toUpperCase()}`;
    Object.assign(demo, { [`${up}_BASE_URL`]: sandboxUrl, [`${up}_USERNAME`]: a.username, [`${up}_PASSWORD`]: a.password, [`${up}_SYNC_INTERVAL`]: '10' });
  }
  return demo;
}

/**
 * How `status` and `health` reach the running daemon's status server.
 */
import { readEnv, SERVER_DEFAULTS } from '../config.ts';

/**
 * The running daemon's status server: only EMAG_SYNC_HOST/PORT matter, so a probe never fails on
 * other settings. A wildcard bind address is asked on the loopback.
 */
export function statusServerUrl(): string {
  const env = readEnv();
  const configured = env.EMAG_SYNC_HOST?.trim() || SERVER_DEFAULTS.host;
  const host = configured === '0.0.0.0' || configured === '::' ? '127.0.0.1' : configured;
  const port = env.EMAG_SYNC_PORT?.trim() || String(SERVER_DEFAULTS.port);
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** GETs JSON from the status server within 5 s; a status not in `okStatuses` is an error. */
export async function fetchJson<T>(url: string, okStatuses: number[]): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!okStatuses.includes(res.status)) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * DNS-rebinding defence: a browser tricked into calling this server through a rebound name sends
 * that name as Host. Only the bound address, `localhost`, IP literals (probes by IP) and the names in
 * EMAG_SYNC_ALLOWED_HOSTS are answered; anything else gets 421 Misdirected Request.
 */
import { isIP } from 'node:net';
import type { Config } from '../config.ts';

/** Whether a request with this Host header is answered. A request without one (HTTP/1.0) is. */
export function hostAllowed(config: Pick<Config, 'host' | 'allowedHosts'>, header: string | undefined): boolean {
  if (header === undefined) return true;
  const host = hostName(header.trim().toLowerCase());
  if (host === null) return false;
  if (isIP(host) !== 0) return true;
  if (host === 'localhost' || host === config.host.toLowerCase()) return true;
  return config.allowedHosts.includes(host);
}

/** The name of `name[:port]` or `[v6]:port`, without a trailing dot; null when malformed. */
function hostName(header: string): string | null {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(header);
  if (!m) return null;
  return (m[1] ?? m[2]).replace(/\.$/, '');
}

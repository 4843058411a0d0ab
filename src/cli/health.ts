/**
 * `emag-sync health`: a monitoring probe of the running daemon's /health.
 */
import { coerceError } from '../errors.ts';
import type { HealthBody } from '../server/routes/health.ts';
import type { Command } from './command.ts';
import { fetchJson, statusServerUrl } from './daemon-client.ts';

/** Prints the daemon's health and exits 0 (pass), 1 (warn) or 2 (fail, or no answer). */
export const health: Command = {
  summary: 'probe the running daemon: exit 0 pass, 1 warn, 2 fail or unreachable',
  usage: `Usage: emag-sync health

Asks the running daemon's /health, for monitoring probes: prints the status and exits 0 (pass),
1 (warn) or 2 (fail, or the daemon does not answer).`,
  options: {},
  async run() {
    const url = `${statusServerUrl()}/health`;
    try {
      // /health answers 503 when the status is fail: that is an answer, not an error.
      const body = await fetchJson<Partial<HealthBody>>(url, [200, 503]);
      const status = body.status ?? 'fail';
      const problems = Object.entries(body.checks ?? {}).flatMap(([name, list]) =>
        list.filter((c) => c.status !== 'pass').map((c) => `  ${c.status} ${name}${c.componentId ? `/${c.componentId}` : ''}: ${c.output ?? ''}`),
      );
      console.log([status, ...problems].join('\n'));
      return status === 'pass' ? 0 : status === 'warn' ? 1 : 2;
    } catch (err) {
      console.log(`fail: no answer from ${url} (${coerceError(err).message})`);
      return 2;
    }
  },
};

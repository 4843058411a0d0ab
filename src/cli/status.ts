/**
 * `emag-sync status`: what the running daemon reports, one line per account and stream.
 */
import { coerceError } from '../errors.ts';
import type { StatusBody } from '../server/routes/status.ts';
import type { Command } from './command.ts';
import { fetchJson, statusServerUrl } from './daemon-client.ts';

/** Prints the daemon's /api/status (or the document itself with --json); 69 when it does not answer. */
export const status: Command = {
  summary: 'what the running daemon reports (accounts, streams, alerts)',
  args: '[--json]',
  usage: `Usage: emag-sync status [--json]

Asks the running daemon (GET /api/status on EMAG_SYNC_HOST:EMAG_SYNC_PORT) and prints one line per
account and stream, then the active alerts. --json prints the document as it came.`,
  options: { json: { type: 'boolean' } },
  async run({ values }) {
    const url = `${statusServerUrl()}/api/status`;
    let body: StatusBody;
    try {
      body = await fetchJson<StatusBody>(url, [200]);
    } catch (err) {
      console.error(`emag-sync status: no answer from ${url} (${coerceError(err).message}); is the daemon running?`);
      return 69;
    }
    if (values.json) {
      console.log(JSON.stringify(body, null, 2));
      return 0;
    }
    console.log(`health score ${body.healthScore}`);
    for (const a of body.accounts) {
      const cmds = a.commands ? `, commands ${a.commands.pending} waiting / ${a.commands.failed} failed / ${a.commands.conflict} conflict` : '';
      console.log(`${a.name}: ${a.status}${a.unacknowledgedOrders !== null ? `, ${a.unacknowledgedOrders} unacknowledged orders` : ''}${cmds}`);
      for (const st of a.streams) {
        const running = st.running ? ` running ${st.running.percent ?? '?'}%` : '';
        console.log(`  ${st.stream.padEnd(12)} ${(st.lastRunStatus ?? 'never').padEnd(11)} last success ${st.lastSuccess ?? '—'}, next ${st.nextRun ?? '—'}${running}`);
      }
    }
    for (const alert of body.alerts) console.log(`${alert.severity}: ${alert.message}`);
    return 0;
  },
};

/**
 * `emag-sync demo`: the sandbox, an embedded PostgreSQL and the daemon, all at once.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, readEnv, SERVER_DEFAULTS } from '../config.ts';
import { startDaemon } from '../daemon.ts';
import { Disposers } from '../disposers.ts';
import { createLogger } from '../log.ts';
import { untilStopped } from '../signals.ts';
import type { Command } from './command.ts';
import { demoEnvironment, startDemoSandbox } from './demo-env.ts';
import { intOption } from './options.ts';

/** Runs the demo until a signal; the sandbox stops after the daemon (and its embedded PostgreSQL). */
export const demo: Command = {
  summary: 'sandbox + embedded PostgreSQL + daemon, all at once',
  usage: `Usage: emag-sync demo [--offers N] [--latency MS]

Starts the sandbox eMAG API, an embedded PostgreSQL (data in <EMAG_SYNC_DATA_DIR>/demo) and the
daemon against them. Within a minute both accounts' offers are in the database; the console and
status server answer on http://${SERVER_DEFAULTS.host}:${SERVER_DEFAULTS.port}/ (EMAG_SYNC_PORT). The demo sets a
random admin token (or uses EMAG_SYNC_ADMIN_TOKEN) and prints it: enter it in the page to start,
cancel and test syncs. Ctrl-C stops everything.

Options:
  --offers N      offers per account (default 3000)
  --latency MS    simulated API latency (default 50)`,
  options: { offers: { type: 'string' }, latency: { type: 'string' } },
  async run({ values }) {
    const offers = intOption(values.offers, 'offers', 3000, 1);
    const latencyMs = intOption(values.latency, 'latency', 50);
    const parts = new Disposers();
    let fatal: (err: Error) => void = () => {};
    const { daemon, log, token } = await parts.start(async () => {
      const sandbox = await startDemoSandbox({ port: 0, offers, orders: 200, latencyMs });
      parts.defer('sandbox', () => sandbox.close());
      const env = readEnv();
      // The console's controls are on in the demo: a token of its own, printed below, unless one is set.
      const token = env.EMAG_SYNC_ADMIN_TOKEN?.trim() || randomBytes(18).toString('base64url');
      const config = loadConfig({ ...demoEnvironment(env, sandbox.url), EMAG_SYNC_ADMIN_TOKEN: token });
      const log = createLogger(config.logLevel);
      log.info({ sandbox: sandbox.url }, 'demo: sandbox eMAG API started');
      const daemon = await startDaemon(config, log, { onFatal: (err) => fatal(err) });
      parts.defer('daemon', () => daemon.stop());
      return { daemon, log, token };
    });
    const url = daemon.server.url;
    log.info(`demo running: open ${url}/ (also ${url}/api/status, ${url}/health, ${url}/metrics); Ctrl-C stops everything`);
    // Printed, not logged: the token is for the person at this terminal, and only for this demo.
    console.log(`\n  Console:     ${url}/\n  Admin token: ${token}  (enter it in the page to use the controls)\n`);
    const stopped = untilStopped(log, () => parts.dispose());
    fatal = stopped.fatal;
    return stopped.done;
  },
};

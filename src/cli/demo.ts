/**
 * `emag-sync demo`: the sandbox, an embedded PostgreSQL and the daemon, all at once.
 */
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
daemon against them. Within a minute both accounts' offers are in the database; the status server
answers on http://${SERVER_DEFAULTS.host}:${SERVER_DEFAULTS.port} (EMAG_SYNC_PORT). Ctrl-C stops everything.

Options:
  --offers N      offers per account (default 3000)
  --latency MS    simulated API latency (default 50)`,
  options: { offers: { type: 'string' }, latency: { type: 'string' } },
  async run({ values }) {
    const offers = intOption(values.offers, 'offers', 3000, 1);
    const latencyMs = intOption(values.latency, 'latency', 50);
    const parts = new Disposers();
    let fatal: (err: Error) => void = () => {};
    const { daemon, log } = await parts.start(async () => {
      const sandbox = await startDemoSandbox({ port: 0, offers, orders: 200, latencyMs });
      parts.defer('sandbox', () => sandbox.close());
      const config = loadConfig(demoEnvironment(readEnv(), sandbox.url));
      const log = createLogger(config.logLevel);
      log.info({ sandbox: sandbox.url }, 'demo: sandbox eMAG API started');
      const daemon = await startDaemon(config, log, { onFatal: (err) => fatal(err) });
      parts.defer('daemon', () => daemon.stop());
      return { daemon, log };
    });
    const url = daemon.server.url;
    log.info(`demo running: open ${url}/api/status, ${url}/health or ${url}/metrics; Ctrl-C stops everything`);
    const stopped = untilStopped(log, () => parts.dispose());
    fatal = stopped.fatal;
    return stopped.done;
  },
};

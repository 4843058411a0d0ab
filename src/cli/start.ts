/**
 * `emag-sync start`: the daemon, until SIGTERM/SIGINT.
 */
import { loadConfig } from '../config.ts';
import { startDaemon } from '../daemon.ts';
import { createLogger } from '../log.ts';
import { untilStopped } from '../signals.ts';
import type { Command } from './command.ts';

/** Runs the daemon; exits 0 after a signal, 1 after a fatal error, 130 when a second signal forced it. */
export const start: Command = {
  summary: 'run the daemon: scheduled syncs and the status server',
  usage: `Usage: emag-sync start

Runs the daemon until SIGTERM/SIGINT: migrations, scheduled syncs per account and stream, and the
status server (GET /health, /api/status, /api/runs, /metrics) on EMAG_SYNC_HOST:EMAG_SYNC_PORT.
Without DATABASE_URL an embedded PostgreSQL is started under EMAG_SYNC_DATA_DIR.
A signal stops it gracefully (exit 0); a second signal a second or more later forces exit (130).`,
  options: {},
  async run() {
    const config = loadConfig();
    const log = createLogger(config.logLevel);
    let fatal: (err: Error) => void = () => {};
    const daemon = await startDaemon(config, log, { onFatal: (err) => fatal(err) });
    const stopped = untilStopped(log, daemon.stop);
    fatal = stopped.fatal;
    return stopped.done;
  },
};

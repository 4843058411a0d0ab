/**
 * `emag-sync sandbox`: the simulated eMAG API alone.
 */
import { createLogger } from '../log.ts';
import { untilStopped } from '../signals.ts';
import type { Command } from './command.ts';
import { SANDBOX_ACCOUNTS, startDemoSandbox } from './demo-env.ts';
import { intOption } from './options.ts';

/** Serves the sandbox accounts until a signal, after printing their URL and credentials. */
export const sandbox: Command = {
  summary: 'run the simulated eMAG API alone',
  usage: `Usage: emag-sync sandbox [--port N] [--offers N] [--orders N] [--latency MS]

Runs the simulated eMAG API (accounts "main" and "fbe") until Ctrl-C, and prints its base URL and
the credentials to put in EMAG_<ACCOUNT>_BASE_URL / _USERNAME / _PASSWORD.

Options:
  --port N        port to listen on (default 8002; 0 = any free port)
  --offers N      offers per account (default 3000)
  --orders N      orders per account (default 200)
  --latency MS    delay added to every answer (default 0)`,
  options: { port: { type: 'string' }, offers: { type: 'string' }, orders: { type: 'string' }, latency: { type: 'string' } },
  async run({ values }) {
    const server = await startDemoSandbox({
      port: intOption(values.port, 'port', 8002),
      offers: intOption(values.offers, 'offers', 3000),
      orders: intOption(values.orders, 'orders', 200),
      latencyMs: intOption(values.latency, 'latency', 0),
    });
    console.log(`sandbox eMAG API on ${server.url}`);
    for (const a of SANDBOX_ACCOUNTS) {
      const up = a.name.toUpperCase();
      console.log(`  EMAG_${up}_BASE_URL=${server.url} EMAG_${up}_USERNAME=${a.username} EMAG_${up}_PASSWORD=${a.password}`);
    }
    console.log('Ctrl-C stops it.');
    return untilStopped(createLogger('info'), () => server.close()).done;
  },
};

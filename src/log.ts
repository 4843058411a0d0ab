/**
 * The logger: pino JSON to stdout (journald), pretty when stdout is a TTY, secrets redacted.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** Paths that may carry secrets anywhere in a log object; pino replaces their values. */
const REDACT = [
  'password',
  '*.password',
  'username',
  '*.username',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'databaseUrl',
  '*.databaseUrl',
  'adminToken',
  '*.adminToken',
  'token',
  '*.token',
  'config.accounts[*].password',
];

/** Creates the root logger. `destination` lets tests capture output. */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { service: 'emag-sync' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (destination) return pino(opts, destination as pino.DestinationStream);
  if (process.stdout.isTTY) return pino(opts, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss' }));
  return pino(opts);
}

/**
 * SIGTERM/SIGINT handling: the first signal stops gracefully, a second one a moment later forces
 * exit (130), and a second one right after the first is taken for the same Ctrl-C.
 */
import { coerceError, scrubSecrets } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * A signal this soon after the first is the same Ctrl-C, not a second one. `npm run …` and `tsx`
 * pass the terminal's SIGINT on to their child while the terminal sends it to the whole process
 * group too, so one Ctrl-C reaches the daemon two or three times within a few milliseconds (tens,
 * on a loaded machine). A person who means to force has read the "stopping" line first, which takes
 * well over a second; 1 s leaves the relay plenty of room and still lets a deliberate second
 * Ctrl-C force at once.
 */
export const SAME_SIGNAL_MS = 1000;

/** Exit code of a forced stop: 128 + SIGINT, as shells report an interrupted program. */
export const FORCED_EXIT_CODE = 130;

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Calls `onStop` on the first SIGTERM/SIGINT; a second signal at least SAME_SIGNAL_MS later exits
 * the process at once with FORCED_EXIT_CODE. Returns a function that removes the handlers.
 */
export function onStopSignal(log: Logger, onStop: (signal: NodeJS.Signals) => void): () => void {
  let first: number | null = null;
  const handler = (signal: NodeJS.Signals) => {
    // performance.now() is monotonic: a clock step cannot turn one Ctrl-C into two.
    const now = performance.now();
    if (first === null) {
      first = now;
      log.info({ signal }, 'stopping (send the signal again to force)');
      onStop(signal);
      return;
    }
    if (now - first < SAME_SIGNAL_MS) {
      log.debug({ signal, afterMs: Math.round(now - first) }, 'the same signal again (passed on by npm or tsx): still stopping gracefully');
      return;
    }
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(FORCED_EXIT_CODE);
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
}

/** A long-running command waiting to be stopped. */
export interface Stoppable {
  /** Resolves with the exit code: 0 after a signal, 1 after a fatal error or a failed stop. */
  done: Promise<number>;
  /** Stops after a fatal error (exit 1); ignored once stopping. */
  fatal(err: Error): void;
}

/** Runs `stop` on SIGTERM/SIGINT (see onStopSignal) or when `fatal` is called. */
export function untilStopped(log: Logger, stop: () => Promise<void>): Stoppable {
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const shutDown = (code: number) => {
    stopping = true;
    stop().then(
      () => finish(code),
      (err) => {
        log.error({ err: scrubSecrets(coerceError(err).message) }, 'error while stopping');
        finish(1);
      },
    );
  };
  onStopSignal(log, () => {
    if (!stopping) shutDown(0);
  });
  return {
    done,
    fatal: (err) => {
      if (stopping) return;
      log.error({ err: err.message }, 'stopping after a fatal error');
      shutDown(1);
    },
  };
}

/**
 * Which function runs which stream, and how the scheduler and the CLI run it. Streams not built yet
 * are absent, and asking for one is a clear error.
 */
import type { Stream } from '../config.ts';
import { acknowledgeStream } from './acknowledge.ts';
import { commandsStream } from './commands.ts';
import { offersStream } from './offers.ts';
import { ordersStream } from './orders.ts';
import { referenceStream } from './reference.ts';
import { rmaStream } from './rma.ts';
import type { RunMode, StreamFn } from './run.ts';

/** How a stream is run. */
export interface StreamSpec {
  fn: StreamFn;
  /** Mode of interval/cron runs and of `sync` without --mode. */
  defaultMode: RunMode;
  /** Also run a `full` pass every night (~02:00 plus the account's offset). */
  nightlyFull: boolean;
  /** Streams to run right after a run of this one that did not fail. */
  followedBy?: Stream[];
}

/** The implemented streams, in the order `--stream all` runs them. */
export const STREAMS_SPEC: Partial<Record<Stream, StreamSpec>> = {
  offers: { fn: offersStream(), defaultMode: 'full', nightlyFull: false },
  orders: { fn: ordersStream(), defaultMode: 'incremental', nightlyFull: true, followedBy: ['acknowledge'] },
  acknowledge: { fn: acknowledgeStream(), defaultMode: 'incremental', nightlyFull: false },
  rma: { fn: rmaStream(), defaultMode: 'incremental', nightlyFull: false },
  reference: { fn: referenceStream(), defaultMode: 'full', nightlyFull: false },
  commands: { fn: commandsStream(), defaultMode: 'incremental', nightlyFull: false },
};

/** The implemented stream names. */
export function implementedStreams(): Stream[] {
  return Object.keys(STREAMS_SPEC) as Stream[];
}

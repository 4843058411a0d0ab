/**
 * Which function runs which stream. Streams not built yet are absent, and asking for one is a clear error.
 */
import type { Stream } from '../config.ts';
import { offersStream } from './offers.ts';
import type { StreamFn } from './run.ts';

/** The implemented streams. */
export const STREAM_FUNCTIONS: Partial<Record<Stream, StreamFn>> = {
  offers: offersStream(),
};

/** The implemented stream names, in run order. */
export function implementedStreams(): Stream[] {
  return Object.keys(STREAM_FUNCTIONS) as Stream[];
}

/**
 * Which function runs which stream, and how the scheduler and the CLI run it. Every stream of
 * `STREAMS` has an entry, so its users never need a fallback.
 */
import type { Stream } from '../config.ts';
import { acknowledgeStream } from './acknowledge.ts';
import { callbacksStream } from './callbacks.ts';
import { commandsStream } from './commands.ts';
import { type OfferFilters, offersStream } from './offers.ts';
import { ordersStream } from './orders.ts';
import { referenceStream } from './reference.ts';
import { rmaStream } from './rma.ts';
import type { RunMode, StreamFn } from './run.ts';

/** Checks one filter value as typed by a person; returns it as eMAG takes it, or throws a message saying what is wrong. */
export type FilterCheck = (value: string) => string | number;

/** A stream's selective mode: a scan restricted by eMAG's own read filters, which never soft-deletes. */
export interface SelectiveSpec {
  /** The filters it accepts, by eMAG's name. */
  filters: Record<string, FilterCheck>;
  /** The stream function for these (already checked) filters. */
  fn(filters: Record<string, string | number>): StreamFn;
}

/** How a stream is run. */
export interface StreamSpec {
  fn: StreamFn;
  /** Mode of interval/cron runs and of `sync` without --mode. */
  defaultMode: RunMode;
  /** Also run a `full` pass every night (~02:00 plus the account's offset). */
  nightlyFull: boolean;
  /** Streams to run right after a run of this one that did not fail. */
  followedBy?: Stream[];
  /** Present when the stream can scan a filtered subset. */
  selective?: SelectiveSpec;
}

function wholeNumber(min: number, max: number): FilterCheck {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new Error(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** eMAG's product_offer/read filters (API doc §"Reading products and offers"), checked before any request. */
const OFFER_FILTERS: Record<keyof OfferFilters, FilterCheck> = {
  id: wholeNumber(1, 4_294_967_295),
  status: (value) => {
    if (!/^[012]$/.test(value)) throw new Error('must be 0 (inactive), 1 (active) or 2 (end of life)');
    return Number(value);
  },
  part_number: (value) => {
    // eMAG matches it exactly: surrounding blanks or control characters are a typo, not a part number.
    if (value.length === 0 || value.length > 255 || value.trim() !== value || /\p{Cc}/u.test(value)) {
      throw new Error('must be the exact part number (1–255 characters, no surrounding spaces)');
    }
    return value;
  },
  part_number_key: (value) => {
    if (!/^[A-Za-z0-9]{1,20}$/.test(value)) throw new Error('must be an eMAG part number key of letters and digits (e.g. D5DD9BBBM)');
    return value;
  },
  general_stock: wholeNumber(0, 1_000_000_000),
  estimated_stock: wholeNumber(0, 1_000_000_000),
};

/** Every stream, in the order `--stream all` runs them. */
export const STREAMS_SPEC: Record<Stream, StreamSpec> = {
  offers: {
    fn: offersStream(),
    defaultMode: 'full',
    nightlyFull: false,
    selective: { filters: OFFER_FILTERS, fn: (filters) => offersStream(filters as OfferFilters) },
  },
  orders: { fn: ordersStream(), defaultMode: 'incremental', nightlyFull: true, followedBy: ['acknowledge'] },
  acknowledge: { fn: acknowledgeStream(), defaultMode: 'incremental', nightlyFull: false },
  rma: { fn: rmaStream(), defaultMode: 'incremental', nightlyFull: false },
  reference: { fn: referenceStream(), defaultMode: 'full', nightlyFull: false },
  commands: { fn: commandsStream(), defaultMode: 'incremental', nightlyFull: false },
  callbacks: { fn: callbacksStream(), defaultMode: 'incremental', nightlyFull: false },
};

/** The stream names, in the order `--stream all` runs them. */
export function implementedStreams(): Stream[] {
  return Object.keys(STREAMS_SPEC) as Stream[];
}

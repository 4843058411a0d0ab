/**
 * Reading eMAG's paged `…/read` answers, the one way every stream does it: the check that `results`
 * is a list, pages of PAGE_SIZE until a short one, the guard against paging that does not advance,
 * and several pages in flight — for long scans with the count asked alongside the first page, for
 * date windows with the count asked once the first page is full. The account's rate budget (inside
 * the client) paces every request; the pool only keeps it busy.
 */
import type { EmagClient } from './client.ts';
import { EmagError } from './errors.ts';
import { list } from './quirks.ts';
import type { RawRecord } from './raw-records.ts';

/** eMAG's page size ceiling (§1.3: larger is silently cut to 100). */
export const PAGE_SIZE = 100;

/** Pages in flight that keep a budget of `rps` requests/s busy at up to ~2 s latency. */
export function pagesInFlight(rps: number): number {
  return Math.max(2, Math.ceil(rps * 2));
}

/** An answer whose `results` is no list: invalid, never an empty page (an empty page ends a scan). */
function notAList(client: EmagClient, resource: string, page: number | undefined): EmagError {
  const which = page === undefined ? '' : ` page ${page}`;
  return new EmagError('invalid_response', `results of ${resource}/read${which} is not a list`, client.account, resource, 'read');
}

/** A full page of records already read: eMAG ignored the paging, so the read stops rather than loop. */
function notAdvancing(client: EmagClient, resource: string, page: number): EmagError {
  return new EmagError('invalid_response', `page ${page} of ${resource}/read repeated records already read: paging is not advancing`, client.account, resource, 'read');
}

/**
 * The records `resource/read` answers for `body`. A JSON list, or a PHP array sent as an object
 * (its values); anything else (absent, a scalar) is an invalid answer, never an empty page, since
 * an empty page ends a scan. `page` only names the page in the error.
 */
export async function readList(client: EmagClient, resource: string, body: object, signal: AbortSignal | undefined, page?: number): Promise<unknown[]> {
  const results = await client.read<unknown>(resource, body, signal);
  if (results === null || typeof results !== 'object') throw notAList(client, resource, page);
  return list(results, 'results', null);
}

/**
 * The records `resource/read` answers for `body`, as the bytes eMAG sent (see raw-records.ts), with
 * the same checks as `readList`: a list or a PHP array sent as an object; anything else is invalid.
 */
export async function readRecords(client: EmagClient, resource: string, body: object, signal: AbortSignal | undefined, page?: number): Promise<RawRecord[]> {
  const { results } = await client.call<RawRecord[] | null>(resource, 'read', body, { signal, records: true });
  if (!Array.isArray(results)) throw notAList(client, resource, page);
  return results;
}

/** Reads one page of `resource/read`: parsed (`readList`) or as bytes (`readRecords`). */
export type PageReader<T> = (client: EmagClient, resource: string, body: object, signal: AbortSignal | undefined, page?: number) => Promise<T[]>;

/** What `readPages` reads and where each page goes. */
export interface PagesOptions {
  client: EmagClient;
  resource: string;
  /** Filters sent with every page. */
  body: object;
  signal: AbortSignal;
  /** A record's identity (undefined when it has none), for the guard against paging that does not advance. */
  keyOf: (item: unknown) => unknown;
  /** Stores one page; `last` is true for the short page that ends the read. Runs before the next page is asked for. */
  onPage: (items: unknown[], page: number, last: boolean) => Promise<void>;
  /** Checked before each page: true stops the read early. */
  stop?: () => boolean;
}

/**
 * Reads pages 1, 2, … of `resource/read` one after another until a short page. Returns the keys of
 * every record read, and whether the read ended (false when `stop` cut it short).
 */
export async function readPages(opts: PagesOptions): Promise<{ complete: boolean; keys: Set<unknown> }> {
  const { client, resource, signal } = opts;
  const keys = new Set<unknown>();
  for (let page = 1; ; page++) {
    if (opts.stop?.()) return { complete: false, keys };
    const items = await readList(client, resource, { ...opts.body, currentPage: page, itemsPerPage: PAGE_SIZE }, signal, page);
    const last = items.length < PAGE_SIZE;
    await opts.onPage(items, page, last);
    const before = keys.size;
    for (const item of items) {
      const key = opts.keyOf(item);
      if (key !== undefined) keys.add(key);
    }
    // A full page of nothing new means eMAG ignored the paging: stop rather than loop forever.
    if (!last && keys.size === before) {
      throw notAdvancing(client, resource, page);
    }
    if (last) return { complete: true, keys };
  }
}

/**
 * Runs `work` on what `next` hands out (undefined: nothing more), `width` at a time. Stops handing
 * out at the first failure or when `signal` aborts, lets the work in flight end, then throws that
 * first failure (failures after an abort are the abort's, not the run's).
 */
export async function inPool<T>(width: number, signal: AbortSignal, next: () => T | undefined | Promise<T | undefined>, work: (item: T) => Promise<void>): Promise<void> {
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (failure === null && !signal.aborted) {
      const item = await next();
      if (item === undefined) return;
      try {
        await work(item);
      } catch (err) {
        if (!signal.aborted) failure ??= { err };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}

/** What `readPagesPooled` reads and where each page goes. */
export interface PooledPagesOptions {
  client: EmagClient;
  resource: string;
  /** Filters sent with every page (the window). */
  body: Record<string, unknown>;
  signal: AbortSignal;
  /** Pages in flight (see `pagesInFlight`). */
  width: number;
  /** A record's identity (undefined when it has none), for the guard against paging that does not advance. */
  keyOf: (item: unknown) => unknown;
  /** Stores one page; pages finish in any order. */
  onPage: (items: unknown[]) => Promise<void>;
}

/**
 * Reads every page of one window (`body`) with several in flight, handing each to `onPage` as it
 * arrives, and returns the keys of every record read. As a sequential read would, it goes on until a
 * short page: a full page always lets the next one be read. The window's count, asked once page 1
 * comes back full (a window of one page costs no count), lets the pool read ahead to the count's
 * last page; a full page there is followed by one more, which is how a window that grew is read to
 * its end. The guard against paging that does not advance checks pages in page order, whatever order
 * they arrive in, so the page it names is the one a sequential read would have named.
 */
export async function readPagesPooled(opts: PooledPagesOptions): Promise<Set<unknown>> {
  const { client, resource, body, signal } = opts;
  const keys = new Set<unknown>();
  /** The highest page that may be asked for (raised by the count and by full pages), and the first short page. */
  let last = 1;
  let end = Number.POSITIVE_INFINITY;
  let nextPage = 1;
  /** Pages asked for whose answer has not been looked at yet: each may raise `last`. */
  let unanswered = 0;
  let counted: Promise<void> | null = null;
  let counting = false;
  /** Set on the first failure (a page, the count, the guard) so that no one waits for pages any more. */
  let failed = false;
  /** The keys of answered pages the guard has not reached yet (it goes in page order), and whether each page was full. */
  const answered = new Map<number, { keys: unknown[]; full: boolean }>();
  let checked = 0;
  let pastShort = false;
  // Workers with nothing to ask for wait here until an answer or the count changes what is left.
  let wake = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const bump = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };

  const next = async (): Promise<number | undefined> => {
    for (;;) {
      if (failed || signal.aborted || nextPage > end) return undefined;
      if (nextPage <= last) {
        unanswered++;
        return nextPage++;
      }
      // Nothing left to raise `last`: the window is read.
      if (unanswered === 0 && !counting) return undefined;
      await changed;
    }
  };

  /** Moves the guard over every answered page it can reach; throws on a full page of nothing new. */
  const guard = () => {
    while (answered.has(checked + 1)) {
      const page = ++checked;
      const { keys: pageKeys, full } = answered.get(page) as { keys: unknown[]; full: boolean };
      answered.delete(page);
      const before = keys.size;
      for (const key of pageKeys) if (key !== undefined) keys.add(key);
      // Pages past the first short one are read only because they were in flight; a sequential read never asked for them.
      if (full && !pastShort && keys.size === before) {
        throw notAdvancing(client, resource, page);
      }
      if (!full) pastShort = true;
    }
  };

  /** Asks the window's count, once: it tells the pool how far it may read ahead. */
  const askCount = () => {
    counting = true;
    counted = client
      .count(resource, body, signal)
      .then(
        (c) => {
          // From the items, not noOfPages: that one is in whatever page size the count was asked with.
          last = Math.max(last, Math.ceil(c.items / PAGE_SIZE));
        },
        (err) => {
          failed = true;
          throw err;
        },
      )
      .finally(() => {
        counting = false;
        bump();
      });
    // A failed count is thrown once the pool has ended; it must not go unhandled meanwhile.
    counted.catch(() => {});
  };

  const read = async (page: number) => {
    try {
      let items: unknown[];
      try {
        items = await readList(client, resource, { ...body, currentPage: page, itemsPerPage: PAGE_SIZE }, signal, page);
        // Only the keys wait for the guard: a page stuck in retries must not hold the pages after it in memory.
        answered.set(page, { keys: items.map(opts.keyOf), full: items.length >= PAGE_SIZE });
        guard();
        if (items.length < PAGE_SIZE) end = Math.min(end, page);
        else last = Math.max(last, page + 1);
        if (page === 1 && items.length >= PAGE_SIZE) askCount();
      } finally {
        unanswered--;
        bump();
      }
      await opts.onPage(items);
    } catch (err) {
      failed = true;
      throw err;
    }
  };

  try {
    await inPool(opts.width, signal, next, read);
  } finally {
    await (counted as Promise<void> | null)?.catch(() => {});
  }
  signal.throwIfAborted();
  // A failed count ends the read like a failed page: the pool stopped handing out pages for it.
  if (counted !== null) await counted;
  return keys;
}

/** What `scanPages` reads and where each page goes. */
export interface ScanOptions<T> {
  client: EmagClient;
  /** How a page is read: `readRecords` hands the stream each record's bytes, `readList` parses them. */
  reader: PageReader<T>;
  resource: string;
  filters: object;
  signal: AbortSignal;
  /** The first page to read (a resumed scan starts after its committed prefix). */
  firstPage: number;
  /** The last page it may read (EMAG_<ACCOUNT>_MAX_PAGES); Infinity when uncapped. */
  lastAllowed: number;
  /** Pages in flight (see `pagesInFlight`). */
  width: number;
  /** Told eMAG's count when it arrives. */
  onCount?: (count: { items: number; pages: number }) => void;
  /** Stores one page; pages finish in any order. */
  onPage: (items: T[], page: number) => Promise<void>;
}

/**
 * Reads a paged resource with `width` pages in flight. The count goes out with the first page
 * rather than before it (at 1 s latency, waiting for it would cost a second of budget), and sets
 * how far the pool reads; a full page at the count's end is followed only when the count says
 * more exists (the catalog grew). Returns whether the end was reached (`exhausted`) or the cap
 * stopped it (`capped`); throws the first failure once every page in flight has ended.
 */
export async function scanPages<T>(opts: ScanOptions<T>): Promise<{ exhausted: boolean; capped: boolean }> {
  const { client, resource, filters, signal, firstPage, lastAllowed } = opts;
  let total: { items: number; pages: number } | null = null;
  let countFailure: { err: unknown } | null = null;
  let lastPage = Math.min(firstPage, lastAllowed);
  const counted = client.count(resource, filters, signal).then(
    (c) => {
      total = c;
      lastPage = Math.max(lastPage, Math.min(Math.max(c.pages, firstPage), lastAllowed));
      opts.onCount?.(c);
    },
    (err) => {
      if (!signal.aborted) countFailure = { err };
    },
  );
  let nextPage = firstPage;
  /** A page shorter than asked was seen, or the count's last page was full and the count says that is all. */
  let exhausted = false;
  let capped = false;

  const next = async (): Promise<number | undefined> => {
    // The signal is checked here too: a count cut short by an abort leaves no total to wait for.
    while (!exhausted && countFailure === null && !signal.aborted) {
      if (nextPage <= lastPage) return nextPage++;
      if (total !== null) return undefined;
      await counted;
    }
    return undefined;
  };
  const read = async (page: number) => {
    const items = await opts.reader(client, resource, { ...filters, currentPage: page, itemsPerPage: PAGE_SIZE }, signal, page);
    if (items.length < PAGE_SIZE) exhausted = true;
    else if (page === lastPage) {
      await counted;
      const t = total as { items: number } | null;
      if (t !== null && page === lastPage && page * PAGE_SIZE >= t.items) exhausted = true;
      // A full last page beyond what the count announced: the catalog grew, read on.
      else if (page === lastPage && lastPage < lastAllowed) lastPage++;
      else if (page === lastPage) capped = true;
    }
    await opts.onPage(items, page);
  };
  try {
    await inPool(opts.width, signal, next, read);
  } finally {
    await counted;
  }
  if (countFailure !== null) throw (countFailure as { err: unknown }).err;
  return { exhausted, capped };
}

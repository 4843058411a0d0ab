/**
 * The rma stream. eMAG's only date filter on returns is their insertion `date`, which never moves,
 * so a date cursor finds new returns but never a later status change. A run therefore has two parts:
 *
 * 1. New returns: `rma/read` by `date_start`/`date_end` windows (≤ 30 days each) from the cursor
 *    minus a lookback to now, pages of 100; the cursor advances with each window's last page.
 * 2. Open returns: every return the mirror holds as not final (4 refused, 5 canceled, 7 finalized
 *    are final) and part 1 did not just read is read again, until it is final. Callbacks get lost,
 *    so this polling is the only reliable way to see transitions. The reads are planned to cost as
 *    few requests as possible (see `planReread`), since the 3 req/s budget is shared with offers.
 */
import { getCheckpoint, setCheckpoint } from '../db/checkpoints.ts';
import type { Tx } from '../db/connect.ts';
import { type OpenRma, openRmas, rmaDates, upsertRmas } from '../db/rmas.ts';
import { splitWindows, toEmagDate } from '../emag/dates.ts';
import { inPool, PAGE_SIZE, pagesInFlight, readList, readPages } from '../emag/pages.ts';
import { parseRma } from '../emag/rma-record.ts';
import type { StreamContext, StreamFn, StreamOutcome } from './run.ts';

/** The widest date window sent to eMAG (it rejects windows over one month; 30 days fits every month). */
export const MAX_WINDOW_DAYS = 30;
const DAY_MS = 86_400_000;

/**
 * One way of re-reading open returns: a date window paged through (`from`/`to` are the epoch ms to
 * send as date_start/date_end), or one `emag_id` read each.
 */
export type RereadStep = { kind: 'window'; from: number; to: number; rmas: number[]; estimatedPages: number } | { kind: 'ids'; rmas: number[] };

/**
 * Plans the re-read of open returns at the fewest requests. A window over a run of open returns
 * (sorted by date) costs ⌊n/100⌋ + 1 pages, n being the returns the mirror holds in it (a full last
 * page needs one more, empty, page to end the window); reading by `emag_id` costs one request per
 * return. A small dynamic programme picks the cheapest partition; ties go to `emag_id` reads, whose
 * answers are smaller. `dates` are the mirror's return dates (epoch ms), ascending.
 */
export function planReread(open: OpenRma[], dates: number[], maxSpanMs = MAX_WINDOW_DAYS * DAY_MS): RereadStep[] {
  const undated = open.filter((o) => o.date === null).map((o) => o.emag_id);
  const dated = open.filter((o): o is { emag_id: number; date: number } => o.date !== null).sort((a, b) => a.date - b.date);
  // eMAG documents date_end as "placed before": end a second after the last return so it is inside either way.
  const endOf = (last: number) => last + 1000;
  const pages = (from: number, last: number) => Math.floor((upperBound(dates, last) - lowerBound(dates, from)) / PAGE_SIZE) + 1;

  // best[j]: fewest requests for the first j open returns; start[j]: where its last window begins (-1: an id read).
  const k = dated.length;
  const best = new Array<number>(k + 1).fill(0);
  const start = new Array<number>(k + 1).fill(-1);
  for (let j = 1; j <= k; j++) {
    best[j] = best[j - 1] + 1;
    start[j] = -1;
    const last = dated[j - 1].date;
    for (let i = j - 1; i >= 1 && endOf(last) - dated[i - 1].date <= maxSpanMs; i--) {
      const cost = best[i - 1] + pages(dated[i - 1].date, last);
      if (cost < best[j]) {
        best[j] = cost;
        start[j] = i;
      }
    }
  }
  const windows: RereadStep[] = [];
  const ids: number[] = [...undated];
  for (let j = k; j > 0; ) {
    const i = start[j];
    if (i === -1) {
      ids.push(dated[j - 1].emag_id);
      j--;
    } else {
      const from = dated[i - 1].date;
      const last = dated[j - 1].date;
      windows.push({ kind: 'window', from, to: endOf(last), rmas: dated.slice(i - 1, j).map((o) => o.emag_id), estimatedPages: pages(from, last) });
      j = i - 1;
    }
  }
  windows.reverse();
  return ids.length > 0 ? [...windows, { kind: 'ids', rmas: ids.sort((x, y) => x - y) }] : windows;
}

/** The first index whose value is ≥ x. */
function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose value is > x. */
function upperBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rma stream's checkpoint: the end of the last date window committed. */
export interface RmaCursor {
  until: string;
}

/** The cursor's instant, or null before the first run (or when the stored value is unusable). */
function cursorOf(value: Partial<RmaCursor> | null): Date | null {
  const until = typeof value?.until === 'string' ? new Date(value.until) : null;
  return until && !Number.isNaN(until.getTime()) ? until : null;
}

/** Runs the rma stream: new returns by date window, then every open return until it is final. */
export function rmaStream(): StreamFn {
  return async (ctx: StreamContext): Promise<StreamOutcome> => {
    const { sql, client, account, run, signal, log, config } = ctx;
    const counters = run.counters;
    // eMAG dates have whole seconds; a window end on a whole second is exactly what date_end covers.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const cursor = cursorOf(await getCheckpoint<RmaCursor>(sql, account.name, 'rma'));
    const from = cursor ? new Date(cursor.getTime() - config.ordersLookbackMinutes * 60_000) : config.ordersStartDate;
    const windows = splitWindows(from, now, MAX_WINDOW_DAYS);
    const pageCap = account.maxPages > 0 ? account.maxPages : Number.POSITIVE_INFINITY;
    const seen = new Set<number>();
    let until = cursor;
    // A lower bound: one page per window, one more for each full page.
    counters.pages_total = windows.length;
    await run.progress({ until: until?.toISOString() ?? null });

    // The API defaults to type 3: an FBE account must ask for its type 2 returns.
    const type = account.orderType;

    /** Stores one page of returns (plus `also`, e.g. the cursor move) in one transaction, and counts it. */
    const store = async (items: unknown[], also?: (tx: Tx) => Promise<void>) => {
      const { rows, counts } = await run.store(items, parseRma, async (tx, rmas) => {
        const c = await upsertRmas(tx, account.name, rmas);
        if (also) await also(tx);
        return c;
      });
      for (const r of rows) seen.add(r.emag_id);
      counters.pages_done++;
      run.count(items.length, counts);
    };

    /**
     * Pages through one date window until a short page; `onEnd` runs in the last page's transaction.
     * `grow` raises pages_total by one for each full page. Returns false when stopped early (cancelled or capped).
     */
    const readWindow = async (range: { date_start: string; date_end: string }, grow: boolean, onEnd?: (tx: Tx) => Promise<void>): Promise<boolean> => {
      const { complete } = await readPages({
        client,
        resource: 'rma',
        body: { type, ...range },
        signal,
        keyOf: (item) => (item as { emag_id?: unknown })?.emag_id,
        stop: () => signal.aborted || counters.pages_done >= pageCap,
        onPage: async (items, _page, last) => {
          await store(items, last ? onEnd : undefined);
          // A full page means one more page; a planned re-read window already counted it.
          if (!last) counters.pages_total = Math.max((counters.pages_total ?? 0) + (grow ? 1 : 0), counters.pages_done + 1);
          await run.progress({ until: until?.toISOString() ?? null });
        },
      });
      return complete;
    };

    // Part 1: new returns. The cursor moves in the transaction of each window's last page.
    for (const w of windows) {
      const range = { date_start: toEmagDate(w.from), date_end: toEmagDate(w.to) };
      const done = await readWindow(range, true, (tx) => setCheckpoint(tx, account.name, 'rma', { until: w.to.toISOString() } satisfies RmaCursor));
      if (!done) return stopped(signal, counters.pages_done, log, account.maxPages);
      until = w.to;
    }
    await run.progress({ until: until?.toISOString() ?? null });

    // Part 2: open returns the windows did not just read, re-read until final.
    const open = (await openRmas(sql, account.name)).filter((o) => !seen.has(o.emag_id));
    if (open.length === 0) return { note: `${windows.length} window(s), no open returns` };
    // openRmas sorts by date (undated first): the dated range is from the first dated to the last.
    const firstDated = open.find((o) => o.date !== null)?.date ?? null;
    const lastDated = open[open.length - 1].date;
    const dates = firstDated !== null && lastDated !== null ? await rmaDates(sql, account.name, firstDated, lastDated) : [];
    const plan = planReread(open, dates);
    const planned = plan.reduce((n, s) => n + (s.kind === 'window' ? s.estimatedPages : s.rmas.length), 0);
    counters.pages_total = counters.pages_done + planned;
    await run.progress();
    log.debug({ open: open.length, windows: plan.filter((s) => s.kind === 'window').length, requests: planned }, 're-reading open returns');

    const missing: number[] = [];
    for (const step of plan) {
      if (step.kind === 'window') {
        const done = await readWindow({ date_start: toEmagDate(new Date(step.from)), date_end: toEmagDate(new Date(step.to)) }, false);
        if (!done) return stopped(signal, counters.pages_done, log, account.maxPages);
        continue;
      }
      // One emag_id per request (eMAG documents no list filter); several in flight, the budget paces them.
      let next = 0;
      const nextId = () => (next < step.rmas.length && counters.pages_done < pageCap ? step.rmas[next++] : undefined);
      await inPool(pagesInFlight(account.otherRps), signal, nextId, async (emagId) => {
        await store(await readList(client, 'rma', { type, emag_id: emagId, currentPage: 1, itemsPerPage: PAGE_SIZE }, signal));
        if (!seen.has(emagId)) missing.push(emagId);
        await run.progress();
      });
      if (signal.aborted || next < step.rmas.length) return stopped(signal, counters.pages_done, log, account.maxPages);
    }
    if (missing.length > 0) {
      // Kept as they are (never deleted on an empty answer) and asked for again next run.
      log.warn({ count: missing.length, sample: missing.slice(0, 10) }, 'open returns that rma/read by emag_id did not return');
    }
    return { note: `${windows.length} window(s), ${open.length} open return(s) re-read in ${planned} planned request(s)` };
  };
}

/** The outcome of a run that stopped early: cancelled, or capped by EMAG_<ACCOUNT>_MAX_PAGES. */
function stopped(signal: AbortSignal, pages: number, log: StreamContext['log'], maxPages: number): StreamOutcome {
  if (signal.aborted) return { note: `cancelled after ${pages} pages` };
  log.warn({ maxPages }, 'rma run stopped at EMAG_<ACCOUNT>_MAX_PAGES; the cursor covers only the windows completed');
  return { status: 'partial', note: 'capped by max pages' };
}

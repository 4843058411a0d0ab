/**
 * The SQL that owns `emag_callback_queue`: the callback routes enqueue (coalescing repeats of one
 * record, refusing rows beyond the bound), the drain claims with FOR UPDATE SKIP LOCKED and settles.
 */
import type { Db, Sql } from './connect.ts';

/** The callback contexts eMAG calls. */
export const CALLBACK_EVENTS = ['order', 'cancellation', 'return', 'awb'] as const;
export type CallbackEvent = (typeof CALLBACK_EVENTS)[number];

/** What a callback asks the drain to read. */
export interface CallbackWork {
  account: string;
  event: CallbackEvent;
  /** Order id, return emag_id, or (awb event without an order id) the AWB's emag_id. */
  targetId: number;
  /** The AWB's emag_id on an awb event, when eMAG sent one. */
  awbId?: number | null;
}

/** A queued row, as the drain claims it. */
export interface QueuedCallback {
  id: number;
  account: string;
  event: CallbackEvent;
  target_id: number;
  awb_id: number | null;
  hits: number;
  seq: number;
  attempts: number;
  received_at: Date;
}

/** How an enqueue went: a new row, folded into a waiting one, or refused because the queue is full. */
export type EnqueueResult = 'queued' | 'coalesced' | 'overflow';

/**
 * Queues callbacks in one statement (the callback routes batch what arrives together). A row for the
 * same account, event and record absorbs a callback (`coalesced`); new rows are only added while the
 * account has fewer than `max` (`overflow` otherwise). Returns one result per callback, in order;
 * repeats within the batch coalesce into the first.
 */
export async function enqueueCallbacks(db: Db, works: CallbackWork[], max: number): Promise<EnqueueResult[]> {
  if (works.length === 0) return [];
  const keyOf = (w: CallbackWork) => `${w.account}\u0000${w.event}\u0000${w.targetId}`;
  const firsts = new Map<string, { ord: number; account: string; event: string; target_id: number; awb_id: number | null; hits: number }>();
  for (const w of works) {
    const k = keyOf(w);
    const seen = firsts.get(k);
    if (seen) {
      seen.hits++;
      seen.awb_id ??= w.awbId ?? null;
    } else firsts.set(k, { ord: firsts.size, account: w.account, event: w.event, target_id: w.targetId, awb_id: w.awbId ?? null, hits: 1 });
  }
  const rows = await db<{ account: string; event: string; target_id: string; inserted: boolean }[]>`
    with input as (
      select * from jsonb_to_recordset(${db.json([...firsts.values()] as never)}::jsonb)
        as x(ord integer, account text, event text, target_id bigint, awb_id bigint, hits integer)
    ), room as (
      select account, count(*) as used from emag_callback_queue
      where account in (select distinct account from input) group by account
    ), ranked as (
      select i.*, q.id is not null as present,
        row_number() over (partition by i.account, q.id is null order by i.ord) as rn
      from input i left join emag_callback_queue q
        on q.account = i.account and q.event = i.event and q.target_id = i.target_id
    )
    insert into emag_callback_queue as q (account, event, target_id, awb_id, hits)
    select r.account, r.event, r.target_id, r.awb_id, r.hits from ranked r left join room on room.account = r.account
    where r.present or coalesce(room.used, 0) + r.rn <= ${max}
    order by r.ord
    on conflict (account, event, target_id) do update set
      hits = q.hits + excluded.hits, seq = q.seq + 1, last_received_at = now(),
      awb_id = coalesce(excluded.awb_id, q.awb_id)
    returning q.account, q.event, q.target_id, (xmax = 0) as inserted`;
  const written = new Map(rows.map((r) => [`${r.account}\u0000${r.event}\u0000${Number(r.target_id)}`, r.inserted]));
  const answered = new Set<string>();
  return works.map((w) => {
    const k = keyOf(w);
    const inserted = written.get(k);
    if (inserted === undefined) return 'overflow';
    const first = !answered.has(k);
    answered.add(k);
    return first && inserted ? 'queued' : 'coalesced';
  });
}

/** Queues one callback (see `enqueueCallbacks`). */
export async function enqueueCallback(db: Db, w: CallbackWork, max: number): Promise<EnqueueResult> {
  const [result] = await enqueueCallbacks(db, [w], max);
  return result;
}

/** A claim older than this is a dead drain's (a row takes seconds to read): it is claimed again. */
const STALE_CLAIM = '5 minutes';

/**
 * Claims up to `limit` rows of an account that are due, oldest first. Rows claimed before
 * `staleBefore` (this process's start: a crash) or longer ago than STALE_CLAIM (another instance
 * that owned the account and died) are claimed again.
 */
export async function claimCallbacks(sql: Sql, account: string, claimant: string, limit: number, staleBefore: Date): Promise<QueuedCallback[]> {
  const rows = await sql<QueuedCallback[]>`
    update emag_callback_queue q set claimed_by = ${claimant}, claimed_at = now(), attempts = attempts + 1
    where q.id in (
      select id from emag_callback_queue
      where account = ${account} and (not_before is null or not_before <= now())
        and (claimed_by is null or claimed_at < ${staleBefore} or claimed_at < now() - ${STALE_CLAIM}::interval)
      order by id
      for update skip locked
      limit ${limit})
    returning q.id, q.account, q.event, q.target_id, q.awb_id, q.hits, q.seq, q.attempts, q.received_at`;
  return rows
    .map((r) => ({ ...r, id: Number(r.id), target_id: Number(r.target_id), awb_id: r.awb_id === null ? null : Number(r.awb_id) }))
    .sort((a, b) => a.id - b.id);
}

/**
 * Ends a claimed row whose read is done. When another callback came for the record meanwhile (its
 * `seq` moved), the row stays queued for one more read instead. Returns true when the row is gone.
 */
export async function completeCallback(db: Db, row: Pick<QueuedCallback, 'id' | 'seq'>): Promise<boolean> {
  const deleted = await db`delete from emag_callback_queue where id = ${row.id} and seq = ${row.seq}`;
  if (deleted.count > 0) return true;
  await db`update emag_callback_queue set claimed_by = null, claimed_at = null, attempts = 0, error = null, not_before = null where id = ${row.id}`;
  return false;
}

/**
 * Puts a claimed row back after a failed read, with a backoff (5 s doubling, at most 5 min); after
 * `maxAttempts` (null: never) the row is dropped — the scheduled poll reads the record anyway. Returns
 * true when dropped.
 */
export async function releaseCallback(db: Db, id: number, error: string, maxAttempts: number | null): Promise<boolean> {
  if (maxAttempts !== null) {
    const dropped = await db`delete from emag_callback_queue where id = ${id} and attempts >= ${maxAttempts}`;
    if (dropped.count > 0) return true;
  }
  await db`
    update emag_callback_queue set claimed_by = null, claimed_at = null, error = ${error.slice(0, 500)},
      not_before = now() + make_interval(secs => least(300, 5 * power(2, greatest(attempts, 1) - 1)))
    where id = ${id}`;
  return false;
}

/** Queued rows per account (for metrics and status). */
export async function callbackQueueDepths(db: Db): Promise<Map<string, number>> {
  const rows = await db<{ account: string; n: string }[]>`select account, count(*) as n from emag_callback_queue group by account`;
  return new Map(rows.map((r) => [r.account, Number(r.n)]));
}

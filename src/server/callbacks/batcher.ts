/**
 * Group commit for the callback routes: callbacks arriving together are written to the queue in one
 * statement, so a burst costs a few round trips to the database instead of one each. While one write
 * is in flight the next callbacks gather, and go in the following one.
 */
import { type CallbackWork, type EnqueueResult, enqueueCallbacks } from '../../db/callbacks.ts';
import type { Db } from '../../db/connect.ts';

/** Callbacks written per statement at most. */
const MAX_BATCH = 500;

interface Pending {
  work: CallbackWork;
  resolve: (r: EnqueueResult) => void;
  reject: (e: unknown) => void;
}

/** Queues callbacks in batches. */
export class CallbackBatcher {
  readonly #db: Db;
  readonly #max: number;
  #pending: Pending[] = [];
  #writing = false;

  /** Writes through the database client given, bounding each account's queue at `max` rows. */
  constructor(db: Db, max: number) {
    this.#db = db;
    this.#max = max;
  }

  /** Queues one callback with the others that arrive meanwhile; resolves with its own result. */
  enqueue(work: CallbackWork): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ work, resolve, reject });
      if (!this.#writing) {
        this.#writing = true;
        // Let the callbacks of this tick of the event loop join the first batch.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        const results = await enqueueCallbacks(this.#db, batch.map((p) => p.work), this.#max);
        for (const [i, p] of batch.entries()) p.resolve(results[i]);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.#writing = false;
  }
}

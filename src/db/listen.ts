/**
 * A LISTEN that can be renewed. postgres.js re-subscribes its listeners when their connection
 * closes, but only once: when the database is still down at that moment the subscription is dropped
 * for good. `renew` subscribes again, once the database is back (the ownership loop knows when).
 */
import type { Sql } from './connect.ts';

/** One channel's subscription. */
export class Listen {
  #unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly channel: string,
    private readonly fn: (payload: string) => void,
  ) {}

  /** Subscribes (again): drops the old subscription, if any, so notifications are not delivered twice. */
  async renew(): Promise<void> {
    await this.stop();
    const { unlisten } = await this.sql.listen(this.channel, this.fn);
    this.#unlisten = unlisten;
  }

  /** Unsubscribes; never throws (the connection may be gone). */
  async stop(): Promise<void> {
    const unlisten = this.#unlisten;
    this.#unlisten = null;
    await unlisten?.().catch(() => {});
  }
}

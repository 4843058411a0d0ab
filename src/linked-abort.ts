/**
 * An AbortController of one's own that aborts, with the same reason, when an outer signal does —
 * relayed by a single listener on the outer one. Work that puts many listeners on a signal (each
 * request in flight, each waiter for a rate budget) listens to its own, so the listeners on a signal
 * shared by many (one `sync all` signal for every account) do not grow with what runs under it.
 */
import { setMaxListeners } from 'node:events';

/** A controller linked to an outer signal, and how to unlink it once the work is done. */
export interface LinkedAbort {
  controller: AbortController;
  signal: AbortSignal;
  /** Removes the relay from the outer signal (the controller stays as it is). */
  unlink(): void;
}

/** A controller aborted when `outer` is (at once if it already is); its signal allows `maxListeners` listeners. */
export function linkedAbort(outer: AbortSignal | undefined, maxListeners: number): LinkedAbort {
  const controller = new AbortController();
  const relay = () => controller.abort(outer?.reason);
  if (outer?.aborted) relay();
  else outer?.addEventListener('abort', relay, { once: true });
  setMaxListeners(maxListeners, controller.signal);
  return { controller, signal: controller.signal, unlink: () => outer?.removeEventListener('abort', relay) };
}

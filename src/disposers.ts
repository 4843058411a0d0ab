/**
 * A stack of things to undo, for a start sequence: each step that succeeded pushes how to undo it,
 * and stopping (or a later step failing) undoes them in reverse order. Node 20 has no
 * AsyncDisposableStack, and this is all the daemon needs of one.
 */

/** How to undo one started part. */
export type Disposer = () => void | Promise<void>;

/** Undo steps, run last-in first-out. */
export class Disposers {
  readonly #stack: Array<{ name: string; dispose: Disposer }> = [];
  #disposed = false;

  /** Pushes how to undo the part just started; `name` names it when undoing it fails. */
  defer(name: string, dispose: Disposer): void {
    if (this.#disposed) throw new Error(`cannot defer "${name}": already disposed`);
    this.#stack.push({ name, dispose });
  }

  /**
   * Undoes everything in reverse order, once. Every step runs even when an earlier one fails;
   * `onError` hears each failure, and the first one is rethrown at the end.
   */
  async dispose(onError: (name: string, err: unknown) => void = () => {}): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    let first: { err: unknown } | null = null;
    for (let step = this.#stack.pop(); step; step = this.#stack.pop()) {
      try {
        await step.dispose();
      } catch (err) {
        onError(step.name, err);
        first ??= { err };
      }
    }
    if (first) throw first.err;
  }

  /**
   * Runs `start` (which pushes onto this stack as it goes); if it throws, undoes what it had started
   * and rethrows, so a partial start leaves nothing behind.
   */
  async start<T>(start: () => Promise<T>, onError?: (name: string, err: unknown) => void): Promise<T> {
    try {
      return await start();
    } catch (err) {
      await this.dispose(onError).catch(() => {
        // Already reported through onError; the start failure is the error that matters.
      });
      throw err;
    }
  }
}

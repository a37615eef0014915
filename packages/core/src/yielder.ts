// ---- Cooperative cancellation: long loops give the event loop a turn and check an AbortSignal ----

import { throwIfAborted } from "./errors.ts";

/** Options of {@link createYielder}. */
export interface YielderOptions {
  /** Yield to the event loop at most once per this many milliseconds. Default 50. */
  readonly everyMs?: number;
  /**
   * Whether the first call yields whatever the time (default true: an abort scheduled just before
   * the loop lands at once). false for a loop nested in one that already yields: its first turn
   * then comes `everyMs` after its creation, so short inner loops cost nothing.
   */
  readonly yieldOnFirstCall?: boolean;
}

/**
 * Call once per iteration of a long loop: gives the event loop a turn (a macrotask, so timers,
 * signal handlers and UI events run) when `everyMs` have passed since the last turn, then throws
 * PruneError ABORTED naming `where` if the signal has fired.
 */
export type Yielder = (where: string) => Promise<void>;

/**
 * A {@link Yielder} for `signal`. Awaiting promises that are already resolved never lets a timer,
 * a Ctrl-C handler or a click run; this waits for `setTimeout(0)` (web-standard: Node, Deno,
 * browsers) when at least `everyMs` passed since the last wait (the first call waits too, unless
 * `yieldOnFirstCall: false`). Without a signal it does nothing (no wait, no check).
 *
 * @throws RangeError for a negative or non-finite `everyMs`.
 * @example
 * const tick = createYielder(signal, { everyMs: 50 });
 * for (let k = 0; k < windows; k++) {
 *   await tick(`perplexity (window ${k})`); // rejects with PruneError ABORTED once aborted
 *   work(k);
 * }
 */
export function createYielder(signal: AbortSignal | undefined, options: YielderOptions = {}): Yielder {
  const everyMs = options.everyMs ?? 50;
  if (typeof everyMs !== "number" || !Number.isFinite(everyMs) || everyMs < 0) {
    throw new RangeError(`createYielder: options.everyMs must be a finite number ≥ 0, got ${everyMs}`);
  }
  if (signal === undefined) return async () => {};
  let last = options.yieldOnFirstCall === false ? performance.now() : Number.NEGATIVE_INFINITY;
  return async (where: string): Promise<void> => {
    throwIfAborted(signal, where);
    if (performance.now() - last >= everyMs) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      last = performance.now();
      throwIfAborted(signal, where);
    }
  };
}

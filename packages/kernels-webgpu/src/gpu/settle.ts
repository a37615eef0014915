// Waiting for GPU promises without burning a core.
//
// Dawn's Node binding re-arms setImmediate(ProcessEvents) while any GPU promise is pending
// (crbug dawn/1127), so a bare `await` on mapAsync spins the JS thread at 100 % — on a CPU Vulkan
// device (SwiftShader) that core is taken from the shader threads (perf-anchors §1a measured 2–3×).
// settle() instead sleeps briefly with Atomics.wait, then yields one macrotask so Dawn can process
// its events, and checks a flag. Where Atomics.wait is not allowed (a browser's main thread) or
// SharedArrayBuffer is absent, it falls back to a plain await.

/** How {@link settle} waits: "sleep" (Atomics.wait + one macrotask per turn) or "await" (plain await). */
export type WaitMode = "sleep" | "await";

/** A reusable waiter: `settle(promise)` resolves like the promise does. */
export interface Settler {
  readonly mode: WaitMode;
  settle<T>(promise: Promise<T>): Promise<T>;
}

function canSleep(): Int32Array | undefined {
  if (typeof SharedArrayBuffer !== "function" || typeof Atomics?.wait !== "function") return undefined;
  try {
    const cell = new Int32Array(new SharedArrayBuffer(4)); // (1,)
    Atomics.wait(cell, 0, 0, 0);
    return cell;
  } catch {
    return undefined;
  }
}

// One macrotask. MessageChannel has no minimum delay (setTimeout(0) is clamped to 1 ms or more) and
// is web-standard; fall back to setTimeout where it is missing.
const macrotask = (): Promise<void> => {
  if (typeof MessageChannel !== "function") return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = (): void => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
};

/**
 * Create a waiter. `sleepMs` is the length of each Atomics.wait nap (default 2 ms): longer naps
 * free more CPU, shorter ones add less latency per GPU round trip.
 *
 * @throws RangeError when sleepMs is not a finite number ≥ 0.
 * @example
 * const { settle } = createSettler();
 * await settle(buffer.mapAsync(GPUMapMode.READ));
 */
export function createSettler(options: { mode?: WaitMode; sleepMs?: number } = {}): Settler {
  const sleepMs = options.sleepMs ?? 2;
  if (!Number.isFinite(sleepMs) || sleepMs < 0) {
    throw new RangeError(`createSettler: sleepMs must be a finite number ≥ 0, got ${sleepMs}`);
  }
  const cell = options.mode === "await" ? undefined : canSleep();
  const mode: WaitMode = cell === undefined ? "await" : "sleep";
  return {
    mode,
    async settle<T>(promise: Promise<T>): Promise<T> {
      if (cell === undefined) return promise;
      let done = false;
      promise.then(
        () => {
          done = true;
        },
        () => {
          done = true;
        },
      );
      await macrotask();
      // Naps grow from 50 µs to sleepMs: a short GPU job (decode) is picked up almost at once, a
      // long one costs only one wake-up per sleepMs.
      let nap = Math.min(0.05, sleepMs);
      while (!done) {
        Atomics.wait(cell, 0, 0, nap);
        nap = Math.min(sleepMs, nap * 2);
        await macrotask();
      }
      return promise;
    },
  };
}

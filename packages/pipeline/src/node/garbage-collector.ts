// ---- Node: a full garbage collection for PruneOptions.collectGarbage ----

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Node's `gc()` as a `PruneOptions.collectGarbage` hook: `globalThis.gc` when the process runs with
 * `--expose-gc`, else V8's flag `--expose-gc` is set for the process (`v8.setFlagsFromString`) and the
 * `gc` of a fresh context taken. The flag is process-wide (it only exposes the function; V8's own
 * collections are unchanged) and is set only when this is called: the library never calls it itself
 * (the CLI's prune and `npm run bench:scale` do). Each call is a full, blocking collection (tens of
 * milliseconds with the pruner's small JavaScript heap) that frees the dead large ArrayBuffers V8
 * would otherwise keep resident until much later.
 *
 * @example
 * await pruneToCheckpoint(dir, { ...options, collectGarbage: nodeGarbageCollector() });
 */
export function nodeGarbageCollector(): () => void {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === "function") return () => (exposed as () => void)();
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as unknown;
  if (typeof gc !== "function") {
    throw new TypeError(
      `nodeGarbageCollector: V8 did not expose gc after --expose-gc. Expected a function, got ${typeof gc}.`,
    );
  }
  return () => (gc as () => void)();
}

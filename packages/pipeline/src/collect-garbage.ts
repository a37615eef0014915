// ---- Running the host's garbage collection hook (PruneOptions.collectGarbage) where it can free ----

/**
 * Run `hook` (the run's `collectGarbage`) after a turn of the event loop (a zero-delay timer): the
 * buffer pools hold their buffers through WeakRefs, and a WeakRef's target made or read in the
 * current job stays alive until that job ends (ECMAScript's KeepDuringJob), so a collection in the
 * same job as a pool's `give` could not free that buffer (a sweep's float64 working copy, 344 MiB at
 * 4096 × 11008). No hook: returns at once, no turn taken.
 *
 * @example
 * await collectGarbageNow(options.collectGarbage);
 */
export async function collectGarbageNow(hook: (() => void) | undefined): Promise<void> {
  if (hook === undefined) return;
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  hook();
}

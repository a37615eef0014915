/**
 * Pick the first compute backend that this runtime can provide (e.g. wasm SIMD with threads, then
 * plain JavaScript).
 */
import { type ComputeBackend, isPruneError, type Logger, PruneError, SILENT_LOGGER } from "@mama-prune/core";

/** Options of {@link selectComputeBackend}. */
export interface SelectComputeBackendOptions {
  /** Receives one `info` line per unavailable candidate and one for the chosen backend. */
  readonly logger?: Logger;
}

/**
 * Create the first available backend among `candidates`, in order. A candidate that throws
 * `PruneError("BACKEND_UNAVAILABLE")` is skipped (and logged); any other error is rethrown, so a
 * real bug is never hidden behind a silent fallback.
 *
 * @throws PruneError BACKEND_UNAVAILABLE when no candidate is available.
 * @throws RangeError when `candidates` is empty.
 * @example
 * const backend = await selectComputeBackend([
 *   () => createWasmBackendNode(),   // @mama-prune/compute-wasm/node
 *   () => createCpuBackend(),        // @mama-prune/model (plain JS reference)
 * ]);
 */
export async function selectComputeBackend(
  candidates: readonly (() => ComputeBackend | Promise<ComputeBackend>)[],
  options: SelectComputeBackendOptions = {},
): Promise<ComputeBackend> {
  if (candidates.length === 0) {
    throw new RangeError("selectComputeBackend: candidates must not be empty");
  }
  const log = options.logger ?? SILENT_LOGGER;
  const reasons: string[] = [];
  for (const [i, create] of candidates.entries()) {
    try {
      const backend = await create();
      log.info(`compute backend: ${backend.name}`, { candidate: i });
      return backend;
    } catch (e) {
      if (!isPruneError(e, "BACKEND_UNAVAILABLE")) throw e;
      reasons.push(e.message);
      log.info(`compute backend candidate ${i} unavailable`, { reason: e.message });
    }
  }
  throw new PruneError(
    "BACKEND_UNAVAILABLE",
    `selectComputeBackend: no candidate is available. Expected at least one of ${candidates.length}, got none (${reasons.join("; ")})`,
  );
}

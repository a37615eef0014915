// ---- SparseGPT's factor shared by the linears of one input (q/k/v, gate/up) ----

import type { ComputeBackend, Logger } from "@mama-prune/core";
import { SPARSEGPT_BACKEND_MIN_COLS, type SparseGptFactor, sparseGptFactor } from "@mama-prune/redistribute";

/** One cached factor: U of the damped Gram at relative damping `percdamp`, and its escalations. */
export interface CachedSparseGptFactor {
  readonly percdamp: number;
  readonly factor: SparseGptFactor;
  /** The damping escalations of its factorisation (already sent to the log once). */
  readonly warnings: readonly string[];
}

/**
 * SparseGPT factors keyed by the Gram array they factor. The caller promises that a Gram array's
 * contents do not change while it is a key (the block loop of `prune` makes one cache per block, for
 * Grams accumulated before any linear of the block is pruned).
 */
export type SparseGptFactorCache = Map<Float64Array, CachedSparseGptFactor>;

/** What {@link sharedSparseGptFactor} needs of a linear. */
export interface SharedFactorInput {
  readonly cache: SparseGptFactorCache | undefined;
  readonly gram: Float64Array;
  readonly cols: number;
  /** SparseGPT's percdamp (default 0.01). */
  readonly percdamp: number | undefined;
  readonly backend: ComputeBackend | undefined;
  /** This is the last linear reading `gram` (its entry is dropped; without one nothing is cached). */
  readonly last: boolean;
  readonly name: string;
  readonly log: Logger;
}

/**
 * The factor for `sparsegpt`'s `factor` option, shared by the linears of one input: on the backend
 * path (cols ≥ SPARSEGPT_BACKEND_MIN_COLS) with a cache, the first linear of an input with more than
 * one consumer factors the Gram once (`sparseGptFactor`: the same U bit for bit as `sparsegpt`'s own)
 * and the others reuse it; the last one drops it. Returns undefined where `sparsegpt` should factor
 * as before: no cache, the float64 JS path, or a Gram with one consumer (it is then factored in place).
 */
export async function sharedSparseGptFactor(
  i: SharedFactorInput,
): Promise<CachedSparseGptFactor | undefined> {
  if (i.cache === undefined || i.backend === undefined || i.cols < SPARSEGPT_BACKEND_MIN_COLS)
    return undefined;
  const percdamp = i.percdamp ?? 0.01;
  const hit = i.cache.get(i.gram);
  if (i.last) i.cache.delete(i.gram);
  if (hit !== undefined && hit.percdamp === percdamp) return hit;
  if (i.last) return undefined;
  const f = await sparseGptFactor(i.gram, i.cols, { percdamp, backend: i.backend, name: i.name, log: i.log });
  const entry: CachedSparseGptFactor = {
    percdamp,
    factor: { upper: f.upper, relDamping: f.relDamping },
    warnings: f.warnings,
  };
  i.cache.set(i.gram, entry);
  return entry;
}

// ---- Reconstruction error trace((W − W')·H·(W − W')ᵀ) ----

import type { Matrix } from "@mama-prune/core";
import { PruneError } from "@mama-prune/core";
import { checkWeight } from "./common.ts";

/**
 * Reconstruction error of replacing W by W' on inputs with Gram matrix H = XᵀX:
 * trace((W − W')·H·(W − W')ᵀ) = Σ_i Δ_iᵀ·H·Δ_i = ‖X·(W − W')ᵀ‖_F², accumulated in float64.
 * Pass the same H (raw, scaled or damped) the errors are to be compared under. Cost rows·n².
 *
 * @param weight The original weight W [out, in].
 * @param newWeight The replacement W' (rows·cols, row-major).
 * @param hessian H [in, in], symmetric.
 * @throws PruneError `SHAPE_MISMATCH` (newWeight or hessian length), `NUMERIC_FAILURE` (non-finite weights).
 * @example
 * import { matrix } from "@mama-prune/core";
 * const w = matrix(1, 2, new Float32Array([1, 2]));
 * reconstructionError(w, new Float32Array([1, 0]), new Float64Array([1, 0, 0, 3])); // 12
 */
export function reconstructionError(
  weight: Matrix,
  newWeight: Float32Array,
  hessian: Float64Array | Float32Array,
): number {
  const where = "reconstructionError";
  checkWeight(where, weight);
  const { rows, cols: n, data } = weight;
  if (newWeight.length !== rows * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: newWeight length does not match the weight. Expected ${rows * n}, got ${newWeight.length}.`,
    );
  }
  if (hessian.length !== n * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: hessian length does not match the weight's input size. Expected ${n * n}, got ${hessian.length}.`,
    );
  }
  const d = new Float64Array(n); // (n,) one row of W − W'
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const ro = r * n;
    let any = false;
    for (let j = 0; j < n; j++) {
      const v = data[ro + j]! - newWeight[ro + j]!;
      d[j] = v;
      if (v !== 0) any = true;
    }
    if (!any) continue;
    for (let a = 0; a < n; a++) {
      const da = d[a]!;
      if (da === 0) continue;
      const ha = a * n;
      let s = 0;
      for (let b = 0; b < n; b++) s += hessian[ha + b]! * d[b]!;
      total += da * s;
    }
  }
  return total;
}

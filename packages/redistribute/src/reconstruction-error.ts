// ---- Reconstruction error trace((W − W')·H·(W − W')ᵀ) ----

import type { ComputeBackend, Matrix } from "@mama-prune/core";
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
  checkArgs(weight, newWeight, hessian);
  const { rows, cols: n, data } = weight;
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

/** Options of {@link reconstructionErrorOnBackend}. */
export interface ReconstructionErrorOptions {
  /** Backend of the GEMM H·Δᵀ (float32 products, float64 sums). */
  readonly backend: ComputeBackend;
  /**
   * Narrower inputs (cols < minCols) use the float64 {@link reconstructionError}, bit for bit
   * (default 512, as SparseGPT's backend path).
   */
  readonly minCols?: number;
}

/** Rows of W − W' per GEMM (bounds the float32 temporaries to 2·ROW_CHUNK·cols). */
const ROW_CHUNK = 512;

/**
 * {@link reconstructionError} with the rows·n² multiply-adds on a backend: for the rows of Δ = W − W'
 * that changed, Y = Δ·H (one matmulTransB per 512 rows, H symmetric so H = Hᵀ), then Σ Δ∘Y in
 * float64. Equal to the float64 value to float32 round-off of the products (relative ~1e-6, more
 * when Δ lies near H's null space, as SparseGPT's updates do); bit-identical below `minCols`.
 *
 * @throws as {@link reconstructionError}.
 * @example
 * const e = await reconstructionErrorOnBackend(w, newW, h, { backend });
 */
export async function reconstructionErrorOnBackend(
  weight: Matrix,
  newWeight: Float32Array,
  hessian: Float64Array | Float32Array,
  options: ReconstructionErrorOptions,
): Promise<number> {
  const { rows, cols: n } = weight;
  const minCols = options.minCols ?? 512;
  if (!Number.isInteger(minCols) || minCols < 0) {
    throw new RangeError(`reconstructionError: minCols must be an integer ≥ 0, got ${minCols}`);
  }
  if (n < minCols) return reconstructionError(weight, newWeight, hessian);
  checkArgs(weight, newWeight, hessian);
  const { backend } = options;
  const h32 = hessian instanceof Float32Array ? hessian : new Float32Array(hessian); // (n, n)
  const changed: number[] = [];
  const data = weight.data;
  for (let r = 0; r < rows; r++) {
    const ro = r * n;
    for (let j = 0; j < n; j++) {
      if (data[ro + j] !== newWeight[ro + j]) {
        changed.push(r);
        break;
      }
    }
  }
  const chunk = Math.min(ROW_CHUNK, changed.length);
  const d = new Float32Array(chunk * n); // (chunk, n) rows of W − W'
  const y = new Float32Array(chunk * n); // (chunk, n) rows of (W − W')·H
  let total = 0;
  try {
    for (let c0 = 0; c0 < changed.length; c0 += chunk) {
      const m = Math.min(chunk, changed.length - c0);
      for (let i = 0; i < m; i++) {
        const ro = changed[c0 + i]! * n;
        for (let j = 0; j < n; j++) d[i * n + j] = data[ro + j]! - newWeight[ro + j]!;
      }
      const out = await backend.matmulTransB(d.subarray(0, m * n), h32, m, n, n, {
        out: y.subarray(0, m * n),
      });
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += d[i * n + j]! * out[i * n + j]!;
        total += s;
      }
    }
  } finally {
    backend.invalidate(h32); // a temporary, or the caller's array: no panels kept either way
  }
  return total;
}

/** The argument checks of {@link reconstructionError}. */
function checkArgs(weight: Matrix, newWeight: Float32Array, hessian: Float64Array | Float32Array): void {
  const where = "reconstructionError";
  checkWeight(where, weight);
  const { rows, cols: n } = weight;
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
}

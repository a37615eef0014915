// ---- MAMA's dense target: refit toward the DENSE model's outputs through an equivalent target row ----

import { type ComputeBackend, type Matrix, matrix, PruneError } from "@mama-prune/core";
import {
  cholesky,
  choleskySolveInPlace,
  SPARSEGPT_BACKEND_MIN_COLS,
  type SparseGptFactor,
} from "@mama-prune/redistribute";
import { denseTargetOnBackend, type TargetProductInput } from "./dense-target-backend.ts";

export type { TargetProductInput } from "./dense-target-backend.ts";

import { prepareGram } from "./gram-diagonal.ts";

/** What {@link denseTargetWeight} returns. */
export interface DenseTargetResult {
  /** V (rows, cols): the target rows every refit, saliency and swap of the kept set is taken toward. */
  readonly target: Matrix;
  /** λ used (absolute), = relative damping · mean(diag H̃) unless escalated. */
  readonly lambda: number;
  /** Damping escalations, if any. */
  readonly warnings: readonly string[];
  /**
   * Backend path only: (W − V)·H̃ (rows × cols, float32), from the path's own products (no GEMM), so a
   * caller holding (W' − V)·H̃ gets trace((W − W')·H̃·(W − W')ᵀ) without a rows·cols² product.
   */
  readonly targetGradient?: Float32Array;
}

/**
 * The equivalent target of the dense-target refit. For a row w of the dense weight, the dense-target
 * loss of a row w' supported on the kept set K is
 *
 *   ‖X̃w' − Xw‖² + λ‖w' − w‖²   (X̃: the pruned model's input of the linear, X: the dense model's)
 *
 * whose normal equations on K are (H̃_KK + λI)·w'_K = (C·w + λw)_K with H̃ = X̃ᵀX̃ and C = X̃ᵀX.
 * With v solving (H̃ + λI)·v = (C + λI)·w once per row, that loss equals (w' − v)ᵀ(H̃ + λI)(w' − v)
 * plus a constant independent of w'. So the layer-target machinery run on V instead of W — the exact
 * refit (direct or PCG), the OBS saliency w'_j²/[(H̃_KK + λI)⁻¹]_jj of a refitted row and the swap
 * pass's exact loss changes — solves the dense-target problem exactly; only the loss values it
 * reports are offset by that constant. With X̃ = X (nothing pruned upstream) C = H̃ and V = W.
 *
 * The damping is the refit's: λ = damping·mean(diag H̃) after dead inputs H̃_jj = 0 → 1 (as
 * `leastSquaresRefit`, `swapRefineMask` and MAMA's saliency prepare H̃), grown ×10 with a warning when
 * the Cholesky of H̃ + λI fails (damping 0 starts from λ = 0 and escalates from 1e-8·mean diag).
 * V is rounded to float32 (the weights' type) once.
 *
 * Cost: one Cholesky (cols³/6), then rows·(cols² for C·w + cols² for the solve).
 *
 * With a `backend` and cols ≥ 512 (SparseGPT's `backendMinCols` default) V is computed instead as
 * W + α·W·(C − H̃)ᵀ·(H̃ + λI)⁻¹ with float32 GEMMs on the backend ((H̃ + λI)⁻¹ = UᵀU from
 * `upperCholeskyOfInverseBlocked`, then three rows·cols² GEMMs), holding one float64 cols² working
 * matrix beyond gram and crossGram (the JS path holds three); the result agrees with the float64 path
 * to float32 round-off of the correction V − W. Narrower layers, or no backend: the float64 JS path.
 *
 * @param weight Dense weight W (rows, cols).
 * @param gram H̃ = X̃ᵀX̃ (cols, cols).
 * @param crossGram C = X̃ᵀX (cols, cols): C[a, b] = Σ_t x̃_ta·x_tb; or `{ targetProduct: M }` with
 *   M = W·(C − H̃)ᵀ (rows, cols), the product statistic the two-stream pass accumulates instead of C on
 *   wide inputs with one narrow consumer (`useTargetProduct`): V = W + α·(H̃ + λI)⁻¹-solve of M's rows
 *   (float64 here; on the backend α·M replaces the W·Dᵀ GEMM), the same V up to round-off.
 * @param damping Relative damping (the refit's, default 0.01).
 * @param blend α ∈ [0, 1]: the target input is αX + (1 − α)X̃, i.e. C is replaced by αC + (1 − α)H̃
 *   (1 = the dense model's outputs, 0 = the layer target up to rounding). Default 1.
 * @param backend Run wide layers (cols ≥ 512) as float32 GEMMs here; absent: float64 JS throughout.
 * @param factor Backend path only: SparseGPT's factor of the same damped H̃ (`sparseGptFactor` with
 *   percdamp = damping), shared with the sweep and linears on the same input; used (read only) when
 *   its relative damping is `damping`, skipping this function's factorisation (V bit-identical). A
 *   function is called once, after the last read of `crossGram` (it may factor into crossGram's
 *   buffer); the JS path never calls it.
 * @throws PruneError SHAPE_MISMATCH for gram or crossGram of the wrong size; NUMERIC_FAILURE when
 *   H̃ + λI stays indefinite, or a non-finite target row.
 * @example
 * const { target } = await denseTargetWeight(w, gram, crossGram, 0.01, "q_proj");
 * await leastSquaresRefit(target, gram, mask, { damping: 0.01 }); // the dense-target refit
 */
export async function denseTargetWeight(
  weight: Matrix,
  gram: Float64Array,
  crossGram: Float64Array | TargetProductInput,
  damping: number,
  name: string,
  blend = 1,
  backend?: ComputeBackend,
  factor?: SparseGptFactor | (() => Promise<SparseGptFactor>),
): Promise<DenseTargetResult> {
  const { rows, cols: n } = weight;
  const where = `mama(${name.slice(0, 120)}) target "dense"`;
  if (!(crossGram instanceof Float64Array)) {
    const len = crossGram.targetProduct.length;
    if (gram.length !== n * n || len !== rows * n) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: stats.gram must be [cols, cols] and stats.targetProduct [rows, cols] for the weight [${rows}, ${n}]. Expected ${n * n} and ${rows * n} values, got ${gram.length} and ${len}.`,
      );
    }
  } else if (gram.length !== n * n || crossGram.length !== n * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: stats.gram and stats.crossGram must be [cols, cols] for the weight [${rows}, ${n}]. Expected ${n * n} values each, got ${gram.length} and ${crossGram.length}.`,
    );
  }
  if (!(blend >= 0 && blend <= 1)) {
    throw new RangeError(`${where}: option targetBlend must be in [0, 1], got ${String(blend)}`);
  }
  if (backend !== undefined && n >= SPARSEGPT_BACKEND_MIN_COLS) {
    return denseTargetOnBackend(weight, gram, crossGram, damping, where, blend, backend, factor);
  }
  const { h, meanDiag } = prepareGram(gram, n); // (n, n) dead inputs fixed
  const warnings: string[] = [];
  let rel = damping;
  let lower: Float64Array | undefined;
  for (let attempt = 0; attempt < 6; attempt++) {
    const a = new Float64Array(h); // (n, n)
    for (let j = 0; j < n; j++) a[j * n + j]! += rel * meanDiag;
    const c = cholesky(a, n);
    if (c.ok) {
      lower = c.lower;
      break;
    }
    const next = rel > 0 ? rel * 10 : 1e-8;
    warnings.push(
      `${where}: Cholesky of H̃ + λI failed at λ = ${rel}·mean(diag H̃); retrying with ${next}·mean(diag H̃).`,
    );
    rel = next;
  }
  if (lower === undefined) {
    throw new PruneError(
      "NUMERIC_FAILURE",
      `${where}: Cholesky of the damped Gram matrix H̃ + λI failed. Expected a positive-definite matrix, got failing pivots up to λ = ${rel / 10}·mean(diag H̃).`,
    );
  }
  const lambda = rel * meanDiag;
  const out = new Float32Array(rows * n); // (rows, n)
  const b = new Float64Array(n); // (n,)
  for (let i = 0; i < rows; i++) {
    const w = weight.data.subarray(i * n, (i + 1) * n);
    if (crossGram instanceof Float64Array) {
      for (let a = 0; a < n; a++) {
        const ca = a * n;
        let s = lambda * w[a]!;
        if (blend === 1) for (let c = 0; c < n; c++) s += crossGram[ca + c]! * w[c]!;
        else for (let c = 0; c < n; c++) s += (blend * crossGram[ca + c]! + (1 - blend) * h[ca + c]!) * w[c]!;
        b[a] = s;
      }
    } else {
      // (H̃ + λI)·w + α·(C − H̃)·w with (C − H̃)·w = M's row (H̃ with its dead diagonal fixed: −α·w_j there).
      const mrow = crossGram.targetProduct.subarray(i * n, (i + 1) * n);
      for (let a = 0; a < n; a++) {
        const ca = a * n;
        let s = lambda * w[a]! + blend * mrow[a]!;
        if (gram[ca + a] === 0) s -= blend * w[a]!;
        for (let c = 0; c < n; c++) s += h[ca + c]! * w[c]!;
        b[a] = s;
      }
    }
    choleskySolveInPlace(lower, n, b);
    for (let a = 0; a < n; a++) {
      const v = b[a]!;
      if (!Number.isFinite(v)) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: target row ${i} is not finite. Expected finite values of (H̃ + λI)⁻¹(C + λI)w, got ${v} at column ${a}.`,
        );
      }
      out[i * n + a] = v;
    }
  }
  return { target: matrix(rows, n, out), lambda, warnings };
}

// ---- Mean compensation: move the pruned weights' expected contribution into the bias ----

import type { Matrix } from "@mama-prune/core";
import { PruneError } from "@mama-prune/core";
import { checkMask, checkWeight } from "./common.ts";

/** Options of {@link meanCompensation}. */
export interface MeanCompensationOptions {
  /**
   * Weights that replace `weight` after pruning (rows·cols), e.g. the output of
   * {@link leastSquaresRefit} or sparsegpt. When given, the shift is (W − W')·E[x] (every change, kept
   * weights included) and W' is returned; otherwise W' = W ⊙ mask.
   */
  readonly updatedWeight?: Float32Array;
  /** Tensor name used in errors (default "meanCompensation"). */
  readonly name?: string;
}

/** Result of {@link meanCompensation}. */
export interface MeanCompensationResult {
  /** The pruned weights W' (rows·cols): `updatedWeight` if given, else W ⊙ mask. */
  readonly weight: Float32Array;
  /** b' = b + shift when a bias was given; undefined when the layer has none. */
  readonly bias: Float32Array | undefined;
  /** Per output row, the expected output lost by pruning: shift_i = Σ_j (W − W')_ij·E[x_j]. */
  readonly shift: Float32Array;
  /** True when the shift was folded into the bias; false when there is no bias to carry it. */
  readonly applied: boolean;
  /** Why it was not applied (only when `applied` is false). */
  readonly reason?: string;
}

/**
 * Mean compensation: pruning removes Σ_{j∈P_i} w_ij·x_j from output i, whose expectation over the
 * calibration data is shift_i = Σ_{j∈P_i} w_ij·E[x_j]. Adding shift to the bias keeps the mean output
 * unchanged: mean_t(W'·x_t + b') = mean_t(W·x_t + b) exactly, and it is the least-squares optimal bias
 * for fixed W'. Layers without a bias (all Llama linears; Qwen2's o/gate/up/down) cannot carry it:
 * the result says `applied: false` with the reason and the shift it would have added, and the bias
 * stays undefined. Computed in float64.
 *
 * @param weight The layer weight W before pruning [out, in].
 * @param mask Keep-mask (rows·cols bytes, 1 = keep).
 * @param activationMean E[x] over the calibration tokens [in].
 * @param bias The layer bias [out], if it has one (never modified; a new array is returned).
 * @throws PruneError `SHAPE_MISMATCH` (mask, activationMean, bias or updatedWeight length),
 *   `MASK_INVALID`, `CALIBRATION_INVALID` (non-finite E[x]), `NUMERIC_FAILURE` (non-finite weights).
 * @example
 * import { matrix } from "@mama-prune/core";
 * const w = matrix(1, 2, new Float32Array([2, 3]));
 * const r = meanCompensation(w, new Uint8Array([1, 0]), new Float32Array([1, 0.5]), new Float32Array([0.25]));
 * r.bias; // Float32Array [1.75]  (0.25 + 3·0.5)
 */
export function meanCompensation(
  weight: Matrix,
  mask: Uint8Array,
  activationMean: Float32Array,
  bias?: Float32Array,
  options: MeanCompensationOptions = {},
): MeanCompensationResult {
  const where = options.name ?? "meanCompensation";
  checkWeight(where, weight);
  const { rows, cols, data } = weight;
  checkMask(where, mask, rows, cols);
  if (!(activationMean instanceof Float32Array)) {
    throw new TypeError(`${where}: activationMean must be a Float32Array of length cols`);
  }
  if (activationMean.length !== cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: activationMean length does not match the weight's input size. Expected ${cols}, got ${activationMean.length}.`,
    );
  }
  for (let j = 0; j < cols; j++) {
    if (!Number.isFinite(activationMean[j]!)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: activationMean[${j}] is not finite. Expected a finite mean, got ${activationMean[j]}.`,
      );
    }
  }
  if (bias !== undefined && bias.length !== rows) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: bias length does not match the weight's output size. Expected ${rows}, got ${bias.length}.`,
    );
  }
  const updated = options.updatedWeight;
  if (updated !== undefined) {
    if (updated.length !== rows * cols) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: updatedWeight length does not match the weight. Expected ${rows * cols}, got ${updated.length}.`,
      );
    }
    checkWeight(where, { rows, cols, data: updated });
  }
  const newWeight = new Float32Array(rows * cols); // (rows, cols)
  const shift = new Float32Array(rows); // (rows,)
  for (let r = 0; r < rows; r++) {
    const ro = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const w = data[ro + j]!;
      const w2 = updated !== undefined ? updated[ro + j]! : mask[ro + j] === 1 ? w : 0;
      newWeight[ro + j] = w2;
      s += (w - w2) * activationMean[j]!;
    }
    shift[r] = s;
  }
  if (bias === undefined) {
    return {
      weight: newWeight,
      bias: undefined,
      shift,
      applied: false,
      reason: `${where}: the layer has no bias, so the expected shift Σ_P w·E[x] cannot be folded in`,
    };
  }
  const newBias = new Float32Array(rows); // (rows,)
  for (let r = 0; r < rows; r++) newBias[r] = bias[r]! + shift[r]!;
  return { weight: newWeight, bias: newBias, shift, applied: true };
}

// ---- Per-linear calibration statistics (Σx², Σx, XᵀX, token counts, sample weights) ----

import type { ComputeBackend } from "@mama-prune/core";
import { mirrorUpperToLower, PruneError } from "@mama-prune/core";

/** Which statistics to accumulate for one linear input. */
export interface StatsNeeds {
  /** Σ_t x_tj² per column (unweighted): Wanda's ‖X_j‖₂² and OWL. */
  readonly sqNorm?: boolean;
  /** Σ_t w_t·x_tj² per column (sample-weighted; equals sqNorm when no weights are given). */
  readonly weightedSqNorm?: boolean;
  /** Σ_t w_t·x_tj per column (for E[x]). */
  readonly sum?: boolean;
  /** Σ_t w_t·x_t x_tᵀ in float64 (the Hessian of SparseGPT / refit, up to a positive factor). */
  readonly gram?: boolean;
  /**
   * C = Σ_t w_t·x̃_t x_tᵀ in float64: the cross-Gram of the pruned model's input x̃ and the DENSE
   * model's input x of the same linear on the same windows (MAMA's `target: "dense"`). Accumulated by
   * the two-stream runner (`collectBlockStatsTwoStreams`), not by {@link createStatsAccumulator}.
   */
  readonly crossGram?: boolean;
  /**
   * With `crossGram`: on an input with one consumer linear W (out × cols) where the product is the
   * cheaper statistic (`useTargetProduct`: cols ≥ 512 and 2·out < cols), accumulate
   * M = Σ_t w_t·W(x_t − x̃_t)·x̃_tᵀ = W·(C − H̃)ᵀ instead of C (all MAMA's dense target needs of C there).
   */
  readonly targetProduct?: boolean;
}

/** Accumulated statistics of one linear input X [tokens, cols]. */
export interface LinearInputStats {
  readonly cols: number;
  /** Number of rows (tokens) seen. */
  readonly tokens: number;
  /** Σ_t w_t over the rows seen (= tokens without sample weights). */
  readonly weightSum: number;
  readonly sqNorm?: Float64Array; // (cols,)
  readonly weightedSqNorm?: Float64Array; // (cols,)
  readonly sum?: Float64Array; // (cols,)
  readonly gram?: Float64Array; // (cols, cols)
  /** C = X̃ᵀX (rows: the pruned stream's columns, cols: the dense stream's), when asked for. */
  readonly crossGram?: Float64Array; // (cols, cols)
  /**
   * M = Σ_t w_t·W(x_t − x̃_t)·x̃_tᵀ = W·(C − H̃)ᵀ for the input's one consumer W (out, cols), in place of
   * `crossGram` where it is the cheaper statistic (`StatsNeeds.targetProduct`).
   */
  readonly targetProduct?: Float64Array; // (out, cols)
}

/** Accumulates {@link LinearInputStats} batch by batch (see {@link createStatsAccumulator}). */
export interface StatsAccumulator {
  /**
   * Add rows x [rows, cols]. `rowWeights` (rows,) are the per-row sample weights (≥ 0, finite);
   * absent = weight 1 for every row.
   */
  add(x: Float32Array, rows: number, rowWeights?: Float32Array): Promise<void>;
  /** The statistics so far (live arrays, not copies). */
  result(): LinearInputStats;
}

/**
 * Create an accumulator of the statistics in `needs` for inputs with `cols` columns. The Gram matrix
 * and the squared column norms go through the backend's `gramAccumulate` / `colSqNormAccumulate`
 * (float64 accumulators); with sample weights w_t the rows are scaled by √w_t first, so the weighted
 * Gram is Σ w_t·x_t x_tᵀ exactly as a weighted least-squares Hessian. Σx is a float64 loop.
 *
 * @throws PruneError CALIBRATION_INVALID (from `add`) for a negative or non-finite sample weight,
 *   and SHAPE_MISMATCH for a wrong input or weight length.
 * @example
 * const acc = createStatsAccumulator(2, { sqNorm: true, sum: true }, createCpuBackend());
 * await acc.add(new Float32Array([1, 2, 3, 4]), 2);
 * acc.result().sqNorm; // Float64Array [10, 20]
 */
export function createStatsAccumulator(
  cols: number,
  needs: StatsNeeds,
  backend: ComputeBackend,
): StatsAccumulator {
  if (!Number.isInteger(cols) || cols <= 0) {
    throw new RangeError(`createStatsAccumulator: cols must be a positive integer, got ${cols}`);
  }
  const sqNorm = needs.sqNorm ? new Float64Array(cols) : undefined; // (cols,)
  const weightedSqNorm = needs.weightedSqNorm ? new Float64Array(cols) : undefined; // (cols,)
  const sum = needs.sum ? new Float64Array(cols) : undefined; // (cols,)
  const gram = needs.gram ? new Float64Array(cols * cols) : undefined; // (cols, cols)
  // A backend with `gramUpperOnly` accumulates only the upper triangle; result() mirrors it once
  // (bit for bit the full accumulation, see ComputeBackend.gramAccumulate).
  const upperOnly = backend.gramUpperOnly === true;
  const gramOptions = upperOnly ? { upperOnly } : undefined;
  let lowerStale = false;
  let tokens = 0;
  let weightSum = 0;
  return {
    async add(x: Float32Array, rows: number, rowWeights?: Float32Array): Promise<void> {
      if (x.length !== rows * cols) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `stats: linear input has the wrong size. Expected rows·cols = ${rows}·${cols}, got ${x.length}.`,
        );
      }
      if (rowWeights !== undefined && rowWeights.length !== rows) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `stats: sample weights have the wrong length. Expected one per row (${rows}), got ${rowWeights.length}.`,
        );
      }
      if (rowWeights !== undefined) {
        for (let r = 0; r < rows; r++) {
          const w = rowWeights[r]!;
          if (!Number.isFinite(w) || w < 0) {
            throw new PruneError(
              "CALIBRATION_INVALID",
              `stats: sample weight of row ${r} is invalid. Expected a finite number >= 0, got ${w}.`,
            );
          }
        }
      }
      tokens += rows;
      if (sqNorm) await backend.colSqNormAccumulate(x, rows, cols, sqNorm);
      let scaled = x; // (rows, cols) rows scaled by √w when weighted
      if (rowWeights !== undefined) {
        scaled = new Float32Array(rows * cols); // (rows, cols)
        for (let r = 0; r < rows; r++) {
          const s = Math.sqrt(rowWeights[r]!);
          const o = r * cols;
          for (let j = 0; j < cols; j++) scaled[o + j] = x[o + j]! * s;
          weightSum += rowWeights[r]!;
        }
      } else {
        weightSum += rows;
      }
      if (weightedSqNorm) await backend.colSqNormAccumulate(scaled, rows, cols, weightedSqNorm);
      if (gram) {
        lowerStale = upperOnly;
        await backend.gramAccumulate(scaled, rows, cols, gram, gramOptions);
      }
      if (sum) {
        for (let r = 0; r < rows; r++) {
          const w = rowWeights === undefined ? 1 : rowWeights[r]!;
          if (w === 0) continue;
          const o = r * cols;
          for (let j = 0; j < cols; j++) sum[j] = sum[j]! + w * x[o + j]!;
        }
      }
    },
    result(): LinearInputStats {
      if (gram && lowerStale) {
        mirrorUpperToLower(gram, cols);
        lowerStale = false;
      }
      return {
        cols,
        tokens,
        weightSum,
        ...(sqNorm ? { sqNorm } : {}),
        ...(weightedSqNorm ? { weightedSqNorm } : {}),
        ...(sum ? { sum } : {}),
        ...(gram ? { gram } : {}),
      };
    },
  };
}

/**
 * ‖X_j‖₂ = √(Σ x²) per column as float32 (Wanda's activation norm).
 *
 * @example
 * columnNorms(new Float64Array([9, 16])); // Float32Array [3, 4]
 */
export function columnNorms(sq: Float64Array): Float32Array {
  const out = new Float32Array(sq.length); // (cols,)
  for (let j = 0; j < sq.length; j++) out[j] = Math.sqrt(sq[j]!);
  return out;
}

/**
 * E[x_j] = Σ w·x / Σ w per column as float32 (zeros when no weight was seen).
 *
 * @example
 * columnMeans(new Float64Array([2, 4]), 2); // Float32Array [1, 2]
 */
export function columnMeans(sum: Float64Array, weightSum: number): Float32Array {
  const out = new Float32Array(sum.length); // (cols,)
  if (weightSum > 0) for (let j = 0; j < sum.length; j++) out[j] = sum[j]! / weightSum;
  return out;
}

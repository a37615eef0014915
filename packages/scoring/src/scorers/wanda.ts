import type { ScoreContext, ScorerPlugin } from "../contract.ts";
import { checkAbort, needVector } from "./common.ts";

/** Options of {@link wanda}. */
export interface WandaOptions {
  /**
   * Exponent on the activation norm: score = |W_ij|·‖X_j‖₂^alpha. Default 1 = the paper's Wanda
   * (Sun et al. 2023, `lib/prune.py` L166). 0 reduces to magnitude; 0.5 is RIA's choice. Not the
   * α of Wanda's `--use_variant` (a cumulative-sum threshold), which this package does not implement.
   */
  readonly alpha?: number;
  /**
   * Which activation statistic to use: `"plain"` (default, input `activation-norms`) or
   * `"sample-weighted"` (input `sample-weighted-activation-norms`, reward-weighted calibration).
   */
  readonly activations?: "plain" | "sample-weighted";
}

/**
 * Wanda scorer: score = |W_ij|·‖X_j‖₂^alpha, ‖X_j‖₂ over all calibration tokens. The paper compares
 * scores per output row (`selectMask(..., { group: "row" })`).
 *
 * @throws RangeError when `alpha` is not a finite number ≥ 0.
 * @throws PruneError `SCORER_INPUT_MISSING` from `score()` when the activation norms are absent; `ABORTED`.
 * @example
 * const w = matrix(1, 2, new Float32Array([-1, 2]));
 * await wanda().score({ name: "w", weight: w, activationNorms: new Float32Array([3, 0.5]), log: SILENT_LOGGER });
 * // Float32Array [3, 1]
 */
export function wanda(options: WandaOptions = {}): ScorerPlugin {
  const alpha = options.alpha ?? 1;
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha < 0) {
    throw new RangeError(`wanda: option alpha must be a finite number >= 0, got ${String(alpha)}`);
  }
  const source = options.activations ?? "plain";
  if (source !== "plain" && source !== "sample-weighted") {
    throw new RangeError(
      `wanda: option activations must be "plain" or "sample-weighted", got ${String(source)}`,
    );
  }
  const input = source === "plain" ? "activation-norms" : "sample-weighted-activation-norms";
  return {
    name: "wanda",
    apiVersion: 1,
    granularity: "element",
    requires: [input],
    score(ctx: ScoreContext): Float32Array {
      checkAbort("wanda", ctx);
      const { rows, cols, data } = ctx.weight;
      const norms = needVector("wanda", ctx, input); // (cols,)
      const f = new Float64Array(cols); // (cols,)
      for (let j = 0; j < cols; j++) f[j] = alpha === 1 ? norms[j]! : norms[j]! ** alpha;
      const out = new Float32Array(rows * cols); // (rows, cols)
      for (let i = 0; i < rows; i++) {
        const o = i * cols;
        for (let j = 0; j < cols; j++) out[o + j] = Math.abs(data[o + j]!) * f[j]!;
      }
      return out;
    },
  };
}

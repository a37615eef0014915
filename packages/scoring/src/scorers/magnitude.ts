import type { ScoreContext, ScorerPlugin } from "../contract.ts";
import { checkAbort } from "./common.ts";

/**
 * Magnitude scorer: score = |W_ij|. Data-free. The anchors compare it over the whole matrix
 * (`selectMask(..., { group: "matrix" })`).
 *
 * @throws PruneError `ABORTED` from `score()` when the signal has fired.
 * @example
 * const s = await magnitude().score({ name: "w", weight: matrix(1, 3, new Float32Array([-2, 0.5, 1])), log: SILENT_LOGGER });
 * // Float32Array [2, 0.5, 1]
 */
export function magnitude(): ScorerPlugin {
  return {
    name: "magnitude",
    apiVersion: 1,
    granularity: "element",
    requires: ["weights"],
    score(ctx: ScoreContext): Float32Array {
      checkAbort("magnitude", ctx);
      const w = ctx.weight.data; // (rows * cols,)
      const out = new Float32Array(w.length); // (rows * cols,)
      for (let i = 0; i < w.length; i++) out[i] = Math.abs(w[i]!);
      return out;
    },
  };
}

/**
 * Negative magnitude (the paper's "-weights" ablation, Table 1): score = −|W_ij|, so the *largest*
 * weights are pruned first. Expected to collapse the model from the first sparsity levels.
 *
 * @throws PruneError `ABORTED` from `score()` when the signal has fired.
 * @example
 * const s = await negativeMagnitude().score({ name: "w", weight: matrix(1, 2, new Float32Array([-2, 1])), log: SILENT_LOGGER });
 * // Float32Array [-2, -1]
 */
export function negativeMagnitude(): ScorerPlugin {
  return {
    name: "negative-magnitude",
    apiVersion: 1,
    granularity: "element",
    requires: ["weights"],
    score(ctx: ScoreContext): Float32Array {
      checkAbort("negative-magnitude", ctx);
      const w = ctx.weight.data; // (rows * cols,)
      const out = new Float32Array(w.length); // (rows * cols,)
      // 0 - |w| rather than -|w| so that a zero weight scores +0, not -0.
      for (let i = 0; i < w.length; i++) out[i] = 0 - Math.abs(w[i]!);
      return out;
    },
  };
}

import type { ScoreContext, ScorerPlugin } from "../contract.ts";
import { checkAbort, needMatrix } from "./common.ts";

/** Options of {@link movement}. */
export interface MovementOptions {
  /**
   * `"pre-weights"` (default): score = W¹_ij·(W¹_ij − W⁰_ij) between the pre-trained W⁰ (input
   * `pre-weights`) and the current W¹. `"gradients"`: score = −W_ij·∂L/∂W_ij (input `gradients`), the
   * one-step form of Sanh et al.'s accumulated movement score.
   */
  readonly source?: "pre-weights" | "gradients";
}

/**
 * Movement scorer (Sanh et al. 2020), sign-aware: positive for weights that moved away from zero,
 * negative for weights that moved toward it. It is *not* |ΔW|. From two checkpoints it is the
 * first-order approximation W¹·(W¹ − W⁰) of −Σ_t W·∂L/∂W under SGD.
 *
 * @throws RangeError for an unknown `source`.
 * @throws PruneError `SCORER_INPUT_MISSING` / `SHAPE_MISMATCH` from `score()`; `ABORTED`.
 * @example
 * const post = matrix(1, 2, new Float32Array([2, 0.5]));
 * const pre = matrix(1, 2, new Float32Array([1, 1]));
 * await movement().score({ name: "w", weight: post, preWeight: pre, log: SILENT_LOGGER });
 * // Float32Array [2, -0.25]
 */
export function movement(options: MovementOptions = {}): ScorerPlugin {
  const source = options.source ?? "pre-weights";
  if (source !== "pre-weights" && source !== "gradients") {
    throw new RangeError(
      `movement: option source must be "pre-weights" or "gradients", got ${String(source)}`,
    );
  }
  return {
    name: "movement",
    apiVersion: 1,
    granularity: "element",
    requires: [source],
    score(ctx: ScoreContext): Float32Array {
      checkAbort("movement", ctx);
      const w = ctx.weight.data; // (rows * cols,)
      const other = needMatrix("movement", ctx, source).data; // (rows * cols,)
      const out = new Float32Array(w.length); // (rows * cols,)
      if (source === "pre-weights") {
        for (let i = 0; i < w.length; i++) out[i] = w[i]! * (w[i]! - other[i]!);
      } else {
        for (let i = 0; i < w.length; i++) out[i] = -(w[i]! * other[i]!);
      }
      // Normalise -0 to +0 so that equal scores compare equal bit-for-bit.
      for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = 0;
      return out;
    },
  };
}

// A third-party-style scorer plugin ("acme/sqrt-activation"), written only against the public
// @mama-prune/scoring contract: score = |W_ij| · ‖X_j‖₂^½ — Wanda with the activation term softened.
// It passes the conformance kit (acme-scorer.test.ts) and is used in a pruning run (main.test.ts).
import { PruneError, throwIfAborted } from "@mama-prune/core";
import type { ScoreContext, ScorerPlugin } from "@mama-prune/scoring";

export function sqrtActivation(): ScorerPlugin {
  return {
    name: "acme/sqrt-activation",
    apiVersion: 1,
    granularity: "element",
    requires: ["activation-norms"],
    score(ctx: ScoreContext): Float32Array {
      throwIfAborted(ctx.signal, "acme/sqrt-activation");
      const norms = ctx.activationNorms;
      if (norms === undefined) {
        throw new PruneError(
          "SCORER_INPUT_MISSING",
          `acme/sqrt-activation on ${ctx.name}: activation-norms missing. Expected (cols,), got undefined.`,
        );
      }
      const { rows, cols, data } = ctx.weight;
      const out = new Float32Array(rows * cols); // (rows, cols)
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++)
          out[i * cols + j] = Math.abs(data[i * cols + j]!) * Math.sqrt(norms[j]!);
      }
      return out;
    },
  };
}

// A plugin as a third party would publish it (e.g. as "@acme/prune-scorer-activation-power"):
// written only against the public contracts, it exports
// - a scorer factory (@mama-prune/scoring's ScorerPlugin), usable as a method's `scorer:` override;
// - a whole method (@mama-prune/pipeline's defineMethod): that scorer, Wanda's per-row comparison
//   group and the exact least-squares refit of the kept weights, usable as `method: acme/power-refit`.
//
// score_ij = |W_ij| · ‖X_j‖₂^p — p = 1 is Wanda, p = 0 is plain magnitude, values in between soften
// the activation term.
import { PruneError, throwIfAborted } from "@mama-prune/core";
import { defineMethod, type PruneMethodDefinition } from "@mama-prune/pipeline";
import type { ScoreContext, ScorerPlugin } from "@mama-prune/scoring";

export interface ActivationPowerOptions {
  /** Exponent p of the activation norm, ≥ 0. Default 0.5. */
  readonly power?: number;
}

/**
 * The scorer factory (the plugin's one exported function besides `method`: recipes find it without
 * an `export` key).
 */
export function activationPower(options: ActivationPowerOptions = {}): ScorerPlugin {
  const p = options.power ?? 0.5;
  if (typeof p !== "number" || !Number.isFinite(p) || p < 0) {
    throw new RangeError(
      `acme/activation-power: option power must be a finite number >= 0, got ${String(p)}`,
    );
  }
  return {
    name: "acme/activation-power",
    apiVersion: 1,
    granularity: "element",
    requires: ["activation-norms"],
    score(ctx: ScoreContext): Float32Array {
      throwIfAborted(ctx.signal, "acme/activation-power");
      const norms = ctx.activationNorms;
      const { rows, cols, data } = ctx.weight;
      if (norms === undefined || norms.length !== cols) {
        throw new PruneError(
          "SCORER_INPUT_MISSING",
          `acme/activation-power on ${ctx.name}: activation-norms missing or of the wrong length. Expected (${cols},), got ${norms === undefined ? "undefined" : `(${norms.length},)`}.`,
        );
      }
      const scale = new Float32Array(cols); // (cols,)
      for (let j = 0; j < cols; j++) scale[j] = p === 1 ? norms[j]! : norms[j]! ** p;
      const out = new Float32Array(rows * cols); // (rows, cols)
      for (let i = 0; i < rows; i++) {
        const o = i * cols;
        for (let j = 0; j < cols; j++) out[o + j] = Math.abs(data[o + j]!) * scale[j]!;
      }
      return out;
    },
  };
}

/**
 * The plugin's method `acme/power-refit`: activation-power scores compared per output row, then the
 * kept weights refitted by least squares on the calibration Gram matrix (so it needs calibration; the
 * pipeline derives that from the scorer's `requires` and the redistribution). The CLI calls this
 * factory with the recipe's plugin `options`, the same ones the scorer factory gets.
 */
export function method(options: ActivationPowerOptions = {}): PruneMethodDefinition {
  activationPower(options); // validate the options now, not at the first linear
  return defineMethod({
    name: "acme/power-refit",
    label: `acme p=${options.power ?? 0.5} + refit`,
    description: "|W|·‖X_j‖^p per row, then the exact least-squares refit",
    scorer: () => activationPower(options),
    group: "row",
    redistribution: "refit",
  });
}

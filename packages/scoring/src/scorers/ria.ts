import type { ScoreContext, ScorerPlugin } from "../contract.ts";
import { checkAbort, needVector } from "./common.ts";

/** Options of {@link ria}. */
export interface RiaOptions {
  /** Exponent on the activation norm, default 0.5 (the RIA repo's `--a`). */
  readonly a?: number;
  /** Multiply by ‖X_j‖₂^a (default true). `false` gives plain relative importance (RI), data-free. */
  readonly useActivations?: boolean;
}

/**
 * RIA, Relative Importance and Activations (Zhang et al. 2024, `lib/prune.py` L239):
 * score = (|W_ij| / Σ_i'|W_i'j| + |W_ij| / Σ_j'|W_ij'|) · ‖X_j‖₂^a — the first sum runs over the column
 * (all outputs fed by input j), the second over the row. A zero row or column sum contributes 0 (all
 * its weights are 0). The RIA repo compares scores over the whole matrix by default.
 *
 * @throws RangeError when `a` is not a finite number ≥ 0.
 * @throws PruneError `SCORER_INPUT_MISSING` from `score()` when activation norms are required and absent; `ABORTED`.
 * @example
 * const w = matrix(2, 2, new Float32Array([1, 3, 1, 0]));
 * await ria({ useActivations: false }).score({ name: "w", weight: w, log: SILENT_LOGGER });
 * // Float32Array [0.75, 1.75, 1.5, 0]
 */
export function ria(options: RiaOptions = {}): ScorerPlugin {
  const a = options.a ?? 0.5;
  if (typeof a !== "number" || !Number.isFinite(a) || a < 0) {
    throw new RangeError(`ria: option a must be a finite number >= 0, got ${String(a)}`);
  }
  const useActivations = options.useActivations ?? true;
  return {
    name: "ria",
    apiVersion: 1,
    granularity: "element",
    requires: useActivations ? ["activation-norms"] : ["weights"],
    score(ctx: ScoreContext): Float32Array {
      checkAbort("ria", ctx);
      const { rows, cols, data } = ctx.weight;
      const norms = useActivations ? needVector("ria", ctx, "activation-norms") : undefined; // (cols,)
      const colSum = new Float64Array(cols); // (cols,)
      const rowSum = new Float64Array(rows); // (rows,)
      for (let i = 0; i < rows; i++) {
        const o = i * cols;
        let r = 0;
        for (let j = 0; j < cols; j++) {
          const v = Math.abs(data[o + j]!);
          r += v;
          colSum[j] = colSum[j]! + v;
        }
        rowSum[i] = r;
      }
      const f = new Float64Array(cols); // (cols,)
      for (let j = 0; j < cols; j++) f[j] = norms === undefined ? 1 : norms[j]! ** a;
      const out = new Float32Array(rows * cols); // (rows, cols)
      for (let i = 0; i < rows; i++) {
        const o = i * cols;
        const rs = rowSum[i]!;
        for (let j = 0; j < cols; j++) {
          const v = Math.abs(data[o + j]!);
          if (v === 0) continue; // also covers zero sums: a zero sum means every term is 0
          out[o + j] = (v / colSum[j]! + v / rs) * f[j]!;
        }
      }
      return out;
    },
  };
}

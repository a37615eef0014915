// ---- The exact refit of a row's kept weights, with the solver chosen per linear (never OBS) ----

import type { ComputeBackend, Logger, Matrix } from "@mama-prune/core";
import { chooseRefitSolver, leastSquaresRefit, pcgRefit } from "@mama-prune/redistribute";

/** Options of {@link refitKept}. */
export interface RefitKeptOptions {
  /** Backend for the batched PCG solver (one GEMM per iteration); without one the direct solve runs. */
  readonly backend?: ComputeBackend;
  /** Relative damping λ / mean(diag H) (default 0.01, as both solvers). */
  readonly damping?: number;
  readonly name: string;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
  /** The direct solve's budget in multiply-adds (default redistribute's `DIRECT_REFIT_MAX_MULTIPLY_ADDS`). */
  readonly maxDirectMultiplyAdds?: number;
  /** PCG only: warm start (rows·cols; pruned entries ignored), e.g. the previous step's refit. */
  readonly initialWeight?: Float32Array;
  /**
   * PCG only: a deliberate iteration budget (an intermediate step of a gradual procedure). The rows
   * it leaves short of the tolerance are then expected, so PCG's non-convergence warning is dropped.
   * With a backend, the budgeted PCG also replaces the direct solve where it costs fewer
   * multiply-adds ((2 + budget)·rows·cols² + probes against the direct estimate).
   * Default: PCG's own cap, to full tolerance (non-convergence warned).
   */
  readonly maxIterations?: number;
  /** PCG only: also return `hDelta` = (W' − W)·H, tracked along the solve (`pcgRefit`'s option). */
  readonly hDelta?: boolean;
}

/** Result of {@link refitKept}. */
export interface RefitKeptResult {
  /** Refitted weights (rows·cols), pruned entries exactly 0. */
  readonly weight: Float32Array;
  readonly dampingUsed: number;
  readonly warnings: readonly string[];
  /** The solver that ran: `"direct"` (`leastSquaresRefit`) or `"pcg"` (`pcgRefit` on the backend). */
  readonly solver: "direct" | "pcg";
  /** Why (the estimated costs from `chooseRefitSolver`). */
  readonly reason: string;
  /** (W' − W)·H (rows × cols), when option `hDelta` was set and PCG ran. */
  readonly hDelta?: Float32Array;
}

/**
 * min ‖(W' − W)X‖² over W' supported on `mask`, per row (H = XᵀX + damping): the direct solve where
 * `chooseRefitSolver` says it is cheap, batched PCG on the backend otherwise. Both are the same exact
 * least-squares refit (PCG to its tolerance, 1e-6 relative reconstruction error of the direct one in
 * redistribute's tests); the report names which ran. Without a backend the direct solve runs
 * whatever it costs (slow on wide layers, never a different method).
 *
 * @throws the errors of `leastSquaresRefit` / `pcgRefit` (NUMERIC_FAILURE, ABORTED, …).
 * @example
 * const r = await refitKept(w, gram, mask, { backend, name: "q_proj" }); // r.solver: "direct" | "pcg"
 */
export async function refitKept(
  weight: Matrix,
  hessian: Float64Array,
  mask: Uint8Array,
  options: RefitKeptOptions,
): Promise<RefitKeptResult> {
  const choice = chooseRefitSolver(
    weight.rows,
    weight.cols,
    mask,
    options.maxDirectMultiplyAdds !== undefined
      ? { maxDirectMultiplyAdds: options.maxDirectMultiplyAdds }
      : {},
  );
  // A deliberate iteration budget (an intermediate step, a polish) with a backend: the budgeted PCG
  // when it costs less than the exact direct solve (e.g. 128-row k/v_proj at 896 columns: 5.5·10⁸
  // backend multiply-adds against 1.6·10⁹ in JS), never the other way round.
  const budget = options.maxIterations;
  let solver = choice.solver;
  let reason = choice.reason;
  if (solver === "direct" && budget !== undefined && options.backend !== undefined) {
    const c = choice.cost;
    const budgeted = c.pcgSetupMultiplyAdds + budget * c.pcgMultiplyAddsPerIteration;
    if (budgeted < c.directMultiplyAdds) {
      solver = "pcg";
      reason = `PCG on the backend with a budget of ${budget} iterations: ≈ ${budgeted.toExponential(2)} multiply-adds, below the direct solve's ${c.directMultiplyAdds.toExponential(2)}`;
    }
  }
  const common = {
    ...(options.damping !== undefined ? { damping: options.damping } : {}),
    name: options.name,
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  };
  if (solver === "pcg" && options.backend !== undefined) {
    const { log: _log, ...quiet } = common;
    const r = await pcgRefit(weight, hessian, mask, {
      ...(budget === undefined ? common : quiet),
      backend: options.backend,
      // Only the weights are used here: skip PCG's final measuring GEMM (same weights, bit for bit).
      measure: false,
      ...(options.initialWeight !== undefined ? { initialWeight: options.initialWeight } : {}),
      ...(budget !== undefined ? { maxIterations: budget } : {}),
      ...(options.hDelta === true ? { hDelta: true } : {}),
    });
    return {
      ...(r.hDelta !== undefined ? { hDelta: r.hDelta } : {}),
      weight: r.weight,
      dampingUsed: r.dampingUsed,
      // pcgRefit's only warning is non-convergence: with a deliberate budget it is the plan, not news.
      warnings: budget === undefined ? r.warnings : [],
      solver: "pcg",
      reason,
    };
  }
  const r = await leastSquaresRefit(weight, hessian, mask, common);
  return {
    weight: r.weight,
    dampingUsed: r.dampingUsed,
    warnings: r.warnings,
    solver: "direct",
    reason:
      choice.solver === "pcg" ? `${choice.reason} (no backend given: the direct solve ran)` : choice.reason,
  };
}

// ---- The exact refit of a row's kept weights, with the solver chosen per linear (never OBS) ----

import { type ComputeBackend, type Logger, type Matrix, matrix } from "@mama-prune/core";
import {
  chooseRefitSolver,
  leastSquaresRefit,
  type PcgRefitOptions,
  type PcgRefitResult,
  pcgRefit,
  pooledFloat32,
  recycleFloats,
} from "@mama-prune/redistribute";

/**
 * A PCG polish (an iteration budget of at most one, e.g. MAMA's sweep polish) of more than this many
 * rows × cols values runs in blocks of rows (each at least {@link REFIT_MIN_BLOCK_ROWS}): PCG's
 * per-call state — Δ and the residuals in float64, the search directions and the GEMM output in
 * float32, 24 bytes per value — then covers one block instead of the whole linear (1 GiB at
 * 11008 × 4096, 0.2 GiB in five blocks; each block repeats PCG's checks of H and its preconditioner's
 * three 16-row GEMMs, about 0.4 s at 11008 columns). Rows are independent in PCG (the preconditioner depends
 * on H only, a row's GEMM products on its own row: the backends give each row of x·wᵀ the same bits
 * whatever other rows the call holds, while the call keeps ≥ 128 rows, which blocks of
 * ≥ {@link REFIT_MIN_BLOCK_ROWS} rows do through a one-iteration polish); the weights and `hDelta`
 * are the whole call's bit for bit.
 */
export const REFIT_ROW_BLOCK_FLOATS: number = 2 ** 23;
/** Fewest rows of one block of a row-blocked polish (see {@link REFIT_ROW_BLOCK_FLOATS}). */
export const REFIT_MIN_BLOCK_ROWS = 1024;

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
  /**
   * With `hDelta`: hand (W' − W)·H to this sink row block by row block, in row order (`offset`: the
   * index of the block's first value; `weight`: the block's refitted rows; both views valid during
   * the call only), instead of returning it as one rows × cols array; the result then says
   * `hDeltaSunk`. Only when PCG runs (no `hDelta` from the direct solve).
   */
  readonly hDeltaSink?: (offset: number, weight: Float32Array, hDelta: Float32Array) => void;
  /**
   * PCG polish only (`maxIterations` ≤ 1): run it in blocks of rows above this many rows × cols values
   * (default {@link REFIT_ROW_BLOCK_FLOATS}); same weights bit for bit, less memory at once.
   */
  readonly rowBlockFloats?: number;
  /**
   * The caller reads `initialWeight` no more: a row-blocked polish writes each block's result into it
   * (after the block's call, the only reader of those rows) and returns it, no second rows × cols array.
   */
  readonly overwriteInitialWeight?: boolean;
  /**
   * PCG only: `hessian` is the float32 rounding of a float64 Gram with this diagonal (`pcgRefit`'s
   * option: the float64 Gram's weights bit for bit). The direct solve cannot take it: a RangeError
   * when the choice falls on it.
   */
  readonly hessianDiagonal?: Float64Array;
  /**
   * PCG only, with `hessianDiagonal`: `hessian` (float64) holds H in its strict lower triangle only
   * (`pcgRefit`'s option: e.g. SparseGPT's factor above it); same weights as its float32 rounding.
   */
  readonly hessianLowerTriangle?: boolean;
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
  /** (W' − W)·H (rows × cols), when option `hDelta` was set and PCG ran (without `hDeltaSink`). */
  readonly hDelta?: Float32Array;
  /** PCG ran with `hDelta` and `hDeltaSink`: every row block's went to the sink. */
  readonly hDeltaSunk?: true;
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
  hessian: Float64Array | Float32Array,
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
    const pcgOptions: PcgRefitOptions = {
      ...(budget === undefined ? common : quiet),
      backend: options.backend,
      // Only the weights are used here: skip PCG's final measuring GEMM (same weights, bit for bit).
      measure: false,
      ...(budget !== undefined ? { maxIterations: budget } : {}),
      ...(options.hDelta === true ? { hDelta: true } : {}),
      ...(options.hessianDiagonal !== undefined ? { hessianDiagonal: options.hessianDiagonal } : {}),
      ...(options.hessianLowerTriangle === true ? { hessianLowerTriangle: true } : {}),
    };
    const blocks = polishBlocks(weight.rows, weight.cols, budget, options.rowBlockFloats);
    const sink = options.hDelta === true ? options.hDeltaSink : undefined;
    let r: Pick<PcgRefitResult, "weight" | "hDelta" | "dampingUsed" | "warnings">;
    if (blocks <= 1) {
      r = await pcgRefit(weight, hessian, mask, {
        ...pcgOptions,
        ...(options.initialWeight !== undefined ? { initialWeight: options.initialWeight } : {}),
      });
      if (sink !== undefined && r.hDelta !== undefined) {
        sink(0, r.weight, r.hDelta);
        recycleFloats(r.hDelta);
        r = { weight: r.weight, dampingUsed: r.dampingUsed, warnings: r.warnings };
      }
    } else {
      r = await pcgByRowBlocks(
        weight,
        hessian,
        mask,
        pcgOptions,
        options.initialWeight,
        blocks,
        options.overwriteInitialWeight === true,
        sink,
      );
    }
    return {
      ...(r.hDelta !== undefined ? { hDelta: r.hDelta } : {}),
      ...(sink !== undefined ? { hDeltaSunk: true as const } : {}),
      weight: r.weight,
      dampingUsed: r.dampingUsed,
      // pcgRefit's only warning is non-convergence: with a deliberate budget it is the plan, not news.
      warnings: budget === undefined ? r.warnings : [],
      solver: "pcg",
      reason,
    };
  }
  if (options.hessianDiagonal !== undefined || options.hessianLowerTriangle === true) {
    throw new RangeError(
      `refitKept(${options.name}): options hessianDiagonal and hessianLowerTriangle need the PCG solver, got the direct solve (${reason}).`,
    );
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

/** Blocks of rows of a PCG polish (1: the whole linear in one call). */
function polishBlocks(
  rows: number,
  cols: number,
  budget: number | undefined,
  rowBlockFloats: number = REFIT_ROW_BLOCK_FLOATS,
): number {
  if (budget === undefined || budget > 1 || rows * cols <= rowBlockFloats) return 1;
  const per = Math.max(REFIT_MIN_BLOCK_ROWS, Math.floor(rowBlockFloats / cols));
  return Math.max(1, Math.floor(rows / per));
}

/**
 * `pcgRefit` of the rows in `blocks` consecutive blocks (sizes within one row of each other), each a
 * call of its own on the rows' weights, mask and warm start (views, no copies); the blocks' weights and
 * `hDelta` are copied into whole arrays (the result into the warm start's array with
 * `overwriteInitial`) and their own arrays handed back to the pool for the next block.
 * Only the fields `refitKept` reads are combined (weight, hDelta, dampingUsed, warnings).
 */
async function pcgByRowBlocks(
  weight: Matrix,
  hessian: Float64Array | Float32Array,
  mask: Uint8Array,
  options: PcgRefitOptions,
  initialWeight: Float32Array | undefined,
  blocks: number,
  overwriteInitial: boolean,
  sink?: (offset: number, weight: Float32Array, hDelta: Float32Array) => void,
): Promise<Pick<PcgRefitResult, "weight" | "hDelta" | "dampingUsed" | "warnings">> {
  const { rows, cols } = weight;
  // (rows, cols) the result: the warm start's own array when the caller gives it up (a block's rows
  // of it are read by that block's call only, before its result is written there)
  const out = overwriteInitial && initialWeight !== undefined ? initialWeight : pooledFloat32(rows * cols);
  // (rows, cols) the whole hDelta, unless each block's goes to the sink
  const hDelta = options.hDelta === true && sink === undefined ? pooledFloat32(rows * cols) : undefined;
  const warnings: string[] = [];
  let dampingUsed = 0;
  for (let b = 0; b < blocks; b++) {
    const r0 = Math.floor((b * rows) / blocks);
    const r1 = Math.floor(((b + 1) * rows) / blocks);
    const lo = r0 * cols;
    const hi = r1 * cols;
    const r = await pcgRefit(
      matrix(r1 - r0, cols, weight.data.subarray(lo, hi)),
      hessian,
      mask.subarray(lo, hi),
      {
        ...options,
        ...(initialWeight !== undefined ? { initialWeight: initialWeight.subarray(lo, hi) } : {}),
      },
    );
    out.set(r.weight, lo);
    if (r.hDelta !== undefined) {
      if (sink !== undefined) sink(lo, r.weight, r.hDelta);
      else hDelta?.set(r.hDelta, lo);
      recycleFloats(r.hDelta);
    }
    recycleFloats(r.weight);
    dampingUsed = r.dampingUsed;
    for (const m of r.warnings) warnings.push(m);
  }
  return { weight: out, ...(hDelta !== undefined ? { hDelta } : {}), dampingUsed, warnings };
}

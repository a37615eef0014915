// ---- MAMA at width: which per-linear path runs (cost model), and the wide path's OBS denominators ----

import { type ComputeBackend, PruneError } from "@mama-prune/core";
import {
  PCG_DEFAULT_RANK,
  SPARSEGPT_BACKEND_MIN_COLS,
  upperCholeskyOfInverseBlocked,
  upperCholeskyOfInverseInPlace,
} from "@mama-prune/redistribute";
import { liveDiagonal } from "./gram-diagonal.ts";
import { type BlockConditionalObs, blockConditionalPrecisions } from "./mama-block-obs.ts";

/**
 * Which per-linear path of MAMA runs:
 * - `"exact"`: every step's OBS term from each row's own kept-set inverse [(H_KK + λI)⁻¹]_jj (a float64
 *   JS Cholesky + inverse per distinct row mask) and every step's refit to full precision;
 * - `"wide"`: by default ({@link MAMA_WIDE_SOLVER} = `"sweep"`, {@link MamaWideSolver}) SparseGPT's
 *   sweep on the refit's target with MAMA's mask chosen inside it, then a short PCG polish; or, with
 *   `wide.solver: "pcg"`, the OBS term from ONE factorisation per linear, d_j = [(H + λI)⁻¹]_jj
 *   (SparseGPT's denominator, on the backend), scored on the current refitted weights;
 *   {@link MAMA_WIDE_STEPS} steps; intermediate refits are PCG warm-started from the previous step's
 *   weights with {@link MAMA_WIDE_INTERMEDIATE_ITERATIONS} iterations, the final refit runs to full
 *   tolerance.
 */
export type MamaPath = "exact" | "wide";

/**
 * Largest estimated cost (multiply-adds, JavaScript float64) of the exact path for which "auto" keeps
 * it: about 40–60 s of single-threaded JS (the lead's 64 × 512 linear, ≈ 1.8·10¹⁰, took 7.7 s). Every
 * linear of the repository's small models (widths 64/172/192) is far below (≤ 2·10⁹).
 */
export const MAMA_EXACT_MAX_MULTIPLY_ADDS = 1e11;
/**
 * Gradual steps of the wide path (as the exact path's default 8). Measured on the small models with the
 * wide path forced (results/mama-wide-gap.md): the steps, not the OBS term, made the wide path's gap
 * (2 steps: llama2xs 70 % 46.6 vs the exact path's 28.2; 8 steps: 30.1); each intermediate step costs
 * one warm-started PCG call ({@link MAMA_WIDE_INTERMEDIATE_ITERATIONS} iterations + 2 GEMMs + probes).
 */
export const MAMA_WIDE_STEPS = 8;
/** PCG iteration budget of an intermediate step's refit on the wide path (warm-started). */
export const MAMA_WIDE_INTERMEDIATE_ITERATIONS = 3;
/** Assumed PCG iterations of the final full-tolerance refit (cost estimate only; measured ≈ 14 on 1B layers). */
const FINAL_PCG_ITERATIONS_ESTIMATE = 14;

/**
 * The wide path's OBS term: `"full"` w²/[(H + λI)⁻¹]_jj (one factorisation, the same denominators for
 * every row); `"block"` the block-conditional kept-set term (see `blockKeptDiagonal`: per row and
 * column block of {@link MamaWideOptions.block} columns, the kept set's inverse within the block
 * given all other columns); `"kept"` the exact path's per-row kept-set inverse (a measurement, JS
 * cost rows·cols³/2 per step).
 */
export type MamaWideObs = "full" | "block" | "kept";

/**
 * The wide path's solver: `"pcg"` the gradual steps (score → prune → warm-started PCG refit,
 * {@link MamaWideOptions.steps} times); `"sweep"` one SparseGPT sweep on the refit's target rows
 * (V, or W with the layer target) with the damped H̃, its adaptive mask chosen inside the sweep per
 * column block (N:M: per group) on MAMA's score of the current weights, then
 * {@link MamaWideOptions.polishIterations} warm-started refit iterations on the final mask. Since
 * ‖W'X̃ − WX_α‖² = ‖(W' − V)X̃‖²_{H̃+λI} + const, the sweep minimises MAMA's objective at about
 * SparseGPT's cost; with the OBS term alone (the shipped weights) it is SparseGPT run on V with each
 * row pruning its share of every block (`group: "row"`), or exactly SparseGPT on V (`"matrix"`). The sweep
 * is an OBS update, i.e. a refit: with `refit: false` the wide path runs its steps without refits.
 */
export type MamaWideSolver = "sweep" | "pcg";

/** Knobs of the wide path (`wide` of MAMA's options); unset keys take the defaults below. */
export interface MamaWideOptions {
  /** Solver (default {@link MAMA_WIDE_SOLVER}). */
  readonly solver?: MamaWideSolver;
  /**
   * `"sweep"` only: warm-started refit iterations on the sweep's mask (the run's refit solver with this
   * budget: PCG on wide layers; a direct solver ignores the budget and solves exactly); 0 = none
   * (default {@link MAMA_WIDE_POLISH_ITERATIONS}).
   */
  readonly polishIterations?: number;
  /**
   * `"sweep"` only, unstructured levels: gradual sweeps (sweep t prunes to s·t/k from the previous
   * sweep's weights polished with `intermediateIterations`; default {@link MAMA_WIDE_SWEEPS}).
   */
  readonly sweeps?: number;
  /** Gradual steps (at most the run's `steps`; default {@link MAMA_WIDE_STEPS}). */
  readonly steps?: number;
  /** PCG budget of intermediate refits; 0 = to full tolerance (default {@link MAMA_WIDE_INTERMEDIATE_ITERATIONS}). */
  readonly intermediateIterations?: number;
  /** OBS term (default {@link MAMA_WIDE_OBS}). */
  readonly obs?: MamaWideObs;
  /** Block width B of the `"block"` term (default {@link MAMA_WIDE_BLOCK}). */
  readonly block?: number;
}

/** {@link MamaWideOptions} with every key filled in. */
export type MamaWideSettings = Required<MamaWideOptions>;

/**
 * Default solver of the wide path: `"sweep"` (results/mama-sweep.md: within issue 13's cost budget of
 * 3× SparseGPT on a qwen2.5-0.5b block, where `"pcg"` cost 22.6×; `wide: { solver: "pcg" }` keeps the
 * gradual PCG steps, of better quality at that cost).
 */
export const MAMA_WIDE_SOLVER: MamaWideSolver = "sweep";
/**
 * Default polish budget of the `"sweep"` solver: 1 (results/mama-sweep.md, calibration side, wide path
 * forced on stories260K / llama2xs, seeds 0, 1: 0 → 1 iteration takes 0.5 from 19.64 / 18.78 to
 * 16.99 / 16.45 and 0.7 from 74.54 / 43.69 to 63.84 / 34.40; 3 iterations give 16.92 / 16.26 and
 * 63.73 / 34.04, within 1.2 %; at 2:4 without the swap refinement, as at 896+
 * columns: 31.59 / 20.34 with 1, 29.73 / 20.40 with 3. Each iteration is one rows·cols² GEMM: on a
 * qwen2.5-0.5b block 3 iterations cost ≈ 0.2–0.4× SparseGPT's CPU time more than 1).
 */
export const MAMA_WIDE_POLISH_ITERATIONS = 1;
/**
 * Default number of gradual sweeps of the `"sweep"` solver: 1. Measured on a qwen2.5-0.5b block at 0.5
 * (results/mama-sweep.md, CPU time against SparseGPT's in the same invocation, polish 3): 1 sweep
 * 3.2×, 2 sweeps 4.5×, 4 sweeps 7.3× — only one fits issue 13's 3× budget (with the wide path
 * forced on the small models 2 / 4 sweeps lower perplexity by 0–5 % / 5–12 % at 0.5 and 0.7; opt-in).
 */
export const MAMA_WIDE_SWEEPS = 1;
/** Default OBS term of the wide path. */
export const MAMA_WIDE_OBS: MamaWideObs = "full";
/** Default block width of the wide path's `"block"` OBS term. */
export const MAMA_WIDE_BLOCK = 64;

/**
 * Fill in and check the wide path's knobs.
 *
 * @throws RangeError for an unknown solver, a negative or fractional polish budget, steps not an
 *   integer in [1, 64], a negative or fractional iteration budget,
 *   an unknown obs term or a block width not a positive integer.
 */
export function mamaWideSettings(o: MamaWideOptions | undefined): MamaWideSettings {
  const s: MamaWideSettings = {
    solver: o?.solver ?? MAMA_WIDE_SOLVER,
    polishIterations: o?.polishIterations ?? MAMA_WIDE_POLISH_ITERATIONS,
    sweeps: o?.sweeps ?? MAMA_WIDE_SWEEPS,
    steps: o?.steps ?? MAMA_WIDE_STEPS,
    intermediateIterations: o?.intermediateIterations ?? MAMA_WIDE_INTERMEDIATE_ITERATIONS,
    obs: o?.obs ?? MAMA_WIDE_OBS,
    block: o?.block ?? MAMA_WIDE_BLOCK,
  };
  if (s.solver !== "sweep" && s.solver !== "pcg") {
    throw new RangeError(`mama: option wide.solver must be "sweep" or "pcg", got ${String(s.solver)}`);
  }
  if (!Number.isInteger(s.polishIterations) || s.polishIterations < 0) {
    throw new RangeError(
      `mama: option wide.polishIterations must be an integer >= 0 (0 = no polish), got ${String(s.polishIterations)}`,
    );
  }
  if (!Number.isInteger(s.sweeps) || s.sweeps < 1 || s.sweeps > 16) {
    throw new RangeError(`mama: option wide.sweeps must be an integer in [1, 16], got ${String(s.sweeps)}`);
  }
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 64) {
    throw new RangeError(`mama: option wide.steps must be an integer in [1, 64], got ${String(s.steps)}`);
  }
  if (!Number.isInteger(s.intermediateIterations) || s.intermediateIterations < 0) {
    throw new RangeError(
      `mama: option wide.intermediateIterations must be an integer >= 0 (0 = full tolerance), got ${String(s.intermediateIterations)}`,
    );
  }
  if (s.obs !== "full" && s.obs !== "block" && s.obs !== "kept") {
    throw new RangeError(`mama: option wide.obs must be "full", "block" or "kept", got ${String(s.obs)}`);
  }
  if (!Number.isInteger(s.block) || s.block < 1) {
    throw new RangeError(`mama: option wide.block must be an integer >= 1, got ${String(s.block)}`);
  }
  return s;
}

/**
 * The wide path's OBS state for `"full"` (`fixed` denominators) or `"block"` (the per-block
 * conditional precisions), both from one factorisation of H + λI.
 *
 * @throws PruneError NUMERIC_FAILURE as {@link fullInverseUpper} / `blockConditionalPrecisions`.
 */
export async function wideObsState(
  obs: "full" | "block",
  block: number,
  gram: Float64Array,
  n: number,
  rel: number,
  backend: ComputeBackend | undefined,
  where: string,
): Promise<{ fixed: Float64Array } | { block: BlockConditionalObs }> {
  const u = await fullInverseUpper(gram, n, rel, backend, where);
  return obs === "full"
    ? { fixed: upperDiagonal(u, n) }
    : { block: blockConditionalPrecisions(u, n, Math.min(block, n), where) };
}

/** Decision of {@link chooseMamaPath}. */
export interface MamaPathChoice {
  readonly path: MamaPath;
  /** Steps the chosen path runs (the settings' steps on the exact path). */
  readonly steps: number;
  /** Estimated multiply-adds of the exact path (JS) and of the wide path (mostly backend GEMMs). */
  readonly exactMultiplyAdds: number;
  readonly wideMultiplyAdds: number;
  /** One sentence for logs: the costs that decided. */
  readonly reason: string;
}

/**
 * Estimated cost of MAMA's exact path on a rows × cols linear: per step t, one kept-set factorisation
 * + inverse per row (k³/2, k = the row's kept count before step t; rows with the same mask share one,
 * ignored here: an upper bound) when the OBS term is on, plus the direct refit (cols³/6 + rows·min(k, p)³/6).
 *
 * @param prunedPerRow Pruned entries per row after each step (length = steps), in row units.
 */
export function mamaExactCost(
  rows: number,
  cols: number,
  prunedPerRow: readonly number[],
  obs: boolean,
): number {
  let total = 0;
  let before = 0;
  for (const after of prunedPerRow) {
    const k = cols - before;
    if (obs) total += (rows * k ** 3) / 2;
    const kAfter = cols - after;
    total += cols ** 3 / 6 + (rows * Math.min(kAfter, cols - kAfter) ** 3) / 6;
    before = after;
  }
  return total;
}

/**
 * Estimated cost of the wide path: one factorisation of H (2·cols³/3, as SparseGPT's blocked one) and
 * per PCG call (2 + iterations) GEMMs rows·cols² plus the Nyström probes (3·rank·cols²).
 */
export function mamaWideCost(rows: number, cols: number, steps: number): number {
  const gemm = rows * cols * cols;
  const probes = 3 * PCG_DEFAULT_RANK * cols * cols;
  const intermediate = (steps - 1) * ((2 + MAMA_WIDE_INTERMEDIATE_ITERATIONS) * gemm + probes);
  const final = (2 + FINAL_PCG_ITERATIONS_ESTIMATE) * gemm + probes;
  return (2 * cols ** 3) / 3 + intermediate + final;
}

/**
 * Estimated cost of the wide path's `"sweep"` solver: per sweep SparseGPT's (one factorisation
 * 2·cols³/3, the lazy-batch GEMMs ≈ rows·cols²), a warm-started PCG call of `between` iterations
 * between sweeps and, with a polish, one of `polish` iterations at the end.
 */
export function mamaSweepCost(rows: number, cols: number, polish: number, sweeps = 1, between = 3): number {
  const gemm = rows * cols * cols;
  const pcg = (k: number): number => (k > 0 ? (2 + k) * gemm + 3 * PCG_DEFAULT_RANK * cols * cols : 0);
  return sweeps * ((2 * cols ** 3) / 3 + gemm) + (sweeps - 1) * pcg(Math.max(1, between)) + pcg(polish);
}

/**
 * Choose MAMA's per-linear path (like redistribute's `chooseRefitSolver`): `"exact"` when its
 * estimated cost is at most `maxExactMultiplyAdds` (default {@link MAMA_EXACT_MAX_MULTIPLY_ADDS}),
 * `"wide"` otherwise; `forced` ("exact" / "wide") overrides the estimate (the reason says so).
 * `wideSolver` only changes the wide path's estimate and steps (the sweeps for the sweep) in the decision.
 *
 * @param prunedPerRow Pruned entries per row after each of the exact path's steps.
 * @example
 * chooseMamaPath(64, 64, [16, 32], true).path; // "exact"
 */
export function chooseMamaPath(
  rows: number,
  cols: number,
  prunedPerRow: readonly number[],
  obs: boolean,
  forced: "auto" | MamaPath = "auto",
  maxExactMultiplyAdds: number = MAMA_EXACT_MAX_MULTIPLY_ADDS,
  wideStepsMax: number = MAMA_WIDE_STEPS,
  wideSolver: {
    readonly solver: MamaWideSolver;
    readonly polishIterations: number;
    readonly sweeps?: number;
    readonly intermediateIterations?: number;
  } = { solver: "pcg", polishIterations: 0 },
): MamaPathChoice {
  const exact = mamaExactCost(rows, cols, prunedPerRow, obs);
  const sweep = wideSolver.solver === "sweep";
  const wideSteps = sweep ? (wideSolver.sweeps ?? 1) : Math.min(prunedPerRow.length, wideStepsMax);
  const wide = sweep
    ? mamaSweepCost(rows, cols, wideSolver.polishIterations, wideSteps, wideSolver.intermediateIterations)
    : mamaWideCost(rows, cols, wideSteps);
  const costs = `exact ≈ ${exact.toExponential(2)} multiply-adds in JS, wide (${wideSolver.solver}) ≈ ${wide.toExponential(2)} (backend GEMMs)`;
  if (forced === "exact" || (forced === "auto" && exact <= maxExactMultiplyAdds)) {
    return {
      path: "exact",
      steps: prunedPerRow.length,
      exactMultiplyAdds: exact,
      wideMultiplyAdds: wide,
      reason:
        forced === "exact"
          ? `exact path (forced): ${costs}`
          : `exact path: ${costs}; exact ≤ ${maxExactMultiplyAdds.toExponential(0)}`,
    };
  }
  return {
    path: "wide",
    steps: wideSteps,
    exactMultiplyAdds: exact,
    wideMultiplyAdds: wide,
    reason:
      forced === "wide"
        ? `wide path (forced): ${costs}`
        : `wide path: ${costs}; exact > ${maxExactMultiplyAdds.toExponential(0)}`,
  };
}

/**
 * The upper Cholesky factor U of G = (H + λI)⁻¹ = UᵀU (dead inputs H_jj = 0 → 1; λ = rel·mean(diag H),
 * grown ×10 on failure as everywhere): the blocked factorisation on `backend` for ≥ 512 columns
 * (SparseGPT's kernel and threshold), the float64 JS one otherwise. Memory: one n² float64, as SparseGPT.
 *
 * @throws PruneError NUMERIC_FAILURE when the factorisation fails up to λ = rel·10⁴·mean(diag H).
 */
export async function fullInverseUpper(
  gram: Float64Array,
  n: number,
  rel: number,
  backend: ComputeBackend | undefined,
  where: string,
): Promise<Float64Array> {
  const { diag, meanDiag } = liveDiagonal(gram, n);
  let r = rel > 0 ? rel : 1e-6;
  for (let attempt = 0; attempt < 5; attempt++, r *= 10) {
    const u = new Float64Array(gram); // (n, n) working copy, factored in place into U
    for (let j = 0; j < n; j++) u[j * n + j] = diag[j]! + r * meanDiag;
    const pivot =
      backend !== undefined && n >= SPARSEGPT_BACKEND_MIN_COLS
        ? await upperCholeskyOfInverseBlocked(u, n, backend)
        : upperCholeskyOfInverseInPlace(u, n);
    if (pivot < 0) return u;
  }
  throw new PruneError(
    "NUMERIC_FAILURE",
    `${where}: Cholesky of the damped Gram matrix failed for the wide path's OBS saliency. Expected a positive-definite H + λI, got failing pivots up to λ = ${r / 10}·mean(diag H).`,
  );
}

/**
 * The wide path's full-inverse OBS denominators d_j = [(H + λI)⁻¹]_jj = Σ_{i ≤ j} U_ij² from
 * {@link fullInverseUpper}'s factor (SparseGPT's denominator).
 *
 * @throws PruneError NUMERIC_FAILURE as {@link fullInverseUpper}.
 */
export async function fullInverseDiagonal(
  gram: Float64Array,
  n: number,
  rel: number,
  backend: ComputeBackend | undefined,
  where: string,
): Promise<Float64Array> {
  return upperDiagonal(await fullInverseUpper(gram, n, rel, backend, where), n);
}

/** diag(UᵀU) of an upper triangular n × n U. */
export function upperDiagonal(u: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n); // (n,)
  for (let i = 0; i < n; i++) {
    const o = i * n;
    for (let j = i; j < n; j++) d[j]! += u[o + j]! * u[o + j]!;
  }
  return d;
}

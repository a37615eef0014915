// ---- SparseGPT's option, diagnostic and result types (split from sparsegpt.ts) ----

import type { ComputeBackend, Logger, NmPattern } from "@mama-prune/core";
import { SPARSEGPT_BACKEND_MIN_COLS } from "./obs-sweep.ts";

/**
 * N:M pattern: N zeros in every M consecutive input columns of each row (2:4 = 50 %).
 * @deprecated Use `NmPattern` from `@mama-prune/core` (the same type).
 */
export type NMPattern = NmPattern;

/**
 * A region of SparseGPT's sweep to score for its adaptive mask: rows [row0, row1) × columns
 * [col0, col1) of the working weights, none of it pruned yet. Unstructured: all rows × one column
 * block, at the block's start; N:M: one row × one group of M, when the walk reaches the group.
 */
export interface SparseGptScoreRegion {
  /**
   * The sweep's working weights (rows·cols, float64, row-major), read-only: every OBS update so far is
   * in (the region's columns carry the errors of all pruned columns before them).
   */
  readonly weight: Float64Array;
  readonly rows: number;
  readonly cols: number;
  readonly row0: number;
  readonly row1: number;
  readonly col0: number;
  readonly col1: number;
  /**
   * SparseGPT's OBS denominators U_jj² (cols,), H_d⁻¹ = UᵀU: w²/U_jj² is its own score, the loss
   * increase of pruning w with the later columns re-optimised.
   */
  readonly obsDenominator: Float64Array;
}

/**
 * Scores a {@link SparseGptScoreRegion} into `out` ((row1 − row0)·(col1 − col0), row-major): the
 * lowest scores are pruned first (ties: lower index), in place of SparseGPT's w²/U_jj².
 */
export type SparseGptMaskScore = (region: SparseGptScoreRegion, out: Float64Array) => void;

/** Options of `sparsegpt`. */
export interface SparseGptOptions {
  /**
   * Fraction of zeros in [0, 1] (unstructured, one threshold per rows×block), or an N:M pattern
   * (N zeros per M consecutive inputs of each row). Required unless `mask` is given; ignored
   * (but still validated) when `mask` is given.
   */
  readonly sparsity?: number | NmPattern;
  /**
   * Fixed keep-mask (rows·cols bytes, 1 = keep, 0 = prune) from any scorer. When given, the OBS updates
   * use it instead of SparseGPT's adaptive w²/U_jj² selection.
   */
  readonly mask?: Uint8Array;
  /**
   * The adaptive mask's score (default w²/U_jj², SparseGPT's own): called per column block
   * (unstructured) or per row and group (N:M) on the current, already updated weights; the selection
   * (counts, threshold, ties, N:M groups) and the OBS updates stay SparseGPT's. Not with `mask`.
   */
  readonly maskScore?: SparseGptMaskScore;
  /**
   * Unstructured selection group: `"block"` (default, SparseGPT's) the lowest scores over rows × block
   * with one count; `"row"` each row prunes floor(s·i2) − floor(s·i1) of the block's columns [i1, i2),
   * i.e. floor(s·cols) per row in all (Wanda's per-output comparison group inside the sweep).
   */
  readonly unstructuredGroup?: "block" | "row";
  /** Columns per lazy batch (default 128). With N:M it is rounded down to a multiple of M (at least M). */
  readonly blockSize?: number;
  /** Relative damping: percdamp·mean(diag H) is added to diag H (default 0.01). */
  readonly percdamp?: number;
  /** Factorisation attempts (first included), ×10 damping each, before NUMERIC_FAILURE (default 5). */
  readonly maxDampingAttempts?: number;
  /** Tensor name used in errors and warnings (default "sparsegpt"). */
  readonly name?: string;
  /** Receives a warning for every damping escalation. */
  readonly log?: Logger;
  /** Checked between blocks; the loop yields to the event loop (about every 50 ms) only when a signal is given. */
  readonly signal?: AbortSignal;
  /**
   * Run the heavy products on this backend (float32 GEMMs) when cols ≥ `backendMinCols`: the Cholesky
   * factor/inverse blocked (float64 JS leaves, GEMM updates) and the lazy batch update as one GEMM per
   * column block (two levels: see `lazySuperBlocks`). Weights then agree with the float64 JS path to
   * float32 round-off (adaptive masks may differ at near-ties). Without it everything runs in float64 JS.
   */
  readonly backend?: ComputeBackend;
  /** Smallest cols for which `backend` is used (default {@link SPARSEGPT_BACKEND_MIN_COLS} = 512). */
  readonly backendMinCols?: number;
  /**
   * Backend path only: column blocks per lazy super-block. After each block the lazy update reaches
   * the end of its super-block; the columns beyond get the whole super-block's errors in one GEMM,
   * so W (float64) is swept about √(cols/blockSize)× less often. 1 = block by block (the update before
   * 2026-12-07, bit for bit). Default: round(√(cols / blockSize)) (8 at cols = 8192, blockSize 128).
   */
  readonly lazySuperBlocks?: number;
  /**
   * The caller no longer needs `hessian`: on the backend path, an exactly symmetric Float64Array is
   * damped and factored in place (no n² float64 copy; 512 MiB at n = 8192) and holds garbage
   * afterwards. Results are bit-identical to the copying path. Ignored on the float64 JS path and for
   * a Float32Array or a not exactly symmetric hessian (default false).
   */
  readonly overwriteHessian?: boolean;
  /**
   * The factorisation, done by the caller (e.g. shared by several sweeps or linears on one Gram):
   * `upper` = U, upper triangular (cols, cols), with H_d⁻¹ = UᵀU for H_d = H (dead inputs H_jj → 1)
   * + relDamping·mean(diag H)·I. Read only. The factorisation (and its damping escalation) is then
   * skipped: with the U this function would compute itself (the same kernel on the same backend, at
   * the damping it would succeed with) the results are bit-identical.
   */
  readonly factor?: SparseGptFactor;
  /**
   * With `factor`: `hessian` is a float64 buffer holding H in its strict lower triangle only (e.g.
   * `factor.upper` itself, `sparseGptFactor`'s `keepLowerTriangle`), H's float64 diagonal being this:
   * the dead inputs and mean(diag H) are those of H's float32 rounding, as from a Float32Array copy of
   * H (same results bit for bit, without that copy).
   */
  readonly hessianLowerTriangle?: Float64Array;
  /**
   * Called at each stage boundary (for memory and time probes): "checked" (Hessian validated),
   * "damped" (each attempt's damped matrix built), "factored" (U = chol(H⁻¹) ready), "swept" (all
   * column blocks done, before the float32 result is built).
   */
  readonly onStage?: (stage: SparseGptStage) => void;
}

/** Stage boundaries reported by {@link SparseGptOptions.onStage}. */
export type SparseGptStage = "checked" | "damped" | "factored" | "swept";

/** A caller's factor of SparseGPT's damped Hessian (see {@link SparseGptOptions.factor}). */
export interface SparseGptFactor {
  /** U (cols, cols), upper triangular, H_d⁻¹ = UᵀU. */
  readonly upper: Float64Array;
  /** The relative damping H_d was damped with (fraction of mean(diag H), dead inputs counted as 1). */
  readonly relDamping: number;
}

/** Numbers describing one `sparsegpt` run. */
export interface SparseGptDiagnostics {
  /** Final relative damping (percdamp after any escalation). */
  readonly percdampUsed: number;
  /** Number of factorisations tried; 1 when the first succeeded. */
  readonly dampingAttempts: number;
  /** One message per damping escalation (also sent to `log.warn`). */
  readonly warnings: readonly string[];
  /**
   * Σ err² over all pruned weights, err = w/U_jj. Exactly trace(ΔW·H_d·ΔWᵀ) for the damped Hessian H_d
   * (in the units of the hessian passed in); the anchor prints half of it as "error".
   */
  readonly obsError: number;
  /** Number of zeros chosen by the mask (dead-input columns are zeroed on top of this). */
  readonly prunedCount: number;
  /** Effective lazy-batch size. */
  readonly blockSize: number;
  /** mean(diag H) after the dead-input fix, before damping. */
  readonly meanDiag: number;
  /** Whether the backend ran the factorisation and the lazy updates (see `backendMinCols`). */
  readonly onBackend: boolean;
  /** Whether the caller's hessian was factored in place (`overwriteHessian`); it then holds garbage. */
  readonly hessianOverwritten: boolean;
  /**
   * trace(ΔW·H·ΔWᵀ) for the hessian passed in (ΔW = weight − result), from the sweep's own numbers:
   * obsError − damping·‖ΔW‖² over the live inputs (dead inputs have zero rows in H). Equal to
   * `reconstructionError(weight, result, hessian)` in exact arithmetic; free, where that one costs a
   * rows·cols² product.
   */
  readonly reconstructionError: number;
  /**
   * Wall time per stage in ms: Hessian checks, Cholesky/inverse (all damping attempts, damped copies), the
   * column sweep (mask choice, per-column OBS updates and lazy updates), of which the lazy updates.
   */
  readonly stageMs: {
    readonly prepare: number;
    readonly factor: number;
    readonly sweep: number;
    readonly lazy: number;
  };
}

/** Result of `sparsegpt`. */
export interface SparseGptResult {
  /** New weights (rows·cols, row-major), zeros where pruned and on dead-input columns. */
  readonly weight: Float32Array;
  /** Keep-mask actually used (rows·cols, 1 = keep); the given mask, copied, in fixed-mask mode. */
  readonly mask: Uint8Array;
  /** Absolute value added to diag H: percdampUsed·mean(diag H). */
  readonly dampingUsed: number;
  /** Number of input columns with H_jj = 0; their weights are set to zero whatever the mask says. */
  readonly deadInputs: number;
  readonly diagnostics: SparseGptDiagnostics;
}

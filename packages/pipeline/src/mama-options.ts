// ---- MAMA's options: the method options a run gives, the refit-solver contract, the resolved settings ----

import type { ComputeBackend, Logger, Matrix } from "@mama-prune/core";
import type { MamaOptions, Normalization } from "@mama-prune/scoring";
import { type MamaPath, type MamaWideOptions, type MamaWideSettings, mamaWideSettings } from "./mama-wide.ts";
/**
 * Options of the MAMA method (`methodOptions` / `mama` of a run). The score terms are those of the
 * `mama` scorer of @mama-prune/scoring, plus the OBS saliency and the procedure's steps.
 */
export interface MamaMethodOptions extends MamaOptions {
  /**
   * Weight of the OBS saliency term w²/[H⁻¹]_jj (the loss increase of pruning w alone with an optimal
   * update of the rest, Hassibi & Stork 1993; SparseGPT's criterion). Needs the Gram matrix. Default
   * see `MAMA_PIPELINE_DEFAULTS`.
   */
  readonly obsWeight?: number;
  /**
   * Gradual steps within each linear: step t prunes up to the t-th point of the schedule, scoring the
   * CURRENT (refitted) weights, then refits. 1 = one-shot (score the dense weights once).
   */
  readonly steps?: number;
  /** Schedule of the pruned fraction over the steps: `"linear"` (s·t/k) or `"cubic"` (s·(1 − (1 − t/k)³)). */
  readonly schedule?: "linear" | "cubic";
  /** Exact least-squares refit of the kept weights after every step (false: W ⊙ mask, no update). */
  readonly refit?: boolean;
  /**
   * Mask refinement after the steps (`swapRefineMask`): `"swap"` swaps kept and pruned weights of a
   * row (of an M-run for N:M) while the exact reconstruction loss drops, then refits once; `"none"`
   * skips it. Applies to N:M levels (`"nm"`, the default) or to every level (`"all"`).
   */
  readonly refine?: "none" | "swap";
  /**
   * Move set of the refinement (`swapRefineMask`'s `moves`): `"swap"` one kept ↔ one pruned weight;
   * `"group"` (N:M levels) every other mask of one M-run with the rest of the row fixed (default `"swap"`).
   */
  readonly refineMoves?: "swap" | "group";
  /**
   * Relative damping of the refinement's search loss (λ / mean(diag H)); undefined: the refit's damping.
   * The refit after the search keeps the run's damping.
   */
  readonly refineDamping?: number;
  /**
   * Starts of the refinement (multi-start): `"steps"` (the gradual steps' mask), `"sparsegpt"`
   * (SparseGPT's mask of the dense weight), `"admm"` (`admmMask`, ALPS-style ADMM); each start is refined, and per row the refined mask with the
   * lowest exact loss is kept (ties: the earlier start). Default `["steps"]`.
   */
  readonly refineStarts?: readonly ("steps" | "sparsegpt" | "admm")[];
  /** Iterated local search of the refinement at N:M levels: kicks per row (`swapRefineMask`'s `kicks`; default 0). */
  readonly refineKicks?: number;
  /** Which levels {@link MamaMethodOptions.refine} applies to (default `"nm"`). */
  readonly refineLevels?: "nm" | "all";
  /** Widest layer (cols) the refinement runs on; its cost grows as rows·cols³ (default 256: measured 7.6 s for 64 × 192 from an arbitrary 2:4 mask, 63 s for 64 × 384, on a loaded 2-core machine). */
  readonly refineMaxCols?: number;
  /**
   * Per-linear path (see `MamaPath`): `"auto"` (default) picks by estimated cost (`chooseMamaPath`:
   * the exact kept-set path on narrow layers, the wide path on 1B/7B-width ones); `"exact"` / `"wide"`
   * force one (e.g. to measure what the wide path's approximation costs on small models).
   */
  readonly path?: "auto" | MamaPath;
  /** Knobs of the wide path (steps, intermediate PCG budget, OBS term; see `MamaWideOptions`). */
  readonly wide?: MamaWideOptions;
  /**
   * Whose outputs the refit reconstructs: `"layer"` (default, as every method): min ‖(W' − W)X̃‖² on
   * the pruned model's input X̃ of the linear; `"dense"`: min ‖W'X̃ − WX‖² with X the DENSE model's
   * input of the same linear on the same windows (H̃_KK·w'_K = (C·w)_K with the cross-Gram C = X̃ᵀX),
   * so the errors of the blocks pruned before are corrected too. `"dense"` makes the run carry the
   * dense model's hidden states beside the pruned ones and accumulate C (stats `crossGram`); it needs
   * the refit on. See `denseTargetWeight`.
   */
  readonly target?: "layer" | "dense";
  /**
   * With `target: "dense"`: α ∈ [0, 1], the refit's target input is αX + (1 − α)X̃ (1 = the dense
   * model's outputs; default 1).
   */
  readonly targetBlend?: number;
  /**
   * With `target: "dense"`: the statistic the dense target is taken from. `"auto"` (default): the
   * product M = W·(C − H̃)ᵀ (M = Σ_t W(x_t − x̃_t)·x̃_tᵀ, out × cols) on inputs with one consumer
   * where it is the cheaper statistic — cols ≥ 512 (the backend path) and 2·out < cols, e.g. a 1B
   * down_proj — and the cross-Gram C = X̃ᵀX elsewhere (every input of the small models);
   * `"cross-gram"`: C everywhere. The two give V to float32 round-off; the report names which ran
   * (`LinearReport.denseTarget`).
   */
  readonly denseTargetStatistic?: "auto" | "cross-gram";
  /**
   * N:M runs of `prune` / `pruneToCheckpoint` only: `"channels"` permutes the input channels of
   * o_proj (within each kv head, with v_proj's rows) and down_proj (with gate_proj's and up_proj's
   * rows) before they are pruned, chosen so the N:M runs drop the least w²·H_jj (Pool & Yu 2021; RIA's
   * channel allocation + swaps); the model stays the same function (`permuteBlockChannels`). A linear
   * pruned on its own (`pruneLinear`) is not permuted. Default `"none"`.
   */
  readonly permute?: "none" | "channels";
}

/** Options a {@link RefitSolver} receives. */
export interface RefitSolverOptions {
  /** Relative damping λ / mean(diag H). */
  readonly damping?: number;
  readonly name: string;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
  /** The run's compute backend (the PCG refit runs its GEMMs there). */
  readonly backend?: ComputeBackend;
  /** Warm start for an iterative solver (the previous step's weights); the direct solve ignores it. */
  readonly initialWeight?: Float32Array;
  /** Iteration budget for an iterative solver on an intermediate step (default: full tolerance). */
  readonly maxIterations?: number;
  /** Ask an iterative solver for `hDelta` = (W' − W)·H from its own GEMMs (it may ignore it). */
  readonly hDelta?: boolean;
  /**
   * With `hDelta`: hand (W' − W)·H to this sink row block by row block, in row order (`offset`: the
   * index of the block's first value; `weight`: the block's refitted rows; both views valid during
   * the call only), instead of returning it as one rows × cols array; the result then says
   * `hDeltaSunk`. A solver may ignore it (and return `hDelta`).
   */
  readonly hDeltaSink?: (offset: number, weight: Float32Array, hDelta: Float32Array) => void;
  /**
   * The caller reads `initialWeight` no more: the solver may write its result into that array (and
   * return it) instead of a new one (it may ignore this).
   */
  readonly overwriteInitialWeight?: boolean;
}

/** What a {@link RefitSolver} returns (a subset of `leastSquaresRefit`'s result). */
export interface RefitSolverResult {
  /** Refitted weights (rows·cols), pruned entries exactly 0. */
  readonly weight: Float32Array;
  readonly dampingUsed: number;
  readonly warnings: readonly string[];
  /** Which solver ran, when the solver says ("direct" / "pcg"). */
  readonly solver?: "direct" | "pcg";
  /** (W' − W)·H (rows × cols, undamped H), when asked for and the solver tracked it. */
  readonly hDelta?: Float32Array;
  /** Every row's (W' − W)·H went to the options' `hDeltaSink` (no `hDelta` then). */
  readonly hDeltaSunk?: boolean;
}

/**
 * Solves min ‖(W' − W)X‖² over W' supported on `mask`, per row, with H = XᵀX (+ damping): the
 * exact direct solve `leastSquaresRefit` (default) or any solver with the same contract (an iterative
 * one for wide layers).
 */
export type RefitSolver = (
  weight: Matrix,
  hessian: Float64Array,
  mask: Uint8Array,
  options: RefitSolverOptions,
) => Promise<RefitSolverResult>;

/** The resolved knobs of {@link mamaLinearProcedure} (every option filled in). */
export interface MamaProcedureSettings {
  readonly magnitudeWeight: number;
  readonly activationWeight: number;
  readonly obsWeight: number;
  readonly movementWeight: number;
  readonly useMovement: boolean;
  readonly useSampleWeights: boolean;
  readonly normalize: Normalization;
  readonly group: "row" | "matrix";
  readonly steps: number;
  readonly schedule: "linear" | "cubic";
  readonly refit: boolean;
  readonly refine: "none" | "swap";
  readonly refineLevels: "nm" | "all";
  readonly refineMaxCols: number;
  readonly path: "auto" | MamaPath;
  readonly wide: MamaWideSettings;
  readonly target: "layer" | "dense";
  readonly targetBlend: number;
  readonly denseTargetStatistic: "auto" | "cross-gram";
  readonly refineMoves: "swap" | "group";
  readonly refineDamping: number | undefined;
  readonly refineStarts: readonly ("steps" | "sparsegpt" | "admm")[];
  readonly refineKicks: number;
  readonly permute: "none" | "channels";
}

function weightOf(name: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
    throw new RangeError(`mama: option ${name} must be a finite number >= 0, got ${String(x)}`);
  }
  return x;
}

/**
 * Fill in and check MAMA's options over `defaults` (unset keys take the defaults).
 *
 * @throws RangeError for a negative weight, steps not a positive integer, an unknown normalize,
 *   group or schedule, or every term off.
 */
export function mamaSettings(
  options: MamaMethodOptions | undefined,
  defaults: MamaMethodOptions,
): MamaProcedureSettings {
  const o = { ...defaults, ...(options ?? {}) };
  const useActivations = o.useActivations ?? true;
  const useMovement = o.useMovement ?? false;
  const s: MamaProcedureSettings = {
    magnitudeWeight: weightOf("magnitudeWeight", o.magnitudeWeight, 0),
    activationWeight: useActivations ? weightOf("activationWeight", o.activationWeight, 1) : 0,
    obsWeight: weightOf("obsWeight", o.obsWeight, 0),
    movementWeight: useMovement ? weightOf("movementWeight", o.movementWeight, 0) : 0,
    useMovement,
    useSampleWeights: o.useSampleWeights ?? false,
    normalize: o.normalize ?? "rank",
    group: o.group ?? "row",
    steps: o.steps ?? 1,
    schedule: o.schedule ?? "linear",
    refit: o.refit ?? true,
    refine: o.refine ?? "none",
    refineLevels: o.refineLevels ?? "nm",
    refineMaxCols: o.refineMaxCols ?? 256,
    path: o.path ?? "auto",
    wide: mamaWideSettings(o.wide),
    target: o.target ?? "layer",
    targetBlend: o.targetBlend ?? 1,
    denseTargetStatistic: o.denseTargetStatistic ?? "auto",
    refineMoves: o.refineMoves ?? "swap",
    refineDamping: o.refineDamping,
    refineStarts: o.refineStarts ?? ["steps"],
    refineKicks: o.refineKicks ?? 0,
    permute: o.permute ?? "none",
  };
  if (s.permute !== "none" && s.permute !== "channels") {
    throw new RangeError(`mama: option permute must be "none" or "channels", got ${String(s.permute)}`);
  }
  if (typeof s.targetBlend !== "number" || !(s.targetBlend >= 0 && s.targetBlend <= 1)) {
    throw new RangeError(`mama: option targetBlend must be in [0, 1], got ${String(s.targetBlend)}`);
  }
  if (s.denseTargetStatistic !== "auto" && s.denseTargetStatistic !== "cross-gram") {
    throw new RangeError(
      `mama: option denseTargetStatistic must be "auto" or "cross-gram", got ${String(s.denseTargetStatistic)}`,
    );
  }
  if (s.target !== "layer" && s.target !== "dense") {
    throw new RangeError(`mama: option target must be "layer" or "dense", got ${String(s.target)}`);
  }
  if (s.target === "dense" && !s.refit) {
    throw new RangeError('mama: option target "dense" needs the refit. Expected refit true, got false');
  }
  if (!Number.isInteger(s.refineKicks) || s.refineKicks < 0) {
    throw new RangeError(`mama: option refineKicks must be an integer >= 0, got ${String(s.refineKicks)}`);
  }
  if (s.refineDamping !== undefined && !(Number.isFinite(s.refineDamping) && s.refineDamping >= 0)) {
    throw new RangeError(
      `mama: option refineDamping must be a finite number >= 0, got ${String(s.refineDamping)}`,
    );
  }
  if (
    s.refineStarts.length === 0 ||
    s.refineStarts.some((x) => x !== "steps" && x !== "sparsegpt" && x !== "admm") ||
    new Set(s.refineStarts).size !== s.refineStarts.length
  ) {
    throw new RangeError(
      `mama: option refineStarts must list distinct starts from "steps", "sparsegpt", "admm", got ${JSON.stringify(s.refineStarts)}`,
    );
  }
  if (s.refineMoves !== "swap" && s.refineMoves !== "group") {
    throw new RangeError(`mama: option refineMoves must be "swap" or "group", got ${String(s.refineMoves)}`);
  }
  if (s.refine !== "none" && s.refine !== "swap") {
    throw new RangeError(`mama: option refine must be "none" or "swap", got ${String(s.refine)}`);
  }
  if (s.refineLevels !== "nm" && s.refineLevels !== "all") {
    throw new RangeError(`mama: option refineLevels must be "nm" or "all", got ${String(s.refineLevels)}`);
  }
  if (!Number.isInteger(s.refineMaxCols) || s.refineMaxCols < 0) {
    throw new RangeError(
      `mama: option refineMaxCols must be an integer >= 0, got ${String(s.refineMaxCols)}`,
    );
  }
  if (s.path !== "auto" && s.path !== "exact" && s.path !== "wide") {
    throw new RangeError(`mama: option path must be "auto", "exact" or "wide", got ${String(s.path)}`);
  }
  if (s.normalize !== "rank" && s.normalize !== "zscore") {
    throw new RangeError(`mama: option normalize must be "rank" or "zscore", got ${String(s.normalize)}`);
  }
  if (s.group !== "row" && s.group !== "matrix") {
    throw new RangeError(`mama: option group must be "row" or "matrix", got ${String(s.group)}`);
  }
  if (s.schedule !== "linear" && s.schedule !== "cubic") {
    throw new RangeError(`mama: option schedule must be "linear" or "cubic", got ${String(s.schedule)}`);
  }
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 64) {
    throw new RangeError(`mama: option steps must be an integer in [1, 64], got ${String(s.steps)}`);
  }
  if (s.magnitudeWeight + s.activationWeight + s.obsWeight + s.movementWeight === 0) {
    throw new RangeError("mama: every term is off. Expected at least one term with a weight > 0, got none");
  }
  return s;
}

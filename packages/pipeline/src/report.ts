// ---- What prune reports, per linear and overall ----

import type { LinearName, LlamaModel } from "@mama-prune/model";
import type { MaskGroup, SparsityAllocation } from "@mama-prune/scoring";
import type { Redistribution } from "./method.ts";

/** One pruned linear in a {@link PruneReport}. */
export interface LinearReport {
  /** Checkpoint tensor name, e.g. `model.layers.3.mlp.down_proj.weight`. */
  readonly name: string;
  readonly layer: number;
  readonly linear: LinearName;
  readonly shape: readonly [number, number];
  /** Zeros in the final weight (including any zeros that were there before). */
  readonly zeros: number;
  readonly sparsity: number;
  /** Requested sparsity of this linear (N/M for N:M). */
  readonly targetSparsity: number;
  /**
   * N:M only: how many input columns at the end of each row formed a tail group shorter than M
   * (cols % M, 0 when M divides the width); that group loses floor(N·t/M) (core's `nmGroupPruned`), so
   * `sparsity` (measured) can be below N/M.
   */
  readonly nmTailColumns?: number;
  /** trace((W − W')·H·(W − W')ᵀ) with H = Σ w·xxᵀ of the dense block's input; only when H was collected. */
  readonly reconstructionError?: number;
  /** The redistribution that ran on this linear ("auto" is the refit). */
  readonly redistribution: Exclude<Redistribution, "auto">;
  /**
   * Which refit solver ran, when a refit ran: `"direct"` (leastSquaresRefit) or `"pcg"` (batched PCG on
   * the backend), chosen per linear by redistribute's `chooseRefitSolver` from their estimated costs;
   * MAMA's wide path with `wide.solver: "sweep"`: `"sweep"` (SparseGPT's OBS sweep on the refit's
   * target, MAMA's mask chosen inside it, plus any `wide.polishIterations`).
   */
  readonly refitSolver?: "direct" | "pcg" | "sweep";
  /**
   * MAMA only: which per-linear path ran, chosen by estimated cost (`chooseMamaPath`) or forced with
   * the `path` option: `"exact"` (every step's OBS term from each row's kept-set inverse
   * [(H_KK + λI)⁻¹]_jj, full refits) or `"wide"` (the OBS term from one factorisation's [(H + λI)⁻¹]_jj,
   * `MAMA_WIDE_STEPS` steps, warm-started PCG with a small budget until the final full-tolerance refit).
   */
  readonly mamaPath?: "exact" | "wide";
  /**
   * MAMA's dense target only: the statistic V came from — `"cross-gram"` (C = X̃ᵀX) or `"product"`
   * (M = W·(C − H̃)ᵀ, chosen by the two-stream pass where it is cheaper: one consumer, cols ≥ 512,
   * 2·rows < cols; see `useTargetProduct`).
   */
  readonly denseTarget?: "cross-gram" | "product";
  /** Absolute damping added by SparseGPT / refit, when used. */
  readonly dampingUsed?: number;
  /** ‖shift‖₂ that mean compensation would fold into a bias (redistribution "mean" only). */
  readonly meanShiftNorm?: number;
  /** Scoring + mask + redistribution time. */
  readonly wallTimeMs: number;
}

/** What {@link prune} did, per layer and overall. */
export interface PruneReport {
  /** The method's name. */
  readonly method: string;
  /** Scorer name, or "sparsegpt-adaptive". */
  readonly scorer: string;
  readonly group: MaskGroup;
  readonly redistribution: Redistribution;
  /** The requested sparsity (number, or "N:M"). */
  readonly sparsity: number | string;
  readonly allocation: SparsityAllocation["kind"];
  /** Target sparsity per block (N/M for every block with N:M). */
  readonly perBlockSparsity: readonly number[];
  readonly linears: readonly LinearReport[];
  /** Zeros and weights over all block linears. */
  readonly zeros: number;
  readonly total: number;
  readonly overallSparsity: number;
  /** Calibration protocol; undefined for data-free runs. */
  readonly calibration?: {
    readonly nsamples: number;
    readonly seqlen: number;
    readonly tokens: number;
    readonly weighted: boolean;
    readonly protocol: string;
  };
  readonly usedPreCheckpoint: boolean;
  readonly backend: string;
  readonly wallTimeMs: number;
  /** Warnings (damping escalations, mean compensation not applicable, …), also sent to the logger. */
  readonly warnings: readonly string[];
}

/** Result of {@link prune}. */
export interface PruneResult {
  /** The pruned model (the `model` option itself when given). */
  readonly model: LlamaModel;
  readonly report: PruneReport;
}

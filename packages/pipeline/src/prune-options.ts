// ---- Options of prune / startPrune and their validation ----

import {
  type ComputeBackend,
  type Logger,
  PruneError,
  type Sparsity,
  validateSparsity,
} from "@mama-prune/core";
import type { LlamaConfig, LlamaModel } from "@mama-prune/model";
import type { MamaOptions, MaskGroup, ScorerPlugin, SparsityAllocation } from "@mama-prune/scoring";
import type { Checkpoint } from "@mama-prune/tensor-io";
import type { Redistribution } from "./method.ts";
import type { MethodRegistry } from "./method-registry.ts";
import type { MethodRef } from "./methods.ts";

/** Calibration windows as produced by `calibrationWindows` (only these fields are used). */
export interface CalibrationInput {
  /** Window tokens, row-major (nsamples, seqlen). */
  readonly tokens: Int32Array;
  readonly nsamples: number;
  readonly seqlen: number;
  /** Description of the draw, copied into the report. */
  readonly protocol?: string;
}

/** A progress event of {@link prune}. */
export interface PruneProgress {
  /**
   * `"load"` (model loaded), `"calibrate"` (calibration windows embedded), `"owl"` (dense pre-pass
   * for OWL, one event per block), `"block"` (one event per pruned block), `"done"`.
   */
  readonly stage: "load" | "calibrate" | "owl" | "block" | "done";
  readonly done: number;
  readonly total: number;
}

/** Options of {@link prune}. */
export interface PruneOptions {
  /** The checkpoint to prune (loaded with `loadLlama`; never modified). Either this or `model`. */
  readonly checkpoint?: Checkpoint;
  /** An already loaded model; its block linears are pruned IN PLACE. Either this or `checkpoint`. */
  readonly model?: LlamaModel;
  /** Backend for `loadLlama` when `checkpoint` is given (default: the model package's CPU backend). */
  readonly backend?: ComputeBackend;
  /**
   * The method: a name looked up in `registry` (`"wanda"`, a plugin's `"acme/power-refit"`), or a
   * definition made by `defineMethod`.
   */
  readonly method: MethodRef;
  /** Where method names are looked up. Default: the built-in methods (`createMethodRegistry(builtinMethods())`). */
  readonly registry?: MethodRegistry;
  /**
   * Unstructured: fraction of zeros per linear in [0, 1) (the mean over blocks with OWL). N:M:
   * `{ n, m }` = N zeros in every M consecutive input columns of each row, 1 ≤ N < M (2:4 = 50 %).
   */
  readonly sparsity: Sparsity;
  /** How the sparsity is spread over blocks: uniform (default), OWL, or explicit per block. Unstructured only. */
  readonly allocation?: SparsityAllocation;
  /** Calibration windows; required by every method but magnitude / neg-magnitude / movement. */
  readonly calibration?: CalibrationInput;
  /**
   * Per-window sample weights (nsamples,), ≥ 0, e.g. reward-derived. Every statistic is weighted by
   * them (Σ w·x², Σ w·x, Σ w·xxᵀ) except the plain activation norms, which stay unweighted so that
   * "activation-norms" and "sample-weighted-activation-norms" differ.
   */
  readonly sampleWeights?: Float32Array;
  /** Pre-trained checkpoint giving W⁰ for movement terms (read block by block). */
  readonly preCheckpoint?: Checkpoint;
  /** Replace the method's scorer (a third-party plugin). */
  readonly scorer?: ScorerPlugin;
  /** Replace the method's comparison group (unstructured only). */
  readonly group?: MaskGroup;
  /** Replace the method's redistribution. */
  readonly redistribution?: Redistribution;
  /** Options of the method, passed to its scorer factory. Default: the definition's `defaultOptions`. */
  readonly methodOptions?: unknown;
  /** MAMA scorer options (method mama; same as `methodOptions`). Default: the measured pipeline defaults. */
  readonly mama?: MamaOptions;
  /** SparseGPT lazy-batch width and mask block width (default 128). */
  readonly blockSize?: number;
  /** SparseGPT percdamp / refit relative damping (default 0.01). */
  readonly damping?: number;
  /** Calibration windows per forward batch (default 8): bounds the size of one block's activations. */
  readonly batchSize?: number;
  /** Compute trace(ΔW·H·ΔWᵀ) per linear when the Gram matrix is collected (default true). */
  readonly reconstructionError?: boolean;
  readonly onProgress?: (event: PruneProgress) => void;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Milliseconds clock (default `performance.now`). */
  readonly clock?: () => number;
  /**
   * A full garbage collection the host can run (e.g. `nodeGarbageCollector()` from
   * `@mama-prune/pipeline/node`), called at the run's memory boundaries: each calibration batch of
   * the two-stream statistics pass (MAMA's dense target), each linear's start (and after a deferred
   * input's statistics) and, inside MAMA, before its sweep and before its final polish. V8 frees large dead ArrayBuffers (and the pooled ones it only
   * holds through WeakRefs) late when the JavaScript heap stays small, so without it a 7B block's dead
   * working arrays stay resident beside the next ones. Results do not depend on it. Default none.
   */
  readonly collectGarbage?: () => void;
}

/**
 * Check the options that need no model: sparsity (core's `validateSparsity`), N:M only with uniform
 * allocation, batchSize.
 *
 * @throws PruneError SPARSITY_INVALID; RangeError for a bad batchSize.
 */
export function checkPruneOptions(o: PruneOptions): void {
  const s = validateSparsity(o.sparsity, "prune", { option: "sparsity" });
  if (typeof s !== "number" && o.allocation !== undefined && o.allocation.kind !== "uniform") {
    throw new PruneError(
      "SPARSITY_INVALID",
      `prune: option allocation must be uniform with N:M sparsity. Expected { kind: "uniform" }, got kind ${o.allocation.kind}.`,
    );
  }
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) {
    throw new RangeError(`prune: option batchSize must be a positive integer, got ${o.batchSize}`);
  }
}

/**
 * Check calibration windows against the model: shape, token range, sample weights.
 *
 * @throws PruneError CALIBRATION_INVALID naming the option.
 */
export function checkCalibration(
  cal: CalibrationInput,
  config: LlamaConfig,
  sampleWeights: Float32Array | undefined,
): void {
  const { nsamples, seqlen, tokens } = cal;
  if (!Number.isInteger(nsamples) || !Number.isInteger(seqlen) || nsamples < 1 || seqlen < 1) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration is empty. Expected nsamples >= 1 windows of seqlen >= 1 tokens, got ${nsamples} × ${seqlen}.`,
    );
  }
  if (!(tokens instanceof Int32Array) || tokens.length !== nsamples * seqlen) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration.tokens has the wrong length. Expected nsamples·seqlen = ${nsamples * seqlen} (Int32Array), got ${tokens?.length}.`,
    );
  }
  if (seqlen > config.maxPositionEmbeddings) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration.seqlen exceeds the model's context. Expected <= ${config.maxPositionEmbeddings}, got ${seqlen}.`,
    );
  }
  const V = config.vocabSize;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= V) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `prune: option calibration.tokens[${i}] is outside the vocabulary. Expected an id in [0, ${V}), got ${t}.`,
      );
    }
  }
  if (sampleWeights !== undefined) {
    if (!(sampleWeights instanceof Float32Array) || sampleWeights.length !== nsamples) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `prune: option sampleWeights has the wrong length. Expected one weight per window (${nsamples}), got ${sampleWeights?.length}.`,
      );
    }
    let total = 0;
    for (let k = 0; k < nsamples; k++) {
      const w = sampleWeights[k]!;
      if (!Number.isFinite(w) || w < 0) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `prune: option sampleWeights[${k}] is invalid. Expected a finite number >= 0, got ${w}.`,
        );
      }
      total += w;
    }
    if (!(total > 0)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        "prune: option sampleWeights sums to zero. Expected at least one positive weight, got all zeros.",
      );
    }
  }
}

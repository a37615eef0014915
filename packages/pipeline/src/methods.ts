// ---- Pruning methods: which scorer, comparison group and redistribution each one uses ----

import { PruneError } from "@mama-prune/core";
import {
  type MamaOptions,
  type MaskGroup,
  magnitude,
  mama,
  movement,
  negativeMagnitude,
  ria,
  type ScorerPlugin,
  wanda,
} from "@mama-prune/scoring";

/** Built-in pruning methods (DESIGN.md §2). `"neg-magnitude"` is the paper's "-weights" ablation. */
export type PruneMethod = "magnitude" | "neg-magnitude" | "wanda" | "sparsegpt" | "movement" | "ria" | "mama";

/** Every {@link PruneMethod}, in table order. */
export const PRUNE_METHODS: readonly PruneMethod[] = [
  "magnitude",
  "neg-magnitude",
  "wanda",
  "sparsegpt",
  "movement",
  "ria",
  "mama",
];

/** Display names of the built-in methods (the paper's column names). */
export const METHOD_LABELS: Readonly<Record<PruneMethod, string>> = {
  magnitude: "Magnitude",
  "neg-magnitude": "by -Weights",
  wanda: "Wanda",
  sparsegpt: "SparseGPT",
  movement: "Movement",
  ria: "RIA",
  mama: "MAMA",
};

/**
 * How the kept weights are updated once a mask is chosen:
 * - `"none"`: W' = W ⊙ mask;
 * - `"sparsegpt"`: SparseGPT's OBS updates (its own adaptive mask for method sparsegpt, the scorer's
 *   fixed mask otherwise);
 * - `"refit"`: exact least-squares refit of each row's kept weights for the fixed mask;
 * - `"mean"`: mean compensation through E[x] — only a bias can carry it and Llama linears have none,
 *   so on Llama it changes nothing and the report says so (the shift it would add is reported);
 * - `"auto"`: `"refit"` when its cost rows·min(kept, pruned)³/6 per linear is at most
 *   {@link REFIT_AUTO_MAX_FLOPS}, else `"sparsegpt"` with the fixed mask (O(cols³ + rows·cols²)). The exact
 *   refit solves one system per row and is out of reach for 4k-wide layers; the report says which one ran.
 */
export type Redistribution = "none" | "sparsegpt" | "refit" | "mean" | "auto";

/** Every {@link Redistribution}. */
export const REDISTRIBUTIONS: readonly Redistribution[] = ["none", "sparsegpt", "refit", "mean", "auto"];

/**
 * Largest estimated refit cost (multiply-adds, rows·min(kept, pruned)³/6) for which `"auto"` picks the
 * exact refit: about 10–20 s of plain JS per linear. stories260K's linears are far below it; a
 * 1024-wide linear at 50 % (1024·512³/6 ≈ 2.3e10) is above it.
 */
export const REFIT_AUTO_MAX_FLOPS = 1e10;

/**
 * The measured MAMA defaults used by the pipeline when `mama` options are not given (results/mama-tuning.md:
 * tuned on a held-out slice of the CALIBRATION split at 50 % and 70 %, never on the evaluation split).
 * On stories260K the activation term alone (= Wanda's |W|·‖X_j‖₂, per row) with the exact least-squares
 * refit was best (mean log-ppl 3.563; adding |W| with weight 1 or mixing by z-scores was 0.01–0.02 worse;
 * SparseGPT-style OBS with the same mask 0.17 worse; no redistribution 0.46 worse). On the fine-tuned pair
 * (data/stories260K-finetune) a movement term with weight 0.25 helped (2.925 vs 2.970 without; 0.5 and 1
 * were worse), so the movement term is mixed in with weight 0.25 whenever a `preCheckpoint` is given.
 * Redistribution "auto" = that refit where affordable, OBS with the fixed mask on wide layers.
 */
export const MAMA_PIPELINE_DEFAULTS: Readonly<{
  scorer: MamaOptions;
  redistribution: Redistribution;
}> = {
  scorer: {
    magnitudeWeight: 0,
    activationWeight: 1,
    movementWeight: 0.25,
    normalize: "rank",
    group: "row",
    useActivations: true,
  },
  redistribution: "auto",
};

/** A method resolved to its parts (see {@link resolveMethod}). */
export interface ResolvedMethod {
  readonly method: PruneMethod;
  /** Undefined for SparseGPT's adaptive mask. */
  readonly scorer: ScorerPlugin | undefined;
  /** Comparison group for unstructured sparsity (N:M always uses "n:m"). */
  readonly group: MaskGroup;
  readonly redistribution: Redistribution;
}

/** Options of {@link resolveMethod}. */
export interface ResolveMethodOptions {
  /** Replace the method's scorer (not allowed with sparsegpt, whose mask is adaptive). */
  readonly scorer?: ScorerPlugin;
  /** Replace the method's comparison group for unstructured sparsity. */
  readonly group?: MaskGroup;
  /** Replace the method's redistribution. */
  readonly redistribution?: Redistribution;
  /** Options of the MAMA scorer (method mama only). Default {@link MAMA_PIPELINE_DEFAULTS}. */
  readonly mama?: MamaOptions;
  /** A pre-trained checkpoint is available: the default MAMA options then add the movement term. */
  readonly hasPreCheckpoint?: boolean;
}

/**
 * Resolve a method name to its scorer, comparison group and redistribution:
 *
 * | method | scorer | group | redistribution |
 * |---|---|---|---|
 * | magnitude | \|W\| | matrix | none |
 * | neg-magnitude | −\|W\| | matrix | none |
 * | wanda | \|W\|·‖X_j‖₂ | row | none |
 * | sparsegpt | adaptive w²/U_jj² per 128-column block | block | sparsegpt |
 * | movement | W¹(W¹ − W⁰) | matrix | none |
 * | ria | RIA (a = 0.5, with ‖X_j‖) | matrix | none |
 * | mama | mama (measured defaults; + movement with a pre-trained checkpoint) | row | auto |
 *
 * @throws PruneError SCORER_NOT_FOUND for an unknown method (naming option `method`);
 *   RECIPE_INVALID for a scorer override with sparsegpt, or an unknown redistribution/group.
 * @example
 * resolveMethod("wanda").group; // "row"
 */
export function resolveMethod(method: PruneMethod, options: ResolveMethodOptions = {}): ResolvedMethod {
  if (!(PRUNE_METHODS as readonly string[]).includes(method)) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `prune: option method is unknown. Expected one of ${PRUNE_METHODS.join(", ")}, got ${JSON.stringify(String(method)).slice(0, 60)}.`,
    );
  }
  if (options.redistribution !== undefined && !REDISTRIBUTIONS.includes(options.redistribution)) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option redistribution is unknown. Expected one of ${REDISTRIBUTIONS.join(", ")}, got ${JSON.stringify(String(options.redistribution)).slice(0, 60)}.`,
    );
  }
  if (options.group !== undefined && !["matrix", "row", "block"].includes(options.group)) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option group is invalid for unstructured sparsity. Expected "matrix", "row" or "block", got ${JSON.stringify(String(options.group)).slice(0, 60)}.`,
    );
  }
  if (method === "sparsegpt" && options.scorer !== undefined) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option scorer cannot be combined with method sparsegpt (its mask is adaptive). Expected another method, got scorer ${options.scorer.name}.`,
    );
  }
  let base: { scorer: ScorerPlugin | undefined; group: MaskGroup; redistribution: Redistribution };
  switch (method) {
    case "magnitude":
      base = { scorer: magnitude(), group: "matrix", redistribution: "none" };
      break;
    case "neg-magnitude":
      base = { scorer: negativeMagnitude(), group: "matrix", redistribution: "none" };
      break;
    case "wanda":
      base = { scorer: wanda(), group: "row", redistribution: "none" };
      break;
    case "sparsegpt":
      base = { scorer: undefined, group: "block", redistribution: "sparsegpt" };
      break;
    case "movement":
      base = { scorer: movement(), group: "matrix", redistribution: "none" };
      break;
    case "ria":
      base = { scorer: ria(), group: "matrix", redistribution: "none" };
      break;
    case "mama": {
      const opts = options.mama ?? {
        ...MAMA_PIPELINE_DEFAULTS.scorer,
        useMovement: options.hasPreCheckpoint === true,
      };
      base = {
        scorer: mama(opts),
        group: opts.group ?? "row",
        redistribution: MAMA_PIPELINE_DEFAULTS.redistribution,
      };
      break;
    }
  }
  if (
    method === "sparsegpt" &&
    options.redistribution !== undefined &&
    options.redistribution !== "sparsegpt"
  ) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option redistribution must be "sparsegpt" with method sparsegpt. Expected "sparsegpt", got ${JSON.stringify(options.redistribution)}.`,
    );
  }
  return {
    method,
    scorer: options.scorer ?? base.scorer,
    group: options.group ?? base.group,
    redistribution: options.redistribution ?? base.redistribution,
  };
}

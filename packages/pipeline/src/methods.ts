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

/**
 * How the kept weights are updated once a mask is chosen:
 * - `"none"`: W' = W ⊙ mask;
 * - `"sparsegpt"`: SparseGPT's OBS updates (its own adaptive mask for method sparsegpt, the scorer's
 *   fixed mask otherwise);
 * - `"refit"`: exact least-squares refit of each row's kept weights for the fixed mask;
 * - `"mean"`: mean compensation through E[x] — only a bias can carry it and Llama linears have none,
 *   so on Llama it changes nothing and the report says so (the shift it would add is reported).
 */
export type Redistribution = "none" | "sparsegpt" | "refit" | "mean";

/** Every {@link Redistribution}. */
export const REDISTRIBUTIONS: readonly Redistribution[] = ["none", "sparsegpt", "refit", "mean"];

/**
 * The measured MAMA defaults used by the pipeline when `mama` options are not given (see
 * results/mama-tuning.md: tuned on a held-out slice of the calibration split at 50 % and 70 %).
 */
export const MAMA_PIPELINE_DEFAULTS: Readonly<{
  scorer: MamaOptions;
  redistribution: Redistribution;
}> = {
  scorer: {
    magnitudeWeight: 0,
    activationWeight: 1,
    movementWeight: 0,
    normalize: "rank",
    group: "row",
    useActivations: true,
  },
  redistribution: "sparsegpt",
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
  /** Options of the MAMA scorer (method mama only). */
  readonly mama?: MamaOptions;
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
 * | mama | mama (measured defaults) | row | measured default |
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
      const opts = options.mama ?? MAMA_PIPELINE_DEFAULTS.scorer;
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

// ---- The built-in pruning methods, and resolving a method (name or value) for one run ----

import { PruneError } from "@mama-prune/core";
import {
  type MamaOptions,
  type MaskGroup,
  magnitude,
  movement,
  negativeMagnitude,
  ria,
  type ScorerInput,
  type ScorerPlugin,
  type SparsityAllocation,
  validateScorerMetadata,
  wanda,
} from "@mama-prune/scoring";
import { createMamaMethod } from "./mama-method.ts";
import {
  defineMethod,
  isMethodDefinition,
  type LinearProcedure,
  type MethodEnvironment,
  type PruneMethodDefinition,
  REDISTRIBUTIONS,
  type Redistribution,
  UNSTRUCTURED_GROUPS,
  validateMethodDefinition,
} from "./method.ts";
import { createMethodRegistry, type MethodRegistry } from "./method-registry.ts";
import type { StatsNeeds } from "./stats.ts";

/** Built-in pruning methods (DESIGN.md §2). `"neg-magnitude"` is the paper's "-weights" ablation. */
export type PruneMethod = "magnitude" | "neg-magnitude" | "wanda" | "sparsegpt" | "movement" | "ria" | "mama";

/** A method for one run: a registered name (`"wanda"`, `"acme/power-refit"`) or a definition value. */
export type MethodRef = string | PruneMethodDefinition;

export { MAMA_PIPELINE_DEFAULTS } from "./mama-method.ts";

/**
 * The built-in methods as values, in table order:
 *
 * | method | scorer | group | redistribution |
 * |---|---|---|---|
 * | magnitude | \|W\| | matrix | none |
 * | neg-magnitude | −\|W\| | matrix | none |
 * | wanda | \|W\|·‖X_j‖₂ | row | none |
 * | sparsegpt | adaptive w²/U_jj² per 128-column block | block | sparsegpt |
 * | movement | W¹(W¹ − W⁰) | matrix | none |
 * | ria | RIA (a = 0.5, with ‖X_j‖) | matrix | none |
 * | mama | gradual |W|·‖X_j‖ + OBS saliency → mask → exact refit (createMamaMethod) | row | refit |
 */
export const BUILTIN_METHODS: readonly PruneMethodDefinition[] = [
  defineMethod({
    name: "magnitude",
    label: "Magnitude",
    description: "keep the largest |W| over the whole matrix",
    scorer: () => magnitude(),
    group: "matrix",
    redistribution: "none",
  }),
  defineMethod({
    name: "neg-magnitude",
    label: "by -Weights",
    description: "keep the smallest |W| (the paper's -weights ablation)",
    scorer: () => negativeMagnitude(),
    group: "matrix",
    redistribution: "none",
  }),
  defineMethod({
    name: "wanda",
    label: "Wanda",
    description: "keep the largest |W|·‖X_j‖₂ in each row (Sun et al. 2023)",
    scorer: () => wanda(),
    group: "row",
    redistribution: "none",
  }),
  defineMethod({
    name: "sparsegpt",
    label: "SparseGPT",
    description: "OBS updates with SparseGPT's adaptive mask (Frantar & Alistarh 2023)",
    scorer: "adaptive",
    group: "block",
    redistribution: "sparsegpt",
  }),
  defineMethod({
    name: "movement",
    label: "Movement",
    description: "keep the largest W¹(W¹ − W⁰) (needs a pre-trained checkpoint)",
    scorer: () => movement(),
    group: "matrix",
    redistribution: "none",
  }),
  defineMethod({
    name: "ria",
    label: "RIA",
    description: "relative importance and activations (Zhang et al. 2024)",
    scorer: () => ria(),
    group: "matrix",
    redistribution: "none",
  }),
  createMamaMethod(),
];

/**
 * The built-in method definitions, for `createMethodRegistry` (definitions are frozen values: the
 * same objects every call).
 *
 * @example
 * const registry = createMethodRegistry(builtinMethods());
 */
export function builtinMethods(): PruneMethodDefinition[] {
  return [...BUILTIN_METHODS];
}

/** Every {@link PruneMethod}, in table order (the names of {@link BUILTIN_METHODS}). */
export const PRUNE_METHODS: readonly PruneMethod[] = BUILTIN_METHODS.map((d) => d.name as PruneMethod);

/** Display names of the built-in methods (the paper's column names), from their definitions. */
export const METHOD_LABELS: Readonly<Record<PruneMethod, string>> = Object.fromEntries(
  BUILTIN_METHODS.map((d) => [d.name, d.label]),
) as Record<PruneMethod, string>;

/** A method resolved to its parts for one run (see {@link resolveMethod}). */
export interface ResolvedMethod {
  /** The method's name. */
  readonly method: string;
  readonly definition: PruneMethodDefinition;
  /** Column label in tables. */
  readonly label: string;
  /** Undefined for SparseGPT's adaptive mask. */
  readonly scorer: ScorerPlugin | undefined;
  /** Comparison group for unstructured sparsity (N:M always uses "n:m"). */
  readonly group: MaskGroup;
  readonly redistribution: Redistribution;
  /**
   * The method's own per-linear procedure for this run (definitions with `linear`), unless the run
   * overrides the scorer or the redistribution.
   */
  readonly linear?: LinearProcedure;
  /** Extra statistics `linear` needs (the definition's `stats`), when `linear` is used. */
  readonly linearStats?: StatsNeeds;
  /** The definition's `permute` for this run (N:M channel permutation), when `linear` is used. */
  readonly permute?: "none" | "channels";
}

/** Options of {@link resolveMethod}. */
export interface ResolveMethodOptions {
  /** Where names are looked up. Default: a registry of {@link BUILTIN_METHODS}. */
  readonly registry?: MethodRegistry;
  /** Replace the method's scorer (not allowed with an adaptive method such as sparsegpt). */
  readonly scorer?: ScorerPlugin;
  /** Replace the method's comparison group for unstructured sparsity. */
  readonly group?: MaskGroup;
  /** Replace the method's redistribution. */
  readonly redistribution?: Redistribution;
  /** The method's options (passed to its scorer factory). Default: the definition's `defaultOptions`. */
  readonly methodOptions?: unknown;
  /** Options of the MAMA scorer (method mama only; same as `methodOptions`). Default {@link MAMA_PIPELINE_DEFAULTS}. */
  readonly mama?: MamaOptions;
  /** A pre-trained checkpoint is available: the default MAMA options then add the movement term. */
  readonly hasPreCheckpoint?: boolean;
}

function shown(v: unknown): string {
  return (JSON.stringify(typeof v === "string" ? v : String(v)) ?? "").slice(0, 60);
}

function lookup(method: MethodRef, registry: MethodRegistry | undefined): PruneMethodDefinition {
  if (typeof method === "string") {
    const reg = registry ?? createMethodRegistry(BUILTIN_METHODS);
    if (!reg.has(method)) {
      throw new PruneError(
        "SCORER_NOT_FOUND",
        `prune: option method is unknown. Expected one of ${reg
          .list()
          .map((d) => d.name)
          .join(", ")}, got ${shown(method)}.`,
      );
    }
    return reg.get(method);
  }
  if (!isMethodDefinition(method)) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `prune: option method is unknown. Expected a method name or a definition from defineMethod, got ${shown(method)}.`,
    );
  }
  const problems = validateMethodDefinition(method);
  if (problems.length > 0) {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `prune: option method (${method.name.slice(0, 80)}) is an invalid method definition. ${problems.join(" ")}`,
    );
  }
  return method;
}

/**
 * Resolve a method (a name looked up in `options.registry`, or a definition) to its scorer,
 * comparison group and redistribution for one run, applying the overrides.
 *
 * @throws PruneError SCORER_NOT_FOUND for an unknown method (naming option `method`);
 *   SCORER_API_UNSUPPORTED for an invalid definition or a factory returning an invalid scorer;
 *   RECIPE_INVALID for a scorer override with an adaptive method, or an unknown redistribution/group.
 * @example
 * resolveMethod("wanda").group; // "row"
 */
export function resolveMethod(method: MethodRef, options: ResolveMethodOptions = {}): ResolvedMethod {
  const def = lookup(method, options.registry);
  const name = def.name;
  if (options.redistribution !== undefined && !REDISTRIBUTIONS.includes(options.redistribution)) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option redistribution is unknown. Expected one of ${REDISTRIBUTIONS.join(", ")}, got ${shown(options.redistribution)}.`,
    );
  }
  if (options.group !== undefined && !(UNSTRUCTURED_GROUPS as readonly string[]).includes(options.group)) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option group is invalid for unstructured sparsity. Expected "matrix", "row" or "block", got ${shown(options.group)}.`,
    );
  }
  const adaptive = def.scorer === "adaptive";
  if (adaptive && options.scorer !== undefined) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option scorer cannot be combined with method ${name} (its mask is adaptive). Expected another method, got scorer ${options.scorer.name}.`,
    );
  }
  if (adaptive && options.redistribution !== undefined && options.redistribution !== "sparsegpt") {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: option redistribution must be "sparsegpt" with method ${name}. Expected "sparsegpt", got ${JSON.stringify(options.redistribution)}.`,
    );
  }
  const given = options.methodOptions ?? (name === "mama" ? options.mama : undefined);
  const env: MethodEnvironment = {
    options: given ?? def.defaultOptions,
    optionsGiven: given !== undefined,
    hasPreCheckpoint: options.hasPreCheckpoint === true,
  };
  let scorer: ScorerPlugin | undefined = options.scorer;
  if (scorer === undefined && def.scorer !== "adaptive") {
    const made: unknown = def.scorer(env);
    const problems = validateScorerMetadata(made);
    if (problems.length > 0) {
      throw new PruneError(
        "SCORER_API_UNSUPPORTED",
        `method ${name}: its scorer factory returned an invalid scorer. ${problems.join(" ")}`,
      );
    }
    scorer = made as ScorerPlugin;
  }
  const linear =
    def.linear !== undefined && options.scorer === undefined && options.redistribution === undefined
      ? def.linear(env)
      : undefined;
  const linearStats = linear !== undefined && def.stats !== undefined ? def.stats(env) : undefined;
  const permute = linear !== undefined && def.permute !== undefined ? def.permute(env) : undefined;
  return {
    method: name,
    definition: def,
    label: def.label,
    scorer,
    group: options.group ?? (typeof def.group === "function" ? def.group(env) : def.group),
    redistribution: options.redistribution ?? def.redistribution,
    ...(linear !== undefined ? { linear } : {}),
    ...(linearStats !== undefined ? { linearStats } : {}),
    ...(permute !== undefined ? { permute } : {}),
  };
}

/** What one run of a method must compute (see {@link methodNeeds}). */
export interface MethodNeeds {
  /** The scorer's declared inputs (empty for an adaptive method). */
  readonly inputs: readonly ScorerInput[];
  /** Statistics of every linear input to accumulate from the calibration windows. */
  readonly stats: StatsNeeds;
  /** Calibration windows are needed (some statistic is). */
  readonly calibration: boolean;
  /** A pre-trained checkpoint (W⁰) is needed (input `"pre-weights"`). */
  readonly preWeights: boolean;
  /** The scorer needs gradients, which the pipeline does not compute. */
  readonly gradients: boolean;
}

/** Run settings that change {@link methodNeeds}. */
export interface MethodNeedsOptions {
  /** OWL needs the activation norms of every input. */
  readonly allocation?: SparsityAllocation;
  /** `true` forces the Gram matrix for the per-linear reconstruction error. */
  readonly reconstructionError?: boolean;
}

/**
 * What a resolved method needs for one run, derived from its scorer's `requires`, its
 * redistribution and the run settings: the statistics to accumulate, and whether calibration
 * windows and a pre-trained checkpoint are needed. The pipeline and the CLI both use this, so
 * "does this method need calibration?" has one answer.
 *
 * @example
 * methodNeeds(resolveMethod("magnitude")).calibration; // false
 * methodNeeds(resolveMethod("wanda")).stats.sqNorm; // true
 */
export function methodNeeds(resolved: ResolvedMethod, options: MethodNeedsOptions = {}): MethodNeeds {
  const req = resolved.scorer?.requires ?? [];
  const r = resolved.redistribution;
  const extra = resolved.linearStats ?? {};
  const stats: StatsNeeds = {
    sqNorm: req.includes("activation-norms") || options.allocation?.kind === "owl" || extra.sqNorm === true,
    // Without sample weights, the weighted norms are the plain ones (accumulated with weight 1).
    weightedSqNorm: req.includes("sample-weighted-activation-norms") || extra.weightedSqNorm === true,
    sum: req.includes("activation-mean") || r === "mean" || extra.sum === true,
    gram:
      r === "sparsegpt" ||
      r === "refit" ||
      r === "auto" ||
      options.reconstructionError === true ||
      extra.gram === true,
    // Only a method that asks for it (MAMA's dense target): the run then carries the dense stream.
    ...(extra.crossGram === true ? { crossGram: true } : {}),
    ...(extra.crossGram === true && extra.targetProduct === true ? { targetProduct: true } : {}),
  };
  return {
    inputs: req,
    stats,
    calibration: Boolean(stats.sqNorm || stats.weightedSqNorm || stats.sum || stats.gram || stats.crossGram),
    preWeights: req.includes("pre-weights"),
    gradients: req.includes("gradients"),
  };
}

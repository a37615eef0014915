// ---- A pruning method as a value: scorer, comparison group, redistribution ----

import { type ComputeBackend, type Logger, type Matrix, PruneError, type Sparsity } from "@mama-prune/core";
import type { MaskGroup, ScorerPlugin } from "@mama-prune/scoring";
import type { LinearInputStats, StatsNeeds } from "./stats.ts";

/**
 * How the kept weights are updated once a mask is chosen:
 * - `"none"`: W' = W ⊙ mask;
 * - `"sparsegpt"`: SparseGPT's OBS updates (its own adaptive mask for method sparsegpt, the scorer's
 *   fixed mask otherwise);
 * - `"refit"`: exact least-squares refit of each row's kept weights for the fixed mask;
 * - `"mean"`: mean compensation through E[x] — only a bias can carry it and Llama linears have none,
 *   so on Llama it changes nothing and the report says so (the shift it would add is reported);
 * - `"auto"`: the exact refit, always — its solver is chosen per linear by redistribute's
 *   `chooseRefitSolver` (the direct solve where cheap, batched PCG on the compute backend on wide
 *   layers), never a silent switch to OBS; `LinearReport.refitSolver` names the solver that ran.
 */
export type Redistribution = "none" | "sparsegpt" | "refit" | "mean" | "auto";

/** Every {@link Redistribution}. */
export const REDISTRIBUTIONS: readonly Redistribution[] = ["none", "sparsegpt", "refit", "mean", "auto"];

/** Comparison groups for unstructured sparsity (N:M always compares within each run of M columns). */
export type UnstructuredGroup = Exclude<MaskGroup, "n:m">;

/** Every {@link UnstructuredGroup}. */
export const UNSTRUCTURED_GROUPS: readonly UnstructuredGroup[] = ["matrix", "row", "block"];

/** The plugin API version of method definitions this package implements. */
export const METHOD_API_VERSION = 1 as const;

/** What a method's scorer factory (and group function) sees for one run. */
export interface MethodEnvironment<O = unknown> {
  /** The run's method options, or the definition's `defaultOptions` when the run gives none. */
  readonly options: O | undefined;
  /** True when the run gave options (false: `options` are the definition's defaults). */
  readonly optionsGiven: boolean;
  /** A pre-trained checkpoint (W⁰, input `"pre-weights"`) is available for this run. */
  readonly hasPreCheckpoint: boolean;
}

/**
 * A function of the run's {@link MethodEnvironment}. Declared through a method signature so that a
 * definition typed for its own options (`PruneMethodDefinition<MamaOptions>`) is still a
 * `PruneMethodDefinition` (parameters of method signatures are checked bivariantly).
 */
export type MethodFunction<O, R> = { fn(env: MethodEnvironment<O>): R }["fn"];

/** What a method's own per-linear procedure ({@link MethodDefinitionInput.linear}) receives for one linear. */
export interface LinearProcedureInput {
  /** Tensor name, e.g. `model.layers.3.mlp.down_proj.weight`. */
  readonly name: string;
  /** The dense weight (rows, cols) = (out, in). Never modified. */
  readonly weight: Matrix;
  /** Validated sparsity: a fraction in [0, 1) (per comparison group) or N:M. */
  readonly sparsity: Sparsity;
  /** The comparison group of unstructured sparsity resolved for this run. */
  readonly group: MaskGroup;
  /** Statistics of the linear's input (what `methodNeeds` asked for), absent for data-free runs. */
  readonly stats?: LinearInputStats;
  /** Pre-trained weight W⁰ (rows, cols), when the method's scorer requires `"pre-weights"`. */
  readonly preWeight?: Matrix;
  /** Relative damping requested by the run (`PruneOptions.damping`), if any. */
  readonly damping?: number;
  /** The run's compute backend (for solvers that run GEMMs, e.g. the PCG refit). */
  readonly backend?: ComputeBackend;
  /**
   * The caller reads `stats.gram`, `stats.crossGram` and `stats.targetProduct` no more after this
   * call (this linear is the last one of its shared input): the procedure may then reuse their
   * buffers (MAMA factors into the cross-Gram's once the dense target is formed, and hands the
   * product statistic's to its refit once read). Default false.
   */
  readonly gramDisposable?: boolean;
  /**
   * The run's garbage collection hook (`PruneOptions.collectGarbage`), when the host gave one: a
   * procedure may call it before its large allocations (MAMA: before its sweep and its final polish).
   */
  readonly collectGarbage?: () => void;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

/** What a method's own per-linear procedure returns. */
export interface LinearProcedureResult {
  /** The pruned weight (rows·cols, row-major; a new array). */
  readonly weight: Float32Array;
  /** The keep-mask (1 = keep). */
  readonly mask: Uint8Array;
  /** The redistribution that ran, as reported per linear ("none", "refit", "sparsegpt", "mean"). */
  readonly redistribution: Exclude<Redistribution, "auto">;
  /** Absolute damping used by a solver, when one ran. */
  readonly dampingUsed?: number;
  /**
   * Which exact-refit solver ran (the last one, when several refits ran), if a refit ran; `"sweep"`:
   * MAMA's wide-path OBS sweep toward the refit's target (`wide.solver: "sweep"`).
   */
  readonly refitSolver?: "direct" | "pcg" | "sweep";
  /**
   * MAMA only: which per-linear path ran — `"exact"` (kept-set OBS inverse per row mask, full refits)
   * or `"wide"` (one factorisation's [H⁻¹]_jj, fewer steps, warm-started PCG); see `chooseMamaPath`.
   */
  readonly mamaPath?: "exact" | "wide";
  /**
   * MAMA's dense target only: the statistic V came from — `"cross-gram"` (C = X̃ᵀX) or `"product"`
   * (M = W·(C − H̃)ᵀ, chosen by the two-stream pass where it is cheaper: one consumer, cols ≥ 512,
   * 2·rows < cols; see `useTargetProduct`).
   */
  readonly denseTarget?: "cross-gram" | "product";
  /**
   * trace((W − W')·H·(W − W')ᵀ) when the procedure has it from its own products (MAMA's sweep path);
   * `pruneLinear` then reports it instead of measuring it with a rows·cols² GEMM.
   */
  readonly reconstructionError?: number;
  /** Warnings (damping escalations …), already sent to `log`. */
  readonly warnings?: readonly string[];
}

/** A method's own way to prune one linear (mask and weights chosen together, e.g. MAMA). */
export type LinearProcedure = (input: LinearProcedureInput) => Promise<LinearProcedureResult>;

/** What {@link defineMethod} takes (`apiVersion` is filled in). */
export interface MethodDefinitionInput<O = unknown> {
  /** kebab-case (`wanda`), or `scope/name` for third parties (`acme/power-refit`). */
  readonly name: string;
  /** Column label in tables and plots (`"Wanda"`, `"by -Weights"`). */
  readonly label: string;
  /** One line for help texts. */
  readonly description?: string;
  /**
   * `"adaptive"`: SparseGPT chooses the mask itself while it updates the weights (redistribution must
   * be `"sparsegpt"`). Otherwise a factory returning the scorer for one run; the scorer's `requires`
   * is what the run must compute (statistics, calibration, pre-trained weights), see `methodNeeds`.
   */
  readonly scorer: "adaptive" | MethodFunction<O, ScorerPlugin>;
  /** Comparison group for unstructured sparsity, or a function of the run's options (MAMA). */
  readonly group: UnstructuredGroup | MethodFunction<O, UnstructuredGroup>;
  /** How the kept weights are updated. */
  readonly redistribution: Redistribution;
  /** Options used when a run gives none (documentation, and what the factory receives then). */
  readonly defaultOptions?: O;
  /**
   * Optional: the method's own per-linear procedure, for methods whose mask and weights are chosen
   * together (score → mask → refit → rescore …) rather than scorer → mask → redistribution. When given,
   * `pruneLinear` calls it instead of the scorer/mask/redistribution path; the scorer's `requires` and
   * the redistribution still declare what statistics the run collects (`methodNeeds`). A run that
   * overrides the scorer or the redistribution bypasses it (the method then runs as scorer → mask →
   * redistribution).
   */
  readonly linear?: MethodFunction<O, LinearProcedure>;
  /**
   * Optional: statistics the method's own per-linear procedure needs beyond what its scorer's
   * `requires` and its redistribution declare (e.g. MAMA's `target: "dense"` asks for `crossGram`,
   * which makes the run carry the dense model's hidden states beside the pruned ones). Merged into
   * `methodNeeds` only when the run uses `linear` (not when it overrides scorer or redistribution).
   */
  readonly stats?: MethodFunction<O, StatsNeeds>;
  /**
   * Optional, N:M runs only: `"channels"` makes the pipeline permute the input channels of o_proj
   * (within each kv head) and down_proj, with their producers' rows (v_proj; gate_proj, up_proj), before
   * pruning them, so the N:M runs drop the least importance (`permuteBlockChannels`); the model stays
   * the same function. Used only when the run uses `linear`. Default `"none"`.
   */
  readonly permute?: MethodFunction<O, "none" | "channels">;
}

/**
 * A pruning method as a value: the scorer (or SparseGPT's adaptive mask), the comparison group for
 * unstructured sparsity and the redistribution. Built-ins and plugin methods alike are made by
 * {@link defineMethod} and looked up by name in a `MethodRegistry`.
 */
export interface PruneMethodDefinition<O = unknown> extends MethodDefinitionInput<O> {
  /** Checked by the registry; bumped only with a major version of @mama-prune/pipeline. */
  readonly apiVersion: 1;
}

const NAME_RE = /^(?:@?[a-z0-9]+(?:-[a-z0-9]+)*\/)?[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * List what is wrong with a method definition (empty list = valid). Used by {@link defineMethod},
 * the registry and the conformance kit.
 *
 * @example
 * validateMethodDefinition({ name: "x", label: "X", scorer: "adaptive", group: "row", redistribution: "none" });
 * // ['scorer "adaptive" needs redistribution "sparsegpt". Expected "sparsegpt", got "none".']
 */
export function validateMethodDefinition(def: unknown): string[] {
  if (typeof def !== "object" || def === null) return ["a method definition must be an object."];
  const d = def as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof d["name"] !== "string" || !NAME_RE.test(d["name"])) {
    problems.push(
      `name must be kebab-case or "scope/name". Expected ${NAME_RE}, got ${JSON.stringify(d["name"])?.slice(0, 80)}.`,
    );
  }
  if (typeof d["label"] !== "string" || d["label"].trim() === "") {
    problems.push(`label must be a non-empty string. Expected e.g. "Wanda", got ${typeof d["label"]}.`);
  }
  if (d["description"] !== undefined && typeof d["description"] !== "string") {
    problems.push(`description must be a string when given, got ${typeof d["description"]}.`);
  }
  const scorer = d["scorer"];
  if (scorer !== "adaptive" && typeof scorer !== "function") {
    problems.push(
      `scorer must be "adaptive" or a factory function returning a ScorerPlugin, got ${JSON.stringify(scorer)?.slice(0, 40) ?? typeof scorer}.`,
    );
  }
  const group = d["group"];
  if (typeof group !== "function" && !(UNSTRUCTURED_GROUPS as readonly unknown[]).includes(group)) {
    problems.push(
      `group must be "matrix", "row", "block" or a function of the run's options, got ${JSON.stringify(group)?.slice(0, 40) ?? typeof group}.`,
    );
  }
  const red = d["redistribution"];
  if (!(REDISTRIBUTIONS as readonly unknown[]).includes(red)) {
    problems.push(
      `redistribution is unknown. Expected one of ${REDISTRIBUTIONS.join(", ")}, got ${JSON.stringify(red)?.slice(0, 40) ?? typeof red}.`,
    );
  } else if (scorer === "adaptive" && red !== "sparsegpt") {
    problems.push(
      `scorer "adaptive" needs redistribution "sparsegpt". Expected "sparsegpt", got ${JSON.stringify(red)}.`,
    );
  }
  const linear = d["linear"];
  if (linear !== undefined && typeof linear !== "function") {
    problems.push(`linear must be a function of the run's options when given, got ${typeof linear}.`);
  } else if (linear !== undefined && scorer === "adaptive") {
    problems.push(
      'linear cannot be combined with scorer "adaptive". Expected a scorer factory, got "adaptive".',
    );
  }
  if (d["stats"] !== undefined && typeof d["stats"] !== "function") {
    problems.push(`stats must be a function of the run's options when given, got ${typeof d["stats"]}.`);
  } else if (d["stats"] !== undefined && linear === undefined) {
    problems.push(
      "stats declares the needs of the method's own procedure. Expected linear as well, got none.",
    );
  }
  if (d["apiVersion"] !== undefined && d["apiVersion"] !== METHOD_API_VERSION) {
    problems.push(
      `apiVersion is unsupported. Expected ${METHOD_API_VERSION}, got ${String(d["apiVersion"]).slice(0, 40)}.`,
    );
  }
  if (d["permute"] !== undefined && typeof d["permute"] !== "function") {
    problems.push(`permute must be a function of the run's options when given, got ${typeof d["permute"]}.`);
  } else if (d["permute"] !== undefined && linear === undefined) {
    problems.push("permute applies to the method's own procedure. Expected linear as well, got none.");
  }
  return problems;
}

/**
 * Validate a method definition and return it as a frozen {@link PruneMethodDefinition}.
 *
 * @throws PruneError `SCORER_API_UNSUPPORTED` naming the method and every problem found.
 * @example
 * export const method = defineMethod({
 *   name: "acme/power-refit",
 *   label: "acme p=0.5 + refit",
 *   scorer: () => activationPower({ power: 0.5 }),
 *   group: "row",
 *   redistribution: "refit",
 * });
 */
export function defineMethod<O = unknown>(def: MethodDefinitionInput<O>): PruneMethodDefinition<O> {
  const problems = validateMethodDefinition(def);
  if (problems.length > 0) {
    const label =
      typeof (def as { name?: unknown } | null)?.name === "string"
        ? (def as { name: string }).name.slice(0, 80)
        : "<unnamed>";
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `method ${label}: invalid method definition. ${problems.join(" ")}`,
    );
  }
  return Object.freeze({ ...def, apiVersion: METHOD_API_VERSION });
}

/**
 * True when `value` looks like a method definition (an object with a string `name` and a `scorer`);
 * validity is checked by {@link validateMethodDefinition}.
 */
export function isMethodDefinition(value: unknown): value is PruneMethodDefinition {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { name?: unknown }).name === "string" &&
    "scorer" in value &&
    "redistribution" in value
  );
}

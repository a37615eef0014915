import type { Logger, Matrix } from "@mama-prune/core";

/**
 * What a scorer may ask the host to compute. The host computes exactly the declared inputs and
 * `runScorer` passes only those, so a plugin cannot silently depend on an undeclared one.
 *
 * - `"weights"`: the weight itself (always passed; declaring it is allowed and documents intent).
 * - `"activation-norms"`: ‖X_j‖₂ per input column over all calibration tokens, `(cols,)`.
 * - `"activation-mean"`: E[x_j] per input column, `(cols,)`.
 * - `"pre-weights"`: the pre-trained weight of the same tensor (movement), `(rows, cols)`.
 * - `"gradients"`: ∂L/∂W accumulated by the host, `(rows, cols)`.
 * - `"sample-weighted-activation-norms"`: ‖X_j‖₂ with each calibration sample weighted by its
 *   (reward-derived) weight, `(cols,)`.
 */
export type ScorerInput =
  | "weights"
  | "activation-norms"
  | "activation-mean"
  | "pre-weights"
  | "gradients"
  | "sample-weighted-activation-norms";

/** Every known scorer input, in a stable order. */
export const SCORER_INPUTS: readonly ScorerInput[] = [
  "weights",
  "activation-norms",
  "activation-mean",
  "pre-weights",
  "gradients",
  "sample-weighted-activation-norms",
];

/** Scores are produced per weight element (the only granularity of API version 1). */
export type Granularity = "element";

/** The plugin API version this package implements. */
export const SCORER_API_VERSION = 1 as const;

/** Everything a scorer sees for one weight tensor. Inputs are present only when declared in `requires`. */
export interface ScoreContext {
  /** Checkpoint parameter name, e.g. `model.layers.3.mlp.down_proj.weight`. */
  readonly name: string;
  /** The weight, shape (rows, cols) = (out_features, in_features). Read-only: never mutate it. */
  readonly weight: Matrix;
  /** ‖X_j‖₂ per input column, (cols,). Present iff `"activation-norms"` is required. */
  readonly activationNorms?: Float32Array;
  /** E[x_j] per input column, (cols,). Present iff `"activation-mean"` is required. */
  readonly activationMean?: Float32Array;
  /** Reward-weighted ‖X_j‖₂, (cols,). Present iff `"sample-weighted-activation-norms"` is required. */
  readonly sampleWeightedActivationNorms?: Float32Array;
  /** Pre-trained weight of the same tensor, (rows, cols). Present iff `"pre-weights"` is required. */
  readonly preWeight?: Matrix;
  /** Gradient of the loss w.r.t. the weight, (rows, cols). Present iff `"gradients"` is required. */
  readonly gradients?: Matrix;
  /** Number of calibration tokens behind the activation statistics, when known. */
  readonly tokens?: number;
  /** When aborted, `score()` must reject with a `PruneError` of code `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Where warnings go (never console). */
  readonly log: Logger;
}

/**
 * A scorer plugin: a plain object. Higher score = keep. Masks are chosen by `selectMask`, never by
 * the scorer; weight values are never changed by scoring.
 */
export interface ScorerPlugin {
  /** kebab-case (`wanda`), or `scope/name` for third parties (`acme/taylor-score`). */
  readonly name: string;
  /** Checked at `register()`; bumped only with a major version of @mama-prune/scoring. */
  readonly apiVersion: 1;
  /** One score per weight element. */
  readonly granularity: Granularity;
  /** The inputs the host must compute; only these are passed. */
  readonly requires: readonly ScorerInput[];
  /** One finite score per weight, row-major, length rows·cols. Higher = keep. */
  score(ctx: ScoreContext): Float32Array | Promise<Float32Array>;
}

const NAME_RE = /^(?:@?[a-z0-9]+(?:-[a-z0-9]+)*\/)?[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * List what is wrong with a plugin's metadata (empty list = valid). Used by `register()` and the
 * conformance kit.
 *
 * @example
 * validateScorerMetadata({ name: "Bad Name", apiVersion: 1, granularity: "element", requires: [], score: () => new Float32Array() });
 * // ['name must be kebab-case or "scope/name". Expected /…/, got "Bad Name".']
 */
export function validateScorerMetadata(plugin: unknown): string[] {
  const problems: string[] = [];
  if (typeof plugin !== "object" || plugin === null) return ["plugin must be an object"];
  const p = plugin as Record<string, unknown>;
  if (typeof p["name"] !== "string" || !NAME_RE.test(p["name"])) {
    problems.push(
      `name must be kebab-case or "scope/name". Expected ${NAME_RE}, got ${JSON.stringify(p["name"])?.slice(0, 80)}.`,
    );
  }
  if (p["apiVersion"] !== SCORER_API_VERSION) {
    problems.push(`apiVersion is unsupported. Expected 1, got ${String(p["apiVersion"]).slice(0, 40)}.`);
  }
  if (p["granularity"] !== "element") {
    problems.push(
      `granularity is unsupported. Expected "element", got ${String(p["granularity"]).slice(0, 40)}.`,
    );
  }
  const req = p["requires"];
  if (!Array.isArray(req)) {
    problems.push("requires must be an array of scorer inputs.");
  } else {
    const seen = new Set<string>();
    for (const r of req as unknown[]) {
      if (typeof r !== "string" || !(SCORER_INPUTS as readonly string[]).includes(r)) {
        problems.push(
          `requires has an unknown input. Expected one of ${SCORER_INPUTS.join(", ")}, got ${String(r).slice(0, 40)}.`,
        );
      } else if (seen.has(r)) {
        problems.push(`requires lists "${r}" twice.`);
      } else {
        seen.add(r);
      }
    }
  }
  if (typeof p["score"] !== "function") problems.push("score must be a function.");
  return problems;
}

import type { ScoreContext, ScorerInput, ScorerPlugin } from "../contract.ts";
import { checkAbort, needMatrix, needVector } from "./common.ts";
import { createRankScratch, type Normalization, normalizeGroup } from "./normalize.ts";

/**
 * Options of {@link mama}: MAMA's one-shot term mix. The scorer's own defaults below (1/1/1, rank, row)
 * are kept for API stability. The MAMA METHOD of `@mama-prune/pipeline` (`createMamaMethod`,
 * `MAMA_PIPELINE_DEFAULTS`) goes further: gradual score → mask → exact refit steps per linear with a
 * kept-set OBS saliency term (its measured default, results/mama-defaults.md, tuned on the calibration
 * side only); this scorer declares the inputs that method collects and is used as is when a run
 * overrides the method's redistribution. Movement is used only with `useMovement: true`.
 */
export interface MamaOptions {
  /** Weight of the magnitude term |W_ij|. Default 1. */
  readonly magnitudeWeight?: number;
  /** Weight of the activation term |W_ij|·‖X_j‖₂ (Wanda-like). Default 1. Used only if `useActivations`. */
  readonly activationWeight?: number;
  /** Weight of the movement term W¹_ij·(W¹_ij − W⁰_ij). Default 1. Used only if `useMovement`. */
  readonly movementWeight?: number;
  /** Per-group normalisation of each term before mixing: `"rank"` (default) or `"zscore"`. */
  readonly normalize?: Normalization;
  /** Comparison group of the normalisation: `"row"` (default, like Wanda) or `"matrix"`. */
  readonly group?: "row" | "matrix";
  /** Declare and use activation norms (default true). */
  readonly useActivations?: boolean;
  /**
   * Use reward-weighted activation norms (input `sample-weighted-activation-norms`) for the
   * activation term instead of plain ones. Default false.
   */
  readonly useSampleWeights?: boolean;
  /** Declare and use the pre-trained weight for the movement term (default false). */
  readonly useMovement?: boolean;
}

function weightOption(name: string, v: number | undefined): number {
  const x = v ?? 1;
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
    throw new RangeError(`mama: option ${name} must be a finite number >= 0, got ${String(x)}`);
  }
  return x;
}

/**
 * MAMA scorer (the product's own method, DESIGN.md §2). Per comparison group (row or matrix) it
 * normalises up to three terms — magnitude |W|, activation |W|·‖X_j‖₂, movement W¹(W¹ − W⁰) — by rank
 * or z-score, then mixes them: score = Σ_t w_t·norm_t / Σ_t w_t over the *used* terms. A term is used
 * when its input is declared (`useActivations`, `useMovement`) and its weight is > 0; the weights of
 * the used terms are renormalised to sum to 1, so dropping a term never changes the score's scale.
 *
 * @throws RangeError for a negative or non-finite weight, unknown `normalize`/`group`, or when no term is used.
 * @throws PruneError `SCORER_INPUT_MISSING` / `SHAPE_MISMATCH` from `score()`; `ABORTED`.
 * @example
 * const w = matrix(1, 3, new Float32Array([1, -2, 3]));
 * await mama({ useActivations: false }).score({ name: "w", weight: w, log: SILENT_LOGGER });
 * // Float32Array [0, 0.5, 1]  (ranks of |W| in the row)
 */
export function mama(options: MamaOptions = {}): ScorerPlugin {
  const useActivations = options.useActivations ?? true;
  const useMovement = options.useMovement ?? false;
  const useSampleWeights = options.useSampleWeights ?? false;
  const normalize = options.normalize ?? "rank";
  const group = options.group ?? "row";
  if (normalize !== "rank" && normalize !== "zscore") {
    throw new RangeError(`mama: option normalize must be "rank" or "zscore", got ${String(normalize)}`);
  }
  if (group !== "row" && group !== "matrix") {
    throw new RangeError(`mama: option group must be "row" or "matrix", got ${String(group)}`);
  }
  const wMag = weightOption("magnitudeWeight", options.magnitudeWeight);
  const wAct = useActivations ? weightOption("activationWeight", options.activationWeight) : 0;
  const wMov = useMovement ? weightOption("movementWeight", options.movementWeight) : 0;
  const total = wMag + wAct + wMov;
  if (total === 0) {
    throw new RangeError(
      "mama: every term is off. Expected at least one used term with a weight > 0, got none",
    );
  }
  const actInput: ScorerInput = useSampleWeights ? "sample-weighted-activation-norms" : "activation-norms";
  // Only inputs of terms that are actually mixed in (weight > 0) are declared.
  const requires: ScorerInput[] = ["weights"];
  if (wAct > 0) requires.push(actInput);
  if (wMov > 0) requires.push("pre-weights");
  const mix = { mag: wMag / total, act: wAct / total, mov: wMov / total };

  return {
    name: "mama",
    apiVersion: 1,
    granularity: "element",
    requires,
    score(ctx: ScoreContext): Float32Array {
      checkAbort("mama", ctx);
      const { rows, cols, data } = ctx.weight;
      const n = rows * cols;
      const norms =
        wAct > 0
          ? needVector(
              "mama",
              ctx,
              useSampleWeights ? "sample-weighted-activation-norms" : "activation-norms",
            )
          : undefined; // (cols,)
      const pre = wMov > 0 ? needMatrix("mama", ctx, "pre-weights").data : undefined; // (rows * cols,)
      // Work one comparison group at a time so that only the mixed score is held per weight
      // (8 bytes) plus group-sized buffers; terms are formed in float32, like the scores.
      const acc = new Float64Array(n); // (rows, cols) mixed score
      const size = group === "matrix" ? n : cols; // group size; a multiple of cols
      const term = new Float32Array(size); // (group,) raw term
      const normed = new Float64Array(size); // (group,) normalised term
      const scratch = createRankScratch(size); // 4 × (group,)
      const mixIn = (off: number, coef: number): void => {
        normalizeGroup(term, 0, size, normalize, normed, scratch);
        for (let k = 0; k < size; k++) acc[off + k] = acc[off + k]! + coef * normed[k]!;
      };
      for (let off = 0; off < n; off += size) {
        if (mix.mag > 0) {
          for (let k = 0; k < size; k++) term[k] = Math.abs(data[off + k]!);
          mixIn(off, mix.mag);
        }
        if (mix.act > 0 && norms !== undefined) {
          // off is a multiple of cols, so column j of element off + k is k mod cols.
          for (let k = 0, j = 0; k < size; k++, j = j + 1 === cols ? 0 : j + 1) {
            term[k] = Math.abs(data[off + k]!) * norms[j]!;
          }
          mixIn(off, mix.act);
        }
        if (mix.mov > 0 && pre !== undefined) {
          for (let k = 0; k < size; k++) term[k] = data[off + k]! * (data[off + k]! - pre[off + k]!);
          mixIn(off, mix.mov);
        }
      }
      const out = new Float32Array(n); // (rows, cols)
      for (let k = 0; k < n; k++) out[k] = acc[k]!;
      return out;
    },
  };
}

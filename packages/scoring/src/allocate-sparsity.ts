import { PruneError } from "@mama-prune/core";
import { checkSparsityRatio } from "./mask/select-mask.ts";

/** How the sparsity budget is spread over decoder blocks. */
export type SparsityAllocation =
  | { readonly kind: "uniform" }
  | {
      readonly kind: "owl";
      /** Outlier threshold multiple of the mean score, default 5 (OWL's `Hyper_m`). */
      readonly M?: number;
      /**
       * Default 0.08 (OWL's `Lamda`). The spread max(s_l) − min(s_l) is exactly 2λ; s_l lies in
       * [s − 2λ, s + 2λ] (within s ± λ only when mean(D') = λ, e.g. symmetric outlier ratios).
       */
      readonly lambda?: number;
    }
  | { readonly kind: "explicit"; readonly perLayer: readonly number[] };

/** What {@link allocateSparsity} needs besides the strategy. */
export interface AllocateSparsityInput {
  /** Number of decoder blocks. */
  readonly layers: number;
  /** Target mean sparsity in [0, 1); required for `uniform` and `owl`, ignored by `explicit`. */
  readonly sparsity?: number;
  /** OWL: per block, the Wanda scores (|W|·‖X_j‖₂) of each of its linears. */
  readonly blockScores?: readonly (readonly Float32Array[])[];
  /** OWL: per block, a precomputed outlier ratio from {@link owlOutlierRatio} (streaming use). */
  readonly outlierRatios?: readonly number[];
}

/**
 * OWL's layer outlier ratio D: the fraction (0..1) of the block's Wanda scores — all its linears
 * concatenated — that exceed M × their mean (`check_outlier_mean` in luuyin/OWL, without the ×100,
 * which the later min–max normalisation removes anyway).
 *
 * @throws RangeError when M is not a finite number > 0.
 * @throws PruneError `SCORER_OUTPUT_INVALID` when a score is not finite.
 * @example
 * owlOutlierRatio([new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 100])], 5); // 0.1
 */
export function owlOutlierRatio(scores: readonly Float32Array[], M = 5): number {
  if (typeof M !== "number" || !Number.isFinite(M) || M <= 0) {
    throw new RangeError(`owlOutlierRatio: M must be a finite number > 0, got ${String(M)}`);
  }
  let sum = 0;
  let count = 0;
  for (const a of scores) {
    for (let k = 0; k < a.length; k++) {
      const v = a[k]!;
      if (!Number.isFinite(v)) {
        throw new PruneError(
          "SCORER_OUTPUT_INVALID",
          `owlOutlierRatio: score ${k} is not finite. Expected finite Wanda scores, got ${v}.`,
        );
      }
      sum += v;
    }
    count += a.length;
  }
  if (count === 0) return 0;
  const thr = M * (sum / count);
  let above = 0;
  for (const a of scores) for (let k = 0; k < a.length; k++) if (a[k]! > thr) above++;
  return above / count;
}

/**
 * Per-block sparsity list.
 *
 * - `uniform`: every block gets `sparsity`.
 * - `owl` (Yin et al. 2024, as in luuyin/OWL `prune_all.py` L964-966 and llm-compressor): with D_l the
 *   outlier ratio of block l, D'_l = (D_l − min D)/(max D − min D)·2λ and s_l = s − (D'_l − mean D'):
 *   blocks with more outliers are pruned less, max − min = 2λ, mean(s_l) = s. (The spread is 2λ
 *   but not centred on s: s_l ∈ [s − 2λ, s + 2λ], not s ± λ as sometimes stated.) When every D_l is
 *   equal the anchors divide by zero; we return the uniform allocation.
 * - `explicit`: `perLayer`, validated (one entry per block, each in [0, 1)).
 *
 * @throws PruneError `SPARSITY_INVALID`: sparsity missing or outside [0, 1); wrong perLayer length
 *   or entry; OWL without scores/ratios or with the wrong number of them; an OWL result outside [0, 1)
 *   (lower lambda or the target); bad M or lambda.
 * @example
 * allocateSparsity({ kind: "owl", lambda: 0.1 }, { layers: 3, sparsity: 0.5, outlierRatios: [0, 0.5, 1] });
 * // [0.6, 0.5, 0.4]
 */
export function allocateSparsity(spec: SparsityAllocation, input: AllocateSparsityInput): number[] {
  const L = input.layers;
  if (!Number.isInteger(L) || L < 0) {
    throw new RangeError(`allocateSparsity: layers must be a non-negative integer, got ${String(L)}`);
  }
  if (spec.kind === "explicit") {
    const list = spec.perLayer;
    if (!Array.isArray(list) || list.length !== L) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `allocateSparsity: option perLayer has the wrong length. Expected ${L} (one per layer), got ${Array.isArray(list) ? list.length : typeof list}.`,
      );
    }
    return list.map((s, l) => checkSparsityRatio("allocateSparsity", `perLayer[${l}]`, s));
  }
  const s = checkSparsityRatio("allocateSparsity", "sparsity", input.sparsity);
  if (spec.kind === "uniform") return new Array<number>(L).fill(s);
  if (spec.kind !== "owl") {
    throw new PruneError(
      "SPARSITY_INVALID",
      `allocateSparsity: option kind is unknown. Expected "uniform", "owl" or "explicit", got ${String((spec as { kind?: unknown }).kind).slice(0, 40)}.`,
    );
  }
  const M = spec.M ?? 5;
  const lambda = spec.lambda ?? 0.08;
  if (typeof M !== "number" || !Number.isFinite(M) || M <= 0) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `allocateSparsity: option M is invalid. Expected a number > 0, got ${String(M)}.`,
    );
  }
  if (typeof lambda !== "number" || !Number.isFinite(lambda) || lambda < 0) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `allocateSparsity: option lambda is invalid. Expected a number >= 0, got ${String(lambda)}.`,
    );
  }
  let D: number[];
  if (input.outlierRatios !== undefined) {
    D = [...input.outlierRatios];
  } else if (input.blockScores !== undefined) {
    D = input.blockScores.map((b) => owlOutlierRatio(b, M));
  } else {
    throw new PruneError(
      "SPARSITY_INVALID",
      "allocateSparsity: OWL needs per-block Wanda scores. Expected blockScores or outlierRatios, got neither.",
    );
  }
  if (D.length !== L) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `allocateSparsity: OWL outlier data has the wrong length. Expected ${L} (one per layer), got ${D.length}.`,
    );
  }
  for (const [l, d] of D.entries()) {
    if (!Number.isFinite(d)) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `allocateSparsity: outlierRatios[${l}] is not finite. Expected a number, got ${d}.`,
      );
    }
  }
  if (L === 0) return [];
  const lo = Math.min(...D);
  const hi = Math.max(...D);
  if (hi === lo) return new Array<number>(L).fill(s);
  const Dn = D.map((d) => ((d - lo) / (hi - lo)) * 2 * lambda);
  const mean = Dn.reduce((a, b) => a + b, 0) / L;
  const out = Dn.map((d) => s - (d - mean));
  for (const [l, sl] of out.entries()) {
    if (!(sl >= 0 && sl < 1)) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `allocateSparsity: OWL gives layer ${l} a sparsity outside [0, 1). Expected sparsity ± lambda inside [0, 1), got ${sl} (sparsity ${s}, lambda ${lambda}).`,
      );
    }
  }
  return out;
}

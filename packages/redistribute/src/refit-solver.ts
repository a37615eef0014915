// ---- Which least-squares refit solver to run: cost estimates for the direct solve and PCG ----

import { PCG_DEFAULT_RANK } from "./pcg-refit.ts";
import { maskKey } from "./refit.ts";

/**
 * Largest direct-solve cost (multiply-adds) for which {@link chooseRefitSolver} picks `"direct"`
 * (`leastSquaresRefit`): about 5–10 s of single-threaded JavaScript (1–2·10⁹ multiply-adds/s).
 */
export const DIRECT_REFIT_MAX_MULTIPLY_ADDS = 1e10;

/** Cost estimate of the two refit solvers for one layer and mask. */
export interface RefitCost {
  /** Distinct row masks (each one factored once by the direct solve). */
  readonly maskGroups: number;
  /** Rows with both kept and pruned entries (the only ones either solver works on). */
  readonly solveRows: number;
  /** Direct solve: cols³/6 (global factor) + Σ_groups min(k, p)³/6 + Σ_rows k·p, in JavaScript. */
  readonly directMultiplyAdds: number;
  /** PCG per iteration: one GEMM solveRows·cols² on the backend (plus O(rows·cols·rank) in JS). */
  readonly pcgMultiplyAddsPerIteration: number;
  /** PCG fixed part: the initial and final GEMMs and the Nyström probes, (2·solveRows + 3·rank)·cols². */
  readonly pcgSetupMultiplyAdds: number;
}

/**
 * Estimate both solvers' cost for a keep-mask (rows·cols bytes, 1 = keep). O(rows·cols).
 *
 * @example
 * refitCost(2, 4, new Uint8Array([1, 0, 1, 0, 1, 0, 1, 0])).maskGroups; // 1
 */
export function refitCost(rows: number, cols: number, mask: Uint8Array): RefitCost {
  if (mask.length !== rows * cols) {
    throw new RangeError(`refitCost: mask has ${mask.length} entries, expected rows·cols = ${rows * cols}`);
  }
  const groups = new Map<string, number>();
  let solveRows = 0;
  let perRow = 0;
  for (let r = 0; r < rows; r++) {
    let k = 0;
    for (let j = 0; j < cols; j++) k += mask[r * cols + j]!;
    const p = cols - k;
    if (k === 0 || p === 0) continue;
    solveRows++;
    perRow += k * p;
    const key = maskKey(mask, r * cols, cols);
    if (!groups.has(key)) groups.set(key, Math.min(k, p));
  }
  let factor = solveRows > 0 ? cols ** 3 / 6 : 0;
  for (const m of groups.values()) factor += m ** 3 / 6;
  const sq = cols * cols;
  return {
    maskGroups: groups.size,
    solveRows,
    directMultiplyAdds: factor + perRow,
    pcgMultiplyAddsPerIteration: solveRows * sq,
    pcgSetupMultiplyAdds: solveRows > 0 ? (2 * solveRows + 3 * Math.min(PCG_DEFAULT_RANK, cols)) * sq : 0,
  };
}

/** Decision of {@link chooseRefitSolver}. */
export interface RefitSolverChoice {
  /** `"direct"` = `leastSquaresRefit`, `"pcg"` = `pcgRefit`. Never a silent downgrade to OBS. */
  readonly solver: "direct" | "pcg";
  /** One sentence for reports: the estimated costs that decided. */
  readonly reason: string;
  readonly cost: RefitCost;
}

/**
 * Which exact-refit solver "auto" should run for one layer: the direct solve when its estimated cost
 * is at most `maxDirectMultiplyAdds` (default {@link DIRECT_REFIT_MAX_MULTIPLY_ADDS}), otherwise
 * batched PCG on the backend. Both give the same least-squares answer (PCG to its tolerance).
 *
 * @example
 * const mask = new Uint8Array(8).fill(1);
 * chooseRefitSolver(2, 4, mask).solver; // "direct"
 */
export function chooseRefitSolver(
  rows: number,
  cols: number,
  mask: Uint8Array,
  options: { readonly maxDirectMultiplyAdds?: number } = {},
): RefitSolverChoice {
  const limit = options.maxDirectMultiplyAdds ?? DIRECT_REFIT_MAX_MULTIPLY_ADDS;
  if (typeof limit !== "number" || Number.isNaN(limit) || limit < 0) {
    throw new RangeError(`chooseRefitSolver: maxDirectMultiplyAdds must be a number ≥ 0, got ${limit}`);
  }
  const cost = refitCost(rows, cols, mask);
  const d = cost.directMultiplyAdds.toExponential(2);
  const g = cost.pcgMultiplyAddsPerIteration.toExponential(2);
  if (cost.directMultiplyAdds <= limit) {
    return {
      solver: "direct",
      reason: `direct solve: ${d} multiply-adds in JS (${cost.maskGroups} mask groups) ≤ ${limit.toExponential(0)}`,
      cost,
    };
  }
  return {
    solver: "pcg",
    reason: `PCG on the backend: direct solve would cost ${d} multiply-adds in JS (${cost.maskGroups} mask groups) > ${limit.toExponential(0)}; PCG costs ${g} per iteration`,
    cost,
  };
}

// ---- MAMA's optional mask refinement after the gradual steps (gated by width) ----

import type { MamaProcedureSettings, RefitSolver } from "./mama-linear.ts";
import { swapRefineMask } from "./mask-swap.ts";
import type { LinearProcedureInput } from "./method.ts";

/**
 * The `refine` pass of MAMA's procedure: on the final mask of the steps, `swapRefineMask` (exact
 * kept/pruned swaps while the row's reconstruction loss drops), then one refit with `solver` when any
 * swap was accepted. Runs only when asked for (`refine: "swap"`), on the levels asked for
 * (`refineLevels`), with the refit on, and on layers with cols ≤ `refineMaxCols` (cost ≈ rows·cols³).
 *
 * @returns The refined mask and refitted weights, or undefined when the pass did not run or changed
 *   nothing (the steps' result stands, bit for bit).
 */
export async function refineAfterSteps(
  s: MamaProcedureSettings,
  input: LinearProcedureInput,
  mask: Uint8Array,
  solver: RefitSolver,
  damping: number,
): Promise<{ mask: Uint8Array; weight: Float32Array; warnings: readonly string[] } | undefined> {
  const { weight: W, sparsity: sp, name } = input;
  const gram = input.stats?.gram;
  if (s.refine !== "swap" || !s.refit || gram === undefined || W.cols > s.refineMaxCols) return undefined;
  if (typeof sp === "number" && s.refineLevels !== "all") return undefined;
  if (typeof sp === "number" && s.group !== "row") return undefined;
  const r = swapRefineMask(W, gram, mask, {
    damping,
    name,
    moves: s.refineMoves,
    ...(typeof sp === "number" ? {} : { nm: sp }),
    ...(input.signal !== undefined ? { signal: input.signal } : {}),
  });
  if (r.swaps === 0) return undefined;
  input.log?.debug?.(
    `${name}: MAMA refine swapped ${r.swaps} pairs, reconstruction loss ${r.lossBefore.toPrecision(6)} → ${r.lossAfter.toPrecision(6)}`,
  );
  const fit = await solver(W, gram, r.mask, {
    damping,
    name,
    ...(input.log !== undefined ? { log: input.log } : {}),
    ...(input.signal !== undefined ? { signal: input.signal } : {}),
    ...(input.backend !== undefined ? { backend: input.backend } : {}),
  });
  return { mask: r.mask, weight: fit.weight, warnings: fit.warnings };
}

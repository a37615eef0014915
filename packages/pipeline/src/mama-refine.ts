// ---- MAMA's optional mask refinement after the gradual steps (gated by width) ----

import { sparsegpt } from "@mama-prune/redistribute";
import type { MamaProcedureSettings, RefitSolver } from "./mama-linear.ts";
import { admmMask } from "./mask-admm.ts";
import { type SwapRefineResult, swapRefineMask } from "./mask-swap.ts";
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
  const refine = (start: Uint8Array): SwapRefineResult =>
    swapRefineMask(W, gram, start, {
      damping: s.refineDamping ?? damping,
      name,
      moves: s.refineMoves,
      ...(s.refineKicks > 0 ? { kicks: s.refineKicks } : {}),
      ...(typeof sp === "number" ? {} : { nm: sp }),
      ...(input.signal !== undefined ? { signal: input.signal } : {}),
    });
  let r: SwapRefineResult | undefined;
  let changed = false;
  for (const from of s.refineStarts) {
    const start =
      from === "steps"
        ? mask
        : from === "admm"
          ? admmMask(W, gram, sp, {
              damping,
              name,
              ...(input.signal !== undefined ? { signal: input.signal } : {}),
            })
          : (await sparsegpt(W, gram, { sparsity: sp, percdamp: damping, name })).mask;
    const x = refine(start);
    if (r === undefined) {
      r = x;
      changed = x.swaps > 0 || from !== "steps";
      continue;
    }
    // Per row: keep the refined mask of the lowest exact loss (ties: the earlier start).
    const cols = W.cols;
    for (let row = 0; row < W.rows; row++) {
      if (x.rowLoss[row]! < r.rowLoss[row]!) {
        r.mask.set(x.mask.subarray(row * cols, (row + 1) * cols), row * cols);
        r.rowLoss[row] = x.rowLoss[row]!;
        changed = true;
      }
    }
  }
  if (r === undefined || !changed) return undefined;
  input.log?.debug?.(
    `${name}: MAMA refine (${s.refineStarts.join("+")}, ${s.refineMoves}) accepted ${r.swaps} moves, reconstruction loss ${r.lossBefore.toPrecision(6)} → ${r.lossAfter.toPrecision(6)}`,
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

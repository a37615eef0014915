import { type Matrix, PruneError, throwIfAborted } from "@mama-prune/core";
import type { ScoreContext } from "../contract.ts";

/** Abort check shared by the built-ins: they reject with PruneError `ABORTED`. */
export function checkAbort(scorer: string, ctx: ScoreContext): void {
  throwIfAborted(ctx.signal, `scorer ${scorer} on ${ctx.name}`);
}

/** A declared per-column input, or a typed error when a caller bypassed `runScorer`. */
export function needVector(
  scorer: string,
  ctx: ScoreContext,
  input: "activation-norms" | "activation-mean" | "sample-weighted-activation-norms",
): Float32Array {
  const v =
    input === "activation-norms"
      ? ctx.activationNorms
      : input === "activation-mean"
        ? ctx.activationMean
        : ctx.sampleWeightedActivationNorms;
  if (v === undefined) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `scorer ${scorer} on ${ctx.name}: required input "${input}" is missing. Expected a Float32Array of length ${ctx.weight.cols}, got undefined.`,
    );
  }
  if (v.length !== ctx.weight.cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `scorer ${scorer} on ${ctx.name}: ${input} has the wrong length. Expected ${ctx.weight.cols}, got ${v.length}.`,
    );
  }
  return v;
}

/** A declared matrix input with the weight's shape, or a typed error. */
export function needMatrix(scorer: string, ctx: ScoreContext, input: "pre-weights" | "gradients"): Matrix {
  const m = input === "pre-weights" ? ctx.preWeight : ctx.gradients;
  if (m === undefined) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `scorer ${scorer} on ${ctx.name}: required input "${input}" is missing. Expected a [${ctx.weight.rows}, ${ctx.weight.cols}] matrix, got undefined.`,
    );
  }
  if (m.rows !== ctx.weight.rows || m.cols !== ctx.weight.cols || m.data.length !== m.rows * m.cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `scorer ${scorer} on ${ctx.name}: ${input} has the wrong shape. Expected [${ctx.weight.rows}, ${ctx.weight.cols}], got [${m.rows}, ${m.cols}].`,
    );
  }
  return m;
}

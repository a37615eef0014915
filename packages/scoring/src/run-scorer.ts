import { type Matrix, PruneError, throwIfAborted } from "@mama-prune/core";
import type { ScoreContext, ScorerInput, ScorerPlugin } from "./contract.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function checkMatrix(where: string, label: string, m: Matrix, rows: number, cols: number): void {
  if (m.rows !== rows || m.cols !== cols || m.data.length !== rows * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: ${label} has the wrong shape. Expected [${rows}, ${cols}] (${rows * cols} values), got [${m.rows}, ${m.cols}] (${m.data.length} values).`,
    );
  }
  const d = m.data;
  for (let k = 0; k < d.length; k++) {
    if (!Number.isFinite(d[k]!)) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: ${label} has a non-finite value at row ${Math.floor(k / cols)}, col ${k % cols}. Expected finite values, got ${d[k]}.`,
      );
    }
  }
}

function checkVector(
  where: string,
  label: string,
  v: Float32Array,
  cols: number,
  nonNegative: boolean,
): void {
  if (v.length !== cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: ${label} has the wrong length. Expected ${cols} (one per input column), got ${v.length}.`,
    );
  }
  for (let j = 0; j < v.length; j++) {
    const x = v[j]!;
    if (!Number.isFinite(x) || (nonNegative && x < 0)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: ${label}[${j}] is invalid. Expected a finite${nonNegative ? " non-negative" : ""} value, got ${x}.`,
      );
    }
  }
}

function missing(where: string, input: ScorerInput, tensor: string): PruneError {
  return new PruneError(
    "SCORER_INPUT_MISSING",
    `${where}: required input "${input}" is missing for tensor ${tensor}. Expected the host to compute it, got undefined.`,
  );
}

/**
 * Build the context a plugin may see: the declared inputs only, shape-checked.
 *
 * @throws PruneError `SCORER_INPUT_MISSING` (a declared input is absent), `SHAPE_MISMATCH`,
 *   `CALIBRATION_INVALID` (non-finite or negative activation statistics), `NUMERIC_FAILURE`
 *   (a non-finite weight, pre-weight or gradient).
 * @example
 * const ctx = restrictContext(wanda(), { name: "w", weight, activationNorms, preWeight, log: SILENT_LOGGER });
 * "preWeight" in ctx; // false
 */
export function restrictContext(plugin: ScorerPlugin, ctx: ScoreContext): ScoreContext {
  const where = `scorer ${plugin.name} on ${ctx.name}`;
  const w = ctx.weight;
  if (!Number.isInteger(w.rows) || !Number.isInteger(w.cols) || w.rows < 0 || w.cols < 0) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: weight shape is invalid. Expected non-negative integers, got [${w.rows}, ${w.cols}].`,
    );
  }
  checkMatrix(where, "weight", w, w.rows, w.cols);
  const out: Mutable<ScoreContext> = { name: ctx.name, weight: w, log: ctx.log };
  if (ctx.tokens !== undefined) {
    if (!Number.isFinite(ctx.tokens) || ctx.tokens < 0) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: tokens is invalid. Expected a finite count >= 0, got ${String(ctx.tokens).slice(0, 40)}.`,
      );
    }
    out.tokens = ctx.tokens;
  }
  if (ctx.signal !== undefined) out.signal = ctx.signal;
  for (const input of plugin.requires) {
    switch (input) {
      case "weights":
        break;
      case "activation-norms":
        if (ctx.activationNorms === undefined) throw missing(where, input, ctx.name);
        checkVector(where, "activation-norms", ctx.activationNorms, w.cols, true);
        out.activationNorms = ctx.activationNorms;
        break;
      case "activation-mean":
        if (ctx.activationMean === undefined) throw missing(where, input, ctx.name);
        checkVector(where, "activation-mean", ctx.activationMean, w.cols, false);
        out.activationMean = ctx.activationMean;
        break;
      case "sample-weighted-activation-norms":
        if (ctx.sampleWeightedActivationNorms === undefined) throw missing(where, input, ctx.name);
        checkVector(
          where,
          "sample-weighted-activation-norms",
          ctx.sampleWeightedActivationNorms,
          w.cols,
          true,
        );
        out.sampleWeightedActivationNorms = ctx.sampleWeightedActivationNorms;
        break;
      case "pre-weights":
        if (ctx.preWeight === undefined) throw missing(where, input, ctx.name);
        checkMatrix(where, "pre-weights", ctx.preWeight, w.rows, w.cols);
        out.preWeight = ctx.preWeight;
        break;
      case "gradients":
        if (ctx.gradients === undefined) throw missing(where, input, ctx.name);
        checkMatrix(where, "gradients", ctx.gradients, w.rows, w.cols);
        out.gradients = ctx.gradients;
        break;
    }
  }
  return out;
}

/**
 * Run a scorer on one tensor the safe way: check the declared inputs are present and well-shaped,
 * pass only those, and validate the output (length rows·cols, every score finite).
 *
 * @throws PruneError `SCORER_INPUT_MISSING`, `SHAPE_MISMATCH`, `CALIBRATION_INVALID`, `NUMERIC_FAILURE` (inputs),
 *   `SCORER_OUTPUT_INVALID` (wrong length, not a Float32Array, or a non-finite score),
 *   `ABORTED` (signal fired before or during scoring; a DOM `AbortError` from the plugin is rewrapped).
 * @example
 * const scores = await runScorer(magnitude(), { name: "w", weight: matrix(1, 2, new Float32Array([-3, 1])), log: SILENT_LOGGER });
 * scores; // Float32Array [3, 1]
 */
export async function runScorer(plugin: ScorerPlugin, ctx: ScoreContext): Promise<Float32Array> {
  const where = `scorer ${plugin.name} on ${ctx.name}`;
  throwIfAborted(ctx.signal, where);
  const restricted = restrictContext(plugin, ctx);
  let scores: unknown;
  try {
    scores = await plugin.score(restricted);
  } catch (e) {
    if (e instanceof Error && e.name === "AbortError") {
      throw new PruneError("ABORTED", `${where}: aborted`, { cause: e });
    }
    throw e;
  }
  throwIfAborted(ctx.signal, where);
  const n = ctx.weight.rows * ctx.weight.cols;
  if (!(scores instanceof Float32Array)) {
    throw new PruneError(
      "SCORER_OUTPUT_INVALID",
      `${where}: score() returned the wrong type. Expected a Float32Array of length ${n}, got ${scores === null ? "null" : typeof scores === "object" ? (scores.constructor?.name ?? "object") : typeof scores}.`,
    );
  }
  if (scores.length !== n) {
    throw new PruneError(
      "SCORER_OUTPUT_INVALID",
      `${where}: score() returned the wrong number of scores. Expected ${n} (rows·cols = ${ctx.weight.rows}·${ctx.weight.cols}), got ${scores.length}.`,
    );
  }
  if (n > 0 && scores.buffer === ctx.weight.data.buffer) {
    throw new PruneError(
      "SCORER_OUTPUT_INVALID",
      `${where}: score() returned a view of the weight's own memory. Expected a new Float32Array, got an alias of the weight.`,
    );
  }
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) {
      throw new PruneError(
        "SCORER_OUTPUT_INVALID",
        `${where}: score ${i} (row ${Math.floor(i / ctx.weight.cols)}, col ${i % ctx.weight.cols}) is not finite. Expected a finite number, got ${s}.`,
      );
    }
  }
  return scores;
}

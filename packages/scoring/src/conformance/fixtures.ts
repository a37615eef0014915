import { createRng, type Matrix, type Rng, SILENT_LOGGER } from "@mama-prune/core";
import type { ScoreContext } from "../contract.ts";

/** Fixture shapes [rows, cols] from [1, 1] to [64, 17], including ragged and single-row/column ones. */
export const CONFORMANCE_SHAPES: readonly (readonly [number, number])[] = [
  [1, 1],
  [1, 8],
  [5, 1],
  [3, 5],
  [8, 16],
  [13, 7],
  [64, 17],
];

/** Every input a host can compute, for one fixture tensor. */
export interface ConformanceInputs {
  readonly weight: Matrix;
  readonly activationNorms: Float32Array;
  readonly activationMean: Float32Array;
  readonly sampleWeightedActivationNorms: Float32Array;
  readonly preWeight: Matrix;
  readonly gradients: Matrix;
  readonly tokens: number;
}

/** A function overriding some generated fixture inputs (e.g. a plugin that needs pre-weights near W). */
export type ConformanceInputsOverride = (rows: number, cols: number, rng: Rng) => Partial<ConformanceInputs>;

function normals(rng: Rng, n: number, scale: number): Float32Array {
  const a = new Float32Array(n); // (n,)
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/**
 * Seeded fixture inputs for one shape: W ~ N(0, 0.5²), W⁰ = W + N(0, 0.1²), gradients ~ N(0, 1),
 * activation norms |N(0, 2²)| + 0.05, activation mean N(0, 1), 128 tokens.
 *
 * @example
 * makeConformanceInputs(2, 3, 0).weight.data.length; // 6
 */
export function makeConformanceInputs(
  rows: number,
  cols: number,
  seed: number,
  override?: ConformanceInputsOverride,
): ConformanceInputs {
  const rng = createRng(seed);
  const w = normals(rng, rows * cols, 0.5); // (rows, cols)
  const pre = new Float32Array(rows * cols); // (rows, cols)
  for (let i = 0; i < pre.length; i++) pre[i] = w[i]! + rng.normal() * 0.1;
  const norms = normals(rng, cols, 2).map((x) => Math.abs(x) + 0.05); // (cols,)
  const swNorms = normals(rng, cols, 2).map((x) => Math.abs(x) + 0.05); // (cols,)
  const base: ConformanceInputs = {
    weight: { rows, cols, data: w },
    activationNorms: norms,
    activationMean: normals(rng, cols, 1),
    sampleWeightedActivationNorms: swNorms,
    preWeight: { rows, cols, data: pre },
    gradients: { rows, cols, data: normals(rng, rows * cols, 1) },
    tokens: 128,
  };
  return override === undefined ? base : { ...base, ...override(rows, cols, createRng(seed ^ 0x5eed)) };
}

/** Deep copy of fixture inputs (fresh buffers). */
export function cloneInputs(x: ConformanceInputs): ConformanceInputs {
  const m = (a: Matrix): Matrix => ({ rows: a.rows, cols: a.cols, data: a.data.slice() });
  return {
    weight: m(x.weight),
    activationNorms: x.activationNorms.slice(),
    activationMean: x.activationMean.slice(),
    sampleWeightedActivationNorms: x.sampleWeightedActivationNorms.slice(),
    preWeight: m(x.preWeight),
    gradients: m(x.gradients),
    tokens: x.tokens,
  };
}

/** Permute the input columns of every per-column input and matrix: new column j = old column perm[j]. */
export function permuteColumns(x: ConformanceInputs, perm: readonly number[]): ConformanceInputs {
  const { rows, cols } = x.weight;
  const pm = (a: Matrix): Matrix => {
    const d = new Float32Array(rows * cols); // (rows, cols)
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) d[i * cols + j] = a.data[i * cols + perm[j]!]!;
    return { rows, cols, data: d };
  };
  const pv = (v: Float32Array): Float32Array => Float32Array.from(perm, (p) => v[p]!); // (cols,)
  return {
    weight: pm(x.weight),
    activationNorms: pv(x.activationNorms),
    activationMean: pv(x.activationMean),
    sampleWeightedActivationNorms: pv(x.sampleWeightedActivationNorms),
    preWeight: pm(x.preWeight),
    gradients: pm(x.gradients),
    tokens: x.tokens,
  };
}

/** A full host context (every input present) for fixture inputs. */
export function fullContext(name: string, x: ConformanceInputs, signal?: AbortSignal): ScoreContext {
  const ctx: ScoreContext = {
    name,
    weight: x.weight,
    activationNorms: x.activationNorms,
    activationMean: x.activationMean,
    sampleWeightedActivationNorms: x.sampleWeightedActivationNorms,
    preWeight: x.preWeight,
    gradients: x.gradients,
    tokens: x.tokens,
    log: SILENT_LOGGER,
  };
  return signal === undefined ? ctx : { ...ctx, signal };
}

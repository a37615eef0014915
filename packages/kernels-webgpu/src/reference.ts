// CPU references of every kernel: plain loops with float64 accumulation, written for clarity (they
// are what the GPU results are tested against, not a fast path).

import type { SparseWeight } from "./sparse-weight.ts";
import { validateSparseWeight } from "./sparse-weight.ts";

/**
 * y = x · wᵀ (+ bias) for x (m, k), w (n, k): float64 sums, rounded to float32 once.
 *
 * @throws RangeError when lengths do not match the shape.
 * @example
 * denseMatmulRef(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1); // Float32Array [11]
 */
export function denseMatmulRef(
  x: Float32Array,
  w: Float32Array,
  m: number,
  k: number,
  n: number,
  bias?: Float32Array,
): Float32Array {
  if (x.length !== m * k || w.length !== n * k || (bias !== undefined && bias.length !== n)) {
    throw new RangeError(`denseMatmulRef: operand lengths do not match m=${m}, k=${k}, n=${n}`);
  }
  const y = new Float32Array(m * n); // (m, n)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let t = 0; t < k; t++) s += x[i * k + t]! * w[j * k + t]!;
      y[i * n + j] = s;
    }
  }
  return y;
}

/**
 * y = x · Wᵀ (+ bias) straight from a sparse layout (no densifying), float64 sums. Validates the
 * layout first.
 *
 * @throws PruneError TENSOR_IO_MALFORMED for an inconsistent layout; RangeError for wrong lengths.
 * @example
 * sparseMatmulRef(x, sparseFromDense(w, n, k, "csr"), m); // equals denseMatmulRef(x, w, m, k, n)
 */
export function sparseMatmulRef(
  x: Float32Array,
  sw: SparseWeight,
  m: number,
  bias?: Float32Array,
): Float32Array {
  validateSparseWeight(sw, "sparseMatmulRef");
  const [n, k] = sw.shape;
  if (x.length !== m * k || (bias !== undefined && bias.length !== n)) {
    throw new RangeError(`sparseMatmulRef: operand lengths do not match m=${m}, k=${k}, n=${n}`);
  }
  const y = new Float32Array(m * n); // (m, n)
  const rb = Math.ceil(k / 8);
  for (let j = 0; j < n; j++) {
    const cols: number[] = [];
    const vals: number[] = [];
    if (sw.format === "csr") {
      for (let q = sw.rowPtr[j]!; q < sw.rowPtr[j + 1]!; q++) {
        cols.push(sw.colIdx[q]!);
        vals.push(sw.values[q]!);
      }
    } else {
      let q = sw.format === "sparse-bitmask" ? sw.rowOffsets[j]! : (j * k) / 2;
      for (let c = 0; c < k; c++) {
        if ((sw.bitmask[j * rb + (c >> 3)]! >> (c & 7)) & 1) {
          cols.push(c);
          vals.push(sw.compressed[q++]!);
        }
      }
    }
    for (let i = 0; i < m; i++) {
      let s = bias ? bias[j]! : 0;
      for (let t = 0; t < cols.length; t++) s += vals[t]! * x[i * k + cols[t]!]!;
      y[i * n + j] = s;
    }
  }
  return y;
}

/**
 * acc[a, b] += Σ_i x[i, a]·x[i, b] for x (m, k) (the Gram matrix XᵀX), float64.
 *
 * @throws RangeError when lengths do not match.
 * @example
 * const acc = new Float64Array(4); gramRef(new Float32Array([1, 2]), 1, 2, acc); // acc = [1, 2, 2, 4]
 */
export function gramRef(x: Float32Array, m: number, k: number, acc: Float64Array): void {
  if (x.length !== m * k || acc.length !== k * k)
    throw new RangeError(`gramRef: lengths do not match m=${m}, k=${k}`);
  for (let i = 0; i < m; i++) {
    for (let a = 0; a < k; a++) {
      const xa = x[i * k + a]!;
      for (let b = 0; b < k; b++) acc[a * k + b] = acc[a * k + b]! + xa * x[i * k + b]!;
    }
  }
}

/**
 * acc[j] += Σ_i x[i, j]² for x (m, k), float64.
 *
 * @throws RangeError when lengths do not match.
 * @example
 * const acc = new Float64Array(2); colSqNormRef(new Float32Array([1, 2, 3, 4]), 2, 2, acc); // acc = [10, 20]
 */
export function colSqNormRef(x: Float32Array, m: number, k: number, acc: Float64Array): void {
  if (x.length !== m * k || acc.length !== k)
    throw new RangeError(`colSqNormRef: lengths do not match m=${m}, k=${k}`);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      const v = x[i * k + j]!;
      acc[j] = acc[j]! + v * v;
    }
  }
}

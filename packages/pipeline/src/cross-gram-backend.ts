// ---- The cross-Gram C += X̃ᵀ·diag(w)·X on the compute backend, for wide inputs ----

import type { ComputeBackend } from "@mama-prune/core";
import { SPARSEGPT_BACKEND_MIN_COLS } from "@mama-prune/redistribute";
import { crossGramAccumulate } from "./dense-stream.ts";

/** Rows of X̃ and X per backend GEMM (bounds the two transposed float32 operands to 2·chunk·cols·4 B). */
export const CROSS_GRAM_CHUNK_ROWS = 2048;

/**
 * acc[a, b] += Σ_t w_t·xp[t, a]·xd[t, b] (the pruned-stream input X̃ against the dense-stream input X,
 * both [rows, cols]). Below {@link SPARSEGPT_BACKEND_MIN_COLS} columns (or without a backend) this is
 * `crossGramAccumulate`, the float64 JS loop, bit for bit; from there on it is one backend GEMM per
 * {@link CROSS_GRAM_CHUNK_ROWS} rows (X̃ᵀ and (w·X)ᵀ transposed into float32 operands, the float32 product
 * added to the float64 accumulator), the way the wide Gram is accumulated.
 *
 * @example
 * await crossGramAccumulateOnBackend(backend, xPruned, xDense, rows, cols, acc);
 */
export async function crossGramAccumulateOnBackend(
  backend: ComputeBackend | undefined,
  xp: Float32Array,
  xd: Float32Array,
  rows: number,
  cols: number,
  acc: Float64Array,
  rowWeights?: Float32Array,
): Promise<void> {
  if (backend === undefined || cols < SPARSEGPT_BACKEND_MIN_COLS) {
    crossGramAccumulate(xp, xd, rows, cols, acc, rowWeights);
    return;
  }
  const badShape =
    xp.length !== rows * cols ||
    xd.length !== rows * cols ||
    acc.length !== cols * cols ||
    (rowWeights !== undefined && rowWeights.length !== rows);
  if (badShape) {
    crossGramAccumulate(xp, xd, rows, cols, acc, rowWeights); // throws its SHAPE_MISMATCH, naming the lengths
    return;
  }
  const chunk = Math.min(CROSS_GRAM_CHUNK_ROWS, rows);
  const a = new Float32Array(cols * chunk); // (cols, chunk) X̃ᵀ
  const b = new Float32Array(cols * chunk); // (cols, chunk) (w·X)ᵀ
  const out = new Float32Array(cols * cols); // (cols, cols)
  for (let t0 = 0; t0 < rows; t0 += chunk) {
    const m = Math.min(chunk, rows - t0);
    for (let t = 0; t < m; t++) {
      const w = rowWeights === undefined ? 1 : rowWeights[t0 + t]!;
      const o = (t0 + t) * cols;
      for (let c = 0; c < cols; c++) {
        a[c * m + t] = xp[o + c]!;
        b[c * m + t] = w * xd[o + c]!;
      }
    }
    const am = a.subarray(0, cols * m);
    const bm = b.subarray(0, cols * m);
    await backend.matmulTransB(am, bm, cols, m, cols, { out });
    backend.invalidate(bm);
    for (let k = 0; k < out.length; k++) acc[k] = acc[k]! + out[k]!;
  }
}

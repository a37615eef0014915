// ---- The cross-Gram C += X̃ᵀ·diag(w)·X on the compute backend, for wide inputs ----

import { type ComputeBackend, transposeInto } from "@mama-prune/core";
import { SPARSEGPT_BACKEND_MIN_COLS } from "@mama-prune/redistribute";
import { crossGramAccumulate } from "./dense-stream.ts";

/** Rows of X̃ and X per backend GEMM (bounds the two transposed float32 operands to 2·chunk·cols·4 B). */
export const CROSS_GRAM_CHUNK_ROWS = 2048;

/**
 * At most this many float32 values of the product per backend GEMM (32 MiB): the cols² product is
 * taken in blocks of C's rows, so neither the JavaScript heap nor the kernel memory holds a whole
 * float32 cols² array (256 MiB at cols = 8192). Each row of the product depends on its own row of X̃ᵀ
 * only, so the blocks are the whole product's rows bit for bit.
 */
export const CROSS_GRAM_OUT_FLOATS: number = 2 ** 23;

/**
 * Buffers `crossGramAccumulateOnBackend` may keep between calls (its float32 transposes of X̃ and
 * w·X, 2·min(rows, 2048)·cols values): pass the same object on every call for one input.
 */
export interface CrossGramScratch {
  a?: Float32Array;
  b?: Float32Array;
}

/**
 * acc[a, b] += Σ_t w_t·xp[t, a]·xd[t, b] (the pruned-stream input X̃ against the dense-stream input X,
 * both [rows, cols]). Below {@link SPARSEGPT_BACKEND_MIN_COLS} columns (or without a backend) this is
 * `crossGramAccumulate`, the float64 JS loop, bit for bit; from there on it is one backend GEMM per
 * {@link CROSS_GRAM_CHUNK_ROWS} rows (X̃ᵀ and (w·X)ᵀ transposed into float32 operands, the float32 product
 * added to the float64 accumulator), the way the wide Gram is accumulated; the product is taken in
 * blocks of at most `outFloats` values ({@link CROSS_GRAM_OUT_FLOATS}), bit for bit the same sums.
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
  outFloats: number = CROSS_GRAM_OUT_FLOATS,
  scratch?: CrossGramScratch,
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
  const size = cols * chunk;
  const fit = (f: Float32Array | undefined): Float32Array =>
    f !== undefined && f.length >= size ? f : new Float32Array(size);
  const aFull = fit(scratch?.a);
  const bFull = fit(scratch?.b);
  if (scratch !== undefined) {
    scratch.a = aFull;
    scratch.b = bFull;
  }
  const a = aFull.subarray(0, size); // (cols, chunk) X̃ᵀ
  const b = bFull.subarray(0, size); // (cols, chunk) (w·X)ᵀ
  // Rows of C per GEMM: a multiple of 4 (the kernel's row block), at least 4.
  const rb = Math.min(cols, Math.max(4, Math.floor(outFloats / cols / 4) * 4));
  const out = new Float32Array(rb * cols); // (rb, cols) one block of C's rows
  for (let t0 = 0; t0 < rows; t0 += chunk) {
    const m = Math.min(chunk, rows - t0);
    // a = the chunk of xp transposed (cols, m), b = its sample-weighted xd transposed (w·xd, the
    // product in float64 then rounded: 1·x = x without weights), both in cache-friendly strips.
    transposeInto(xp, t0 * cols, cols, m, cols, a);
    transposeInto(
      xd,
      t0 * cols,
      cols,
      m,
      cols,
      b,
      rowWeights === undefined ? {} : { rowScale: rowWeights.subarray(t0, t0 + m) },
    );
    await addProductByRowBlocks(
      backend,
      a.subarray(0, cols * m),
      b.subarray(0, cols * m),
      cols,
      m,
      cols,
      rb,
      out,
      acc,
    );
  }
}

/**
 * acc (n, cols) += a·bᵀ for a (n, m) and b (cols, m), float32 transposed chunks: one backend GEMM per
 * block of `rb` rows of a, each block's float32 product (in `scratch`, ≥ rb·cols) added to the float64
 * accumulator; then `b` is invalidated (the caller refills it for the next chunk). The cross-Gram's and
 * the product statistic's accumulation step.
 *
 * @internal
 */
export async function addProductByRowBlocks(
  backend: ComputeBackend,
  a: Float32Array,
  b: Float32Array,
  n: number,
  m: number,
  cols: number,
  rb: number,
  scratch: Float32Array,
  acc: Float64Array,
): Promise<void> {
  for (let r0 = 0; r0 < n; r0 += rb) {
    const r = Math.min(rb, n - r0);
    const o = scratch.subarray(0, r * cols);
    await backend.matmulTransB(a.subarray(r0 * m, (r0 + r) * m), b, r, m, cols, { out: o });
    const base = r0 * cols;
    for (let k = 0; k < o.length; k++) acc[base + k] = acc[base + k]! + o[k]!;
  }
  backend.invalidate(b);
}

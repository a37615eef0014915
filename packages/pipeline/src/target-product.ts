// ---- MAMA's dense-target product statistic M = Σ_t w_t·e_t x̃_tᵀ (e_t = W(x_t − x̃_t)), for wide inputs ----
//
// The dense target's backend path needs W·(C − H̃)ᵀ with C = X̃ᵀX (cross-gram-backend.ts) and
// H̃ = X̃ᵀX̃. Since (C − H̃)ᵀ = (X − X̃)ᵀX̃, that product is Eᵀ·X̃ with E = (X − X̃)·Wᵀ (tokens × out):
// accumulated batch by batch in the two-stream pass it costs 2·out·cols multiply-adds per token instead
// of C's cols², holds out × cols float64 instead of cols², and the dense target skips its W·Dᵀ GEMM.
// It pays where 2·out < cols (llama-3.2-1b's down_proj: 2048 × 8192, half the work and a quarter of
// the memory); the caller chooses per input (`useTargetProduct`).

import { type ComputeBackend, PruneError, transposeInto } from "@mama-prune/core";
import { SPARSEGPT_BACKEND_MIN_COLS } from "@mama-prune/redistribute";
import { addProductByRowBlocks, CROSS_GRAM_CHUNK_ROWS, CROSS_GRAM_OUT_FLOATS } from "./cross-gram-backend.ts";

/**
 * Whether an input's dense target is taken from the product statistic instead of the cross-Gram: the
 * input has ONE consumer linear (out × cols), the dense target's backend path applies to it
 * (cols ≥ {@link SPARSEGPT_BACKEND_MIN_COLS}) and the product is the cheaper statistic (2·out < cols).
 * Every input of the small models (all narrower than 512) keeps the cross-Gram.
 *
 * @example
 * useTargetProduct(2048, 8192, 1); // true (llama-3.2-1b down_proj)
 * useTargetProduct(2048, 2048, 1); // false (o_proj: the cross-Gram is cheaper)
 */
export function useTargetProduct(out: number, cols: number, consumers: number): boolean {
  return consumers === 1 && cols >= SPARSEGPT_BACKEND_MIN_COLS && 2 * out < cols;
}

/**
 * Buffers `targetProductAccumulate` may keep between calls (its float32 operands, about
 * (2·cols + 2·out)·min(rows, 2048) values): pass the same object on every call for one input.
 */
export interface TargetProductScratch {
  diff?: Float32Array;
  e?: Float32Array;
  et?: Float32Array;
  xt?: Float32Array;
}

/**
 * acc[o, a] += Σ_t w_t·e_t[o]·xp[t, a] with e_t = W·(xd[t, :] − xp[t, :]) — i.e. acc += (W·(C − H̃)ᵀ of
 * these rows) with C = X̃ᵀ·diag(w)·X and H̃ = X̃ᵀ·diag(w)·X̃ — on the backend: per
 * {@link CROSS_GRAM_CHUNK_ROWS} rows, the float32 difference X − X̃, E = (X − X̃)·Wᵀ (one GEMM), then
 * Eᵀ·diag(w)·X̃ (one GEMM, in blocks of at most `outFloats` values of acc's rows) added to the float64
 * accumulator. xp is the pruned stream's input X̃, xd the dense stream's X (both [rows, cols]), weight
 * the consumer's dense W [out, cols].
 *
 * @throws PruneError SHAPE_MISMATCH for inputs, weight, accumulator or sample weights of the wrong size.
 * @example
 * await targetProductAccumulate(backend, xPruned, xDense, w, rows, cols, out, acc);
 */
export async function targetProductAccumulate(
  backend: ComputeBackend,
  xp: Float32Array,
  xd: Float32Array,
  weight: Float32Array,
  rows: number,
  cols: number,
  out: number,
  acc: Float64Array,
  rowWeights?: Float32Array,
  scratch?: TargetProductScratch,
  outFloats: number = CROSS_GRAM_OUT_FLOATS,
): Promise<void> {
  if (
    xp.length !== rows * cols ||
    xd.length !== rows * cols ||
    weight.length !== out * cols ||
    acc.length !== out * cols
  ) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `targetProductAccumulate: inputs must be [rows, cols] = [${rows}, ${cols}], the weight and the accumulator [out, cols] = [${out}, ${cols}]. Expected lengths ${rows * cols}, ${rows * cols}, ${out * cols}, ${out * cols}, got ${xp.length}, ${xd.length}, ${weight.length}, ${acc.length}.`,
    );
  }
  if (rowWeights !== undefined && rowWeights.length !== rows) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `targetProductAccumulate: sample weights have the wrong length. Expected one per row (${rows}), got ${rowWeights.length}.`,
    );
  }
  const chunk = Math.min(CROSS_GRAM_CHUNK_ROWS, rows);
  const fit = (f: Float32Array | undefined, size: number): Float32Array =>
    f !== undefined && f.length >= size ? f : new Float32Array(size);
  const diffFull = fit(scratch?.diff, chunk * cols); // (chunk, cols) X − X̃
  const eFull = fit(scratch?.e, chunk * out); // (chunk, out) E
  const etFull = fit(scratch?.et, out * chunk); // (out, chunk) (w·E)ᵀ
  const xtFull = fit(scratch?.xt, cols * chunk); // (cols, chunk) X̃ᵀ
  if (scratch !== undefined) {
    scratch.diff = diffFull;
    scratch.e = eFull;
    scratch.et = etFull;
    scratch.xt = xtFull;
  }
  // Rows of acc per GEMM: a multiple of 4 (the kernel's row block), at least 4.
  const rb = Math.min(out, Math.max(4, Math.floor(outFloats / cols / 4) * 4));
  const prod = new Float32Array(rb * cols); // (rb, cols) one block of acc's rows
  for (let t0 = 0; t0 < rows; t0 += chunk) {
    const m = Math.min(chunk, rows - t0);
    const diff = diffFull.subarray(0, m * cols);
    const base = t0 * cols;
    for (let k = 0; k < m * cols; k++) diff[k] = xd[base + k]! - xp[base + k]!;
    const e = await backend.matmulTransB(diff, weight, m, cols, out, { out: eFull.subarray(0, m * out) });
    const et = etFull.subarray(0, out * m);
    const xt = xtFull.subarray(0, cols * m);
    // et = the sample-weighted E transposed (out, m), xt = the chunk of xp transposed (cols, m).
    transposeInto(
      e,
      0,
      out,
      m,
      out,
      et,
      rowWeights === undefined ? {} : { rowScale: rowWeights.subarray(t0, t0 + m) },
    );
    transposeInto(xp, t0 * cols, cols, m, cols, xt);
    await addProductByRowBlocks(backend, et, xt, out, m, cols, rb, prod, acc);
  }
}

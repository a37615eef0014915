/** Which matmulTransB and gramAccumulate calls go to onnxruntime: the rest run on the delegate (wasm) backend. */

/**
 * The smallest matmul `y[m, n] = x[m, k] · w[n, k]ᵀ` that runs on onnxruntime. A call goes there when
 * k ≥ minDim, n ≥ minDim and m·k·n ≥ minMkn; any other call runs on the delegate.
 */
export interface NativeGemmThreshold {
  /** Smallest k and smallest n (both dimensions of the weight). */
  readonly minDim: number;
  /** Smallest m·k·n (half the FLOPs of the call); for a Gram x[m, k]ᵀx, m·k·k. */
  readonly minMkn: number;
  /**
   * Smallest k of a `gramAccumulate` that runs on onnxruntime (with m·k·k ≥ minMkn); narrower inputs
   * take the delegate's Gram. 512, where the wasm backend's own wide Gram path begins.
   */
  readonly gramMinCols: number;
}

/**
 * The default threshold, from three runs of bench/threshold.bench.ts on a 2-core AVX-512 machine
 * (bench-results/threshold.md, threshold-run2.md loaded; threshold-run3.md nearly idle; wasm and
 * onnxruntime on 2 threads): with k = 64 (stories260K's widths) onnxruntime was 0.4–4.4× wasm in the
 * loaded runs, i.e. no reliable gain; with k and n ≥ 256 it won in every shape measured, 1.5–15×; with
 * k = 128 (run 3: SparseGPT's lazy batch and the blocked factor's updates, m 128–8192) 1.4–6.1×, so
 * minDim is 128 (was 256 through run 2). The m·k·n floor (2²², e.g. 64 rows of a 256 × 256 weight)
 * keeps calls whose time is dominated by the call overhead on wasm; it is conservative. Every matmul
 * of a stories260K-sized model (hidden 64, MLP 172, vocab 512) and of llama2xs (hidden 64, MLP 192)
 * has k or n below 128, so such models give the delegate's results bit for bit.
 */
export const DEFAULT_NATIVE_GEMM_THRESHOLD: NativeGemmThreshold = {
  minDim: 128,
  minMkn: 1 << 22,
  gramMinCols: 512,
};

/**
 * Whether a matmul of this shape runs on onnxruntime under `t`.
 *
 * @example
 * usesNativeGemm(512, 2048, 2048, DEFAULT_NATIVE_GEMM_THRESHOLD); // true
 * usesNativeGemm(512, 64, 512, DEFAULT_NATIVE_GEMM_THRESHOLD); // false
 */
export function usesNativeGemm(m: number, k: number, n: number, t: NativeGemmThreshold): boolean {
  return k >= t.minDim && n >= t.minDim && m * k * n >= t.minMkn;
}

/**
 * Whether a Gram `acc[k, k] += x[m, k]ᵀx` runs on onnxruntime under `t`.
 *
 * @example
 * usesNativeGram(4096, 2048, DEFAULT_NATIVE_GEMM_THRESHOLD); // true
 * usesNativeGram(4096, 288, DEFAULT_NATIVE_GEMM_THRESHOLD); // false: narrower than gramMinCols
 */
export function usesNativeGram(m: number, k: number, t: NativeGemmThreshold): boolean {
  return k >= t.gramMinCols && m * k * k >= t.minMkn;
}

/**
 * Validate a (partial) threshold option and fill it from the default.
 *
 * @throws RangeError naming the field when it is not a non-negative safe integer.
 */
export function resolveThreshold(
  where: string,
  t: Partial<NativeGemmThreshold> | undefined,
): NativeGemmThreshold {
  const r = { ...DEFAULT_NATIVE_GEMM_THRESHOLD, ...t };
  for (const key of ["minDim", "minMkn", "gramMinCols"] as const) {
    const v = r[key];
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(
        `${where}: threshold.${key} must be a non-negative integer, got ${JSON.stringify(String(v))}`,
      );
  }
  return r;
}

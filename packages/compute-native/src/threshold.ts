/** Which matmulTransB calls go to onnxruntime: the rest run on the delegate (wasm) backend. */

/**
 * The smallest matmul `y[m, n] = x[m, k] · w[n, k]ᵀ` that runs on onnxruntime. A call goes there when
 * k ≥ minDim, n ≥ minDim and m·k·n ≥ minMkn; any other call runs on the delegate.
 */
export interface NativeGemmThreshold {
  /** Smallest k and smallest n (both dimensions of the weight). */
  readonly minDim: number;
  /** Smallest m·k·n (half the FLOPs of the call). */
  readonly minMkn: number;
}

/**
 * The default threshold, from two runs of bench/threshold.bench.ts on a loaded 2-core AVX-512 machine
 * (bench-results/threshold.md, threshold-run2.md; wasm and onnxruntime on 2 threads): with k = 64
 * (stories260K's widths) onnxruntime was 0.4–4.4× wasm, i.e. no reliable gain; with k and n ≥ 256 it
 * won in every shape measured, 1.5–15× (m from 16 to 512). The m·k·n floor (2²², e.g. 64 rows of a
 * 256 × 256 weight) keeps calls whose time is dominated by the call overhead on wasm; it is
 * conservative (16 × 256 × 256 already won). Every matmul of a stories260K-sized model (hidden 64)
 * stays below it, so such models give the delegate's results bit for bit.
 */
export const DEFAULT_NATIVE_GEMM_THRESHOLD: NativeGemmThreshold = { minDim: 256, minMkn: 1 << 22 };

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
 * Validate a (partial) threshold option and fill it from the default.
 *
 * @throws RangeError naming the field when it is not a non-negative safe integer.
 */
export function resolveThreshold(
  where: string,
  t: Partial<NativeGemmThreshold> | undefined,
): NativeGemmThreshold {
  const r = { ...DEFAULT_NATIVE_GEMM_THRESHOLD, ...t };
  for (const key of ["minDim", "minMkn"] as const) {
    const v = r[key];
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(
        `${where}: threshold.${key} must be a non-negative integer, got ${JSON.stringify(String(v))}`,
      );
  }
  return r;
}

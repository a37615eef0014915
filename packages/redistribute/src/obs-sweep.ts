// ---- SparseGPT on a ComputeBackend: the lazy batch update as one GEMM per column block ----

import type { ComputeBackend } from "@mama-prune/core";

/**
 * Smallest input width for which {@link sparsegpt} with a `backend` runs the blocked Cholesky/inverse
 * and the lazy batch updates on it (narrower layers keep the float64 JS path, bit for bit: a GEMM
 * does not pay for itself there, and small models' results stay exactly as published).
 */
export const SPARSEGPT_BACKEND_MIN_COLS = 512;

/** Multiply-adds and time of the lazy updates of one {@link sparsegpt} run (for benchmarks). */
export interface LazyGemmStats {
  multiplyAdds: number;
  ms: number;
}

/**
 * Collects the OBS errors of every row of a column block (float32, rows × bw) and applies
 * W[:, i2:] −= Err·U[i1:i2, i2:] as one backend GEMM: y = Err·(U[i1:i2, i2:]ᵀ)ᵀ, i.e. matmulTransB
 * with x = Err (rows, bw) and w = U[i1:i2, i2:]ᵀ (cols − i2, bw).
 */
export class LazyGemm {
  private readonly backend: ComputeBackend;
  private readonly rows: number;
  private readonly cols: number;
  private readonly errs: Float32Array; // (rows, blockSize), row stride bw of the current block
  private y: Float32Array = new Float32Array(0);
  private x: Float32Array = new Float32Array(0);
  readonly stats: LazyGemmStats = { multiplyAdds: 0, ms: 0 };

  constructor(backend: ComputeBackend, rows: number, cols: number, blockSize: number) {
    this.backend = backend;
    this.rows = rows;
    this.cols = cols;
    this.errs = new Float32Array(rows * blockSize);
  }

  /**
   * Store the errors of rows r0..r0+tile (err: (tile, blockSize), first bw columns live), of columns
   * [c0, c1) of the block (default all bw).
   */
  collect(
    err: Float64Array,
    blockSize: number,
    r0: number,
    tile: number,
    bw: number,
    c0: number = 0,
    c1: number = bw,
  ): void {
    for (let t = 0; t < tile; t++) {
      const dst = (r0 + t) * bw;
      for (let c = c0; c < c1; c++) this.errs[dst + c] = err[t * blockSize + c]!;
    }
  }

  /**
   * Inside the block [i1, i1 + bw): W[:, i1+c2 : i1+bw] −= Err[:, c1:c2]·U[i1+c1 : i1+c2, i1+c2 : i1+bw]
   * (the errors of the sub-block [c1, c2), collected, carried to the block's later columns).
   */
  async applyWithin(
    w: Float64Array,
    u: Float64Array,
    i1: number,
    bw: number,
    c1: number,
    c2: number,
  ): Promise<void> {
    const { rows, cols } = this;
    const sb = c2 - c1;
    const n2 = bw - c2;
    if (n2 === 0 || rows === 0 || sb === 0) return;
    const t0 = performance.now();
    if (this.x.length < rows * sb) this.x = new Float32Array(rows * sb);
    const x = this.x.subarray(0, rows * sb); // (rows, sb)
    for (let r = 0; r < rows; r++) x.set(this.errs.subarray(r * bw + c1, r * bw + c2), r * sb);
    const ut = new Float32Array(n2 * sb); // (n2, sb) U[i1+c1 : i1+c2, i1+c2 : i1+bw]ᵀ
    for (let c = 0; c < sb; c++) {
      const uo = (i1 + c1 + c) * cols + i1 + c2;
      for (let k = 0; k < n2; k++) ut[k * sb + c] = u[uo + k]!;
    }
    if (this.y.length < rows * n2) this.y = new Float32Array(rows * n2);
    const out = this.y.subarray(0, rows * n2); // (rows, n2)
    const y = await this.backend.matmulTransB(x, ut, rows, sb, n2, { out });
    this.backend.invalidate(ut);
    for (let r = 0; r < rows; r++) {
      const wo = r * cols + i1 + c2;
      const yo = r * n2;
      for (let k = 0; k < n2; k++) w[wo + k]! -= y[yo + k]!;
    }
    this.stats.multiplyAdds += rows * sb * n2;
    this.stats.ms += performance.now() - t0;
  }

  /** W[:, i2:] −= Err·U[i1:i2, i2:] with the errors collected for the block [i1, i2). */
  async apply(w: Float64Array, u: Float64Array, i1: number, i2: number): Promise<void> {
    const { rows, cols } = this;
    const bw = i2 - i1;
    const n2 = cols - i2;
    if (n2 === 0 || rows === 0) return;
    const t0 = performance.now();
    const ut = new Float32Array(n2 * bw); // (n2, bw) U[i1:i2, i2:]ᵀ
    for (let c = 0; c < bw; c++) {
      const uo = (i1 + c) * cols + i2;
      for (let k = 0; k < n2; k++) ut[k * bw + c] = u[uo + k]!;
    }
    if (this.y.length < rows * n2) this.y = new Float32Array(rows * n2);
    const out = this.y.subarray(0, rows * n2); // (rows, n2)
    const x = this.errs.subarray(0, rows * bw); // (rows, bw)
    const y = await this.backend.matmulTransB(x, ut, rows, bw, n2, { out });
    this.backend.invalidate(ut);
    for (let r = 0; r < rows; r++) {
      const wo = r * cols + i2;
      const yo = r * n2;
      for (let k = 0; k < n2; k++) w[wo + k]! -= y[yo + k]!;
    }
    this.stats.multiplyAdds += rows * bw * n2;
    this.stats.ms += performance.now() - t0;
  }
}

/**
 * The k-th smallest value (0-based) of `a`, reordering `a` (quickselect, median-of-three pivots; after
 * 2·log₂(n) + 8 rounds the remaining range is sorted, so the worst case stays O(n log n)). Equal to
 * `a.sort()[k]` for finite values, in O(n) instead of O(n log n): SparseGPT's per-block threshold.
 */
export function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let rounds = 2 * Math.log2(a.length + 1) + 8;
  while (hi > lo) {
    if (rounds-- <= 0) {
      a.subarray(lo, hi + 1).sort();
      return a[k]!;
    }
    const mid = (lo + hi) >>> 1;
    // median of a[lo], a[mid], a[hi] as the pivot
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // [lo, j] ≤ pivot, [i, hi] ≥ pivot, (j, i) = pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

// ---- SparseGPT on a ComputeBackend: the lazy batch update as one GEMM per column block ----

import { type ComputeBackend, type NmPattern, nmGroupPruned, transposeInto } from "@mama-prune/core";

/**
 * Smallest input width for which {@link sparsegpt} with a `backend` runs the blocked Cholesky/inverse
 * and the lazy batch updates on it (narrower layers keep the float64 JS path, bit for bit: a GEMM
 * does not pay for itself there, and small models' results stay exactly as published).
 */
export const SPARSEGPT_BACKEND_MIN_COLS = 512;

/**
 * Output floats per GEMM of the lazy update: W[:, i2:] −= Err·U[i1:i2, i2:] runs in column chunks of
 * max(256, floor(LAZY_GEMM_CHUNK_FLOATS / rows)) columns, so its float32 output stays at 32 MiB
 * (2048 columns at rows = 4096) instead of rows × (cols − i2) (172 MiB at 4096 × 11008, and as much
 * again in the backend's memory). Each output element is the same dot product whatever the chunking,
 * so the weights are the same bit for bit.
 */
export const LAZY_GEMM_CHUNK_FLOATS: number = 2 ** 23;

/** Columns per lazy-update GEMM for `rows` output rows (see {@link LAZY_GEMM_CHUNK_FLOATS}). */
export function lazyGemmChunk(rows: number): number {
  return Math.max(256, Math.floor(LAZY_GEMM_CHUNK_FLOATS / Math.max(1, rows)));
}

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
  private readonly chunk: number;
  private y: Float32Array = new Float32Array(0);
  private x: Float32Array = new Float32Array(0);
  private ut: Float32Array = new Float32Array(0);
  readonly stats: LazyGemmStats = { multiplyAdds: 0, ms: 0 };

  constructor(
    backend: ComputeBackend,
    rows: number,
    cols: number,
    blockSize: number,
    chunk: number = lazyGemmChunk(rows),
  ) {
    if (!Number.isInteger(chunk) || chunk < 1)
      throw new RangeError(`LazyGemm: chunk must be ≥ 1, got ${chunk}`);
    this.backend = backend;
    this.rows = rows;
    this.cols = cols;
    this.chunk = chunk;
    this.errs = new Float32Array(rows * blockSize);
  }

  /**
   * W[:, c0:c0+n2] −= x·U[u0:u0+k, c0:c0+n2] for x (rows, k), in column chunks of at most `chunk`
   * (U's rows u0.. transposed into a reused float32 buffer, the output into another).
   */
  private async update(
    w: Float64Array,
    u: Float64Array,
    x: Float32Array,
    k: number,
    u0: number,
    c0: number,
    n2: number,
  ): Promise<void> {
    const { rows, cols } = this;
    const ch = Math.min(this.chunk, n2);
    if (this.ut.length < ch * k) this.ut = new Float32Array(ch * k);
    if (this.y.length < rows * ch) this.y = new Float32Array(rows * ch);
    for (let j0 = 0; j0 < n2; j0 += ch) {
      const nc = Math.min(ch, n2 - j0);
      const ut = this.ut.subarray(0, nc * k); // (nc, k) U[u0:u0+k, c0+j0 : c0+j0+nc]ᵀ
      transposeInto(u, u0 * cols + c0 + j0, cols, k, nc, ut);
      const out = this.y.subarray(0, rows * nc); // (rows, nc)
      const y = await this.backend.matmulTransB(x, ut, rows, k, nc, { out });
      this.backend.invalidate(ut);
      for (let r = 0; r < rows; r++) {
        const wo = r * cols + c0 + j0;
        const yo = r * nc;
        for (let q = 0; q < nc; q++) w[wo + q]! -= y[yo + q]!;
      }
    }
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
    const { rows } = this;
    const sb = c2 - c1;
    const n2 = bw - c2;
    if (n2 === 0 || rows === 0 || sb === 0) return;
    const t0 = performance.now();
    if (this.x.length < rows * sb) this.x = new Float32Array(rows * sb);
    const x = this.x.subarray(0, rows * sb); // (rows, sb)
    for (let r = 0; r < rows; r++) x.set(this.errs.subarray(r * bw + c1, r * bw + c2), r * sb);
    await this.update(w, u, x, sb, i1 + c1, i1 + c2, n2);
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
    await this.update(w, u, this.errs.subarray(0, rows * bw), bw, i1, i2, n2);
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

/**
 * In one row, zero the mask of the N smallest scores w²/U_jj² among columns j..j+width−1 (ties: lower
 * column first): `full` of them for a full group (width = M; the caller's nmGroupPruned(nm, M)), or
 * floor(N·t/M) for the row's tail group of t < M columns (core's `nmGroupPruned`). Selects by N passes
 * of a minimum search over typed scratch (`scores`, `taken`: at least M long), where sorting an index
 * array with a comparator per group cost ~8 % of a 2:4 SparseGPT run in plain JavaScript; the zeros
 * are the first N of that sort, bit for bit.
 */
export function selectNmGroup(
  w: Float64Array,
  mask: Uint8Array,
  at: number,
  j: number,
  width: number,
  nm: NmPattern,
  full: number,
  invDiagSq: Float64Array,
  scores: Float64Array,
  taken: Uint8Array,
): void {
  for (let t = 0; t < width; t++) {
    const v = w[at + t]!;
    scores[t] = v * v * invDiagSq[j + t]!;
  }
  zeroLowestInGroup(mask, at, width, width === nm.m ? full : nmGroupPruned(nm, width), scores, taken);
}

/**
 * Zero the mask at `at + t` for the `k` lowest `scores[t]`, t < width (ties: the lower t first, as a
 * stable sort would), by k passes of a minimum search; `taken` is scratch of at least `width`.
 */
export function zeroLowestInGroup(
  mask: Uint8Array,
  at: number,
  width: number,
  k: number,
  scores: Float64Array,
  taken: Uint8Array,
): void {
  for (let t = 0; t < width; t++) taken[t] = 0;
  for (let q = 0; q < k; q++) {
    let best = -1;
    let bestScore = 0;
    for (let t = 0; t < width; t++) {
      if (taken[t] === 1) continue;
      const sc = scores[t]!;
      if (best < 0 || sc < bestScore) {
        best = t;
        bestScore = sc;
      }
    }
    taken[best] = 1;
    mask[at + best] = 0;
  }
}

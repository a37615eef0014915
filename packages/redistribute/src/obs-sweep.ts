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
 * Column blocks per lazy super-block for `cols` inputs and blocks of `blockSize`: about
 * √(cols / blockSize), which minimises the float64 passes over W (near updates inside the super-block
 * plus far updates after it, see {@link LazyGemm}); 1 for narrow inputs.
 */
export function lazySuperBlocks(cols: number, blockSize: number): number {
  return Math.max(1, Math.round(Math.sqrt(cols / Math.max(1, blockSize))));
}

/**
 * Collects the OBS errors of every row of a column block (float32, rows × bw) and applies the lazy
 * batch update W[:, i2:] −= Err·U[i1:i2, i2:] as backend GEMMs (y = Err·(U[i1:i2, i2:]ᵀ)ᵀ, i.e.
 * matmulTransB with x = Err and w = the transposed rows of U), in two levels: the blocks are grouped
 * into super-blocks of `superBlocks` blocks (columns [s1, s2)); after each block only the rest of its
 * super-block is updated (W[:, i2:s2]), and after the super-block's last block the columns beyond it
 * get all of the super-block's errors at once, W[:, s2:] −= Err[:, s1:s2]·U[s1:s2, s2:]. Every column
 * receives the same terms as block by block (the same algebra one level up), with fewer float64 passes
 * over W (≈ 4× fewer at cols = 8192, blockSize 128): the float32 GEMM sums a super-block's errors
 * before the float64 subtraction instead of one block's. `superBlocks` = 1 is the block-by-block update.
 */
export class LazyGemm {
  private readonly backend: ComputeBackend;
  private readonly rows: number;
  private readonly cols: number;
  private readonly errs: Float32Array; // (rows, blockSize), row stride bw of the current block
  private readonly superCols: number; // columns per super-block (superBlocks · blockSize)
  private readonly superErrs: Float32Array; // (rows, superCols), row stride s2 − s1 of the current super-block
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
    superBlocks: number = lazySuperBlocks(cols, blockSize),
  ) {
    if (!Number.isInteger(chunk) || chunk < 1)
      throw new RangeError(`LazyGemm: chunk must be ≥ 1, got ${chunk}`);
    if (!Number.isInteger(superBlocks) || superBlocks < 1)
      throw new RangeError(`LazyGemm: superBlocks must be an integer ≥ 1, got ${superBlocks}`);
    this.backend = backend;
    this.rows = rows;
    this.cols = cols;
    this.chunk = chunk;
    this.errs = new Float32Array(rows * blockSize);
    this.superCols = superBlocks * blockSize;
    this.superErrs = new Float32Array(superBlocks > 1 ? rows * Math.min(cols, this.superCols) : 0);
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

  /**
   * The block [i1, i2) is done (its errors collected): W[:, i2:s2] −= Err·U[i1:i2, i2:s2] inside its
   * super-block [s1, s2), and after the super-block's last block W[:, s2:] −= Err_S·U[s1:s2, s2:] with
   * the errors of all its blocks. Blocks come in order, each starting where the previous one ended.
   */
  async apply(w: Float64Array, u: Float64Array, i1: number, i2: number): Promise<void> {
    const { rows, cols, superCols } = this;
    const bw = i2 - i1;
    if (rows === 0 || i2 >= cols) return;
    const t0 = performance.now();
    const errs = this.errs.subarray(0, rows * bw); // (rows, bw)
    if (this.superErrs.length === 0) {
      await this.update(w, u, errs, bw, i1, i2, cols - i2); // one block per super-block
      this.stats.multiplyAdds += rows * bw * (cols - i2);
    } else {
      const s1 = i1 - (i1 % superCols);
      const s2 = Math.min(cols, s1 + superCols);
      const sw = s2 - s1;
      if (i2 < s2) {
        await this.update(w, u, errs, bw, i1, i2, s2 - i2);
        this.stats.multiplyAdds += rows * bw * (s2 - i2);
      }
      const se = this.superErrs;
      for (let r = 0; r < rows; r++) se.set(errs.subarray(r * bw, (r + 1) * bw), r * sw + (i1 - s1));
      if (i2 === s2) {
        await this.update(w, u, se.subarray(0, rows * sw), sw, s1, s2, cols - s2);
        this.stats.multiplyAdds += rows * sw * (cols - s2);
      }
    }
    this.stats.ms += performance.now() - t0;
  }
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

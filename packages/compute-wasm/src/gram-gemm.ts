/**
 * The Gram matrix of wide inputs (k ≥ {@link GRAM_GEMM_MIN_K}) as block rows of the matmul kernel:
 * per chunk of {@link GRAM_GEMM_DEPTH} rows of x, xᵀ is packed once in both operand layouts and each
 * block row [ib, ib + B) of the upper triangle is one `mm` call whose operands are offsets into those
 * packs (y = X_b·X[ib:]ᵀ, about half the flops of the full product). The float32 block is added to
 * the float64 accumulator in JavaScript, its transpose mirrored into the lower triangle from the same
 * values (exactly symmetric increments). Scratch: 2·kp·depth + B·kp floats (≈ 72 MiB at k = 8192)
 * instead of the kp² float32 + kp² float64 of the tile kernel path. @internal
 */

/** Smallest k that takes the block-row GEMM path (narrower Gram matrices keep the tile kernel, bit for bit). */
export const GRAM_GEMM_MIN_K = 512;
/** Rows of x summed in float32 (inside one `mm` call) before the float64 add. */
export const GRAM_GEMM_DEPTH = 1024;
/** Output rows per block row (a multiple of 8). */
export const GRAM_GEMM_BLOCK = 256;

/** Columns per tile of the fold (keeps the strided mirror reads of y inside the cache). */
const FOLD_TILE = 64;

/**
 * acc[ib + r, ib + c] += y[r, c] for c ≥ r and, for c > r, acc[ib + c, ib + r] += y[r, c]
 * (r < rows, c < k − ib): one block row of the upper triangle, y row-major with leading dim `ny`.
 *
 * @example
 * foldGramBlockRow(y, ny, rows, ib, k, acc);
 */
export function foldGramBlockRow(
  y: Float32Array,
  ny: number,
  rows: number,
  ib: number,
  k: number,
  acc: Float64Array,
): void {
  const kr = k - ib; // live columns of the block row
  for (let c0 = 0; c0 < kr; c0 += FOLD_TILE) {
    const c1 = Math.min(c0 + FOLD_TILE, kr);
    for (let r = 0; r < rows && r < c1; r++) {
      const yo = r * ny;
      const ao = (ib + r) * k + ib;
      for (let c = Math.max(c0, r); c < c1; c++)
        acc[ao + c] = (acc[ao + c] as number) + (y[yo + c] as number);
    }
    for (let c = Math.max(c0, 1); c < c1; c++) {
      const ao = (ib + c) * k + ib;
      const rEnd = Math.min(rows, c);
      for (let r = 0; r < rEnd; r++) acc[ao + r] = (acc[ao + r] as number) + (y[r * ny + c] as number);
    }
  }
}

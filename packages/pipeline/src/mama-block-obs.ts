// ---- MAMA's wide path: the block-conditional kept-set OBS term from one factorisation ----

import { PruneError } from "@mama-prune/core";
import { cholesky, inverseFromCholesky, lowerTriangularInverse } from "@mama-prune/redistribute";

/**
 * The conditional precisions S_b = (G_bb)⁻¹ of each column block b (B consecutive columns, the last
 * block possibly shorter) given all other columns, with G = (H + λI)⁻¹: the Schur complement of H + λI
 * onto block b. Shared by every row of a linear.
 */
export interface BlockConditionalObs {
  readonly cols: number;
  readonly block: number;
  /** S_b, row-major (len_b × len_b), one per block in column order. */
  readonly precisions: readonly Float64Array[];
  /** diag(G_bb) per block: the term of a block whose columns are all kept (no inverse needed). */
  readonly fullDiagonals: readonly Float64Array[];
  /** The linear, for error messages. */
  readonly where: string;
}

/**
 * S_b = (G_bb)⁻¹ for every block of `block` columns, from the upper Cholesky factor U of
 * G = (H + λI)⁻¹ = UᵀU (as `fullInverseUpper` returns it): (G_bb)_pq = Σ_{i ≤ min(p, q)} U_ip·U_iq.
 * Cost: ≈ block·cols²/2 multiply-adds for the G_bb plus (cols/block)·block³ for their inverses.
 *
 * @throws RangeError when `block` is not a positive integer.
 * @throws PruneError NUMERIC_FAILURE when a G_bb is not positive definite (rounding at extreme conditioning).
 */
export function blockConditionalPrecisions(
  u: Float64Array,
  cols: number,
  block: number,
  where: string,
): BlockConditionalObs {
  if (!Number.isInteger(block) || block < 1) {
    throw new RangeError(`${where}: wide.block must be a positive integer, got ${String(block)}`);
  }
  const precisions: Float64Array[] = [];
  const fullDiagonals: Float64Array[] = [];
  for (let c0 = 0; c0 < cols; c0 += block) {
    const len = Math.min(block, cols - c0);
    const g = new Float64Array(len * len); // (len, len) G_bb
    for (let i = 0; i < c0 + len; i++) {
      const o = i * cols + c0;
      const p0 = Math.max(0, i - c0); // U is upper triangular: U_ip = 0 for p < i
      for (let p = p0; p < len; p++) {
        const up = u[o + p]!;
        if (up === 0) continue;
        const gp = p * len;
        for (let q = p; q < len; q++) g[gp + q]! += up * u[o + q]!;
      }
    }
    for (let p = 0; p < len; p++) for (let q = p + 1; q < len; q++) g[q * len + p] = g[p * len + q]!;
    const c = cholesky(g, len);
    if (!c.ok) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: the wide path's block OBS term needs a positive-definite block G_bb of (H + λI)⁻¹ (columns ${c0}..${c0 + len - 1}), got a failing pivot ${c.pivot}.`,
      );
    }
    precisions.push(inverseFromCholesky(c.lower, len));
    fullDiagonals.push(Float64Array.from({ length: len }, (_, p) => g[p * len + p]!));
  }
  return { cols, block, precisions, fullDiagonals, where };
}

/**
 * The block-conditional OBS denominators of one row: for each block b and the row's kept columns
 * K_b of it, d_j = [((S_b)_{K_b K_b})⁻¹]_jj (0 for pruned columns). Equal to the exact kept-set term
 * [(H_KK + λI)⁻¹]_jj when the row has no pruned column outside block b (and so for every row when
 * the block is the whole row); otherwise the pruned columns of other blocks are treated as kept.
 * Cost: Σ_b |K_b|³/3 (a Cholesky and a triangular inverse per block with a pruned column; none for a fully kept block).
 *
 * @throws PruneError NUMERIC_FAILURE when a kept sub-block is not positive definite.
 */
export function blockKeptDiagonal(obs: BlockConditionalObs, maskRow: Uint8Array): Float64Array {
  const { cols, block, where } = obs;
  const d = new Float64Array(cols); // (cols,)
  const kept: number[] = [];
  for (let b = 0, c0 = 0; c0 < cols; b++, c0 += block) {
    const len = Math.min(block, cols - c0);
    const s = obs.precisions[b]!;
    kept.length = 0;
    for (let p = 0; p < len; p++) if (maskRow[c0 + p] === 1) kept.push(p);
    const k = kept.length;
    if (k === 0) continue;
    if (k === len) {
      d.set(obs.fullDiagonals[b]!, c0); // ((S_b)⁻¹)_jj = (G_bb)_jj
      continue;
    }
    const a = new Float64Array(k * k); // (k, k) (S_b)_{K_b K_b}
    for (let p = 0; p < k; p++) {
      const sp = kept[p]! * len;
      for (let q = 0; q < k; q++) a[p * k + q] = s[sp + kept[q]!]!;
    }
    const c = cholesky(a, k);
    if (!c.ok) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: the wide path's block OBS term needs a positive-definite kept sub-block of S_b (columns from ${c0}), got a failing pivot ${c.pivot}.`,
      );
    }
    // [A⁻¹]_jj = Σ_{i ≥ j} (L⁻¹)_ij² with A = L·Lᵀ (L⁻¹ lower triangular).
    const li = lowerTriangularInverse(c.lower, k); // (k, k)
    for (let i = 0; i < k; i++) {
      const o = i * k;
      for (let p = 0; p <= i; p++) d[c0 + kept[p]!]! += li[o + p]! * li[o + p]!;
    }
  }
  return d;
}

// ---- SparseGPT's inner kernels: the float64 lazy batch update and the per-group N:M selection ----

import { kthSmallest, type NmPattern, nmGroupPruned, PruneError } from "@mama-prune/core";
import { selectNmGroup, zeroLowestInGroup } from "./obs-sweep.ts";
import type { SparseGptMaskScore } from "./sparsegpt-types.ts";

/** Rows processed together in the lazy batch update. */
export const ROW_TILE = 4;
/** Columns of the sub-blocks of the backend path's in-block sweep (a multiple of common N:M's M). */
export const SUB_BLOCK: number = 32;

/** W[r0 + t, i2:] −= Σ_c err[t, c]·U[i1 + c, i2:] for t < tile. */
export function lazyUpdate(
  w: Float64Array,
  u: Float64Array,
  err: Float64Array,
  cols: number,
  blockSize: number,
  r0: number,
  tile: number,
  i1: number,
  bw: number,
  i2: number,
): void {
  if (tile === ROW_TILE) {
    const w0 = r0 * cols;
    const w1 = w0 + cols;
    const w2 = w1 + cols;
    const w3 = w2 + cols;
    for (let c = 0; c < bw; c++) {
      const e0 = err[c]!;
      const e1 = err[blockSize + c]!;
      const e2 = err[2 * blockSize + c]!;
      const e3 = err[3 * blockSize + c]!;
      if (e0 === 0 && e1 === 0 && e2 === 0 && e3 === 0) continue;
      const uj = (i1 + c) * cols;
      for (let k = i2; k < cols; k++) {
        const v = u[uj + k]!;
        w[w0 + k]! -= e0 * v;
        w[w1 + k]! -= e1 * v;
        w[w2 + k]! -= e2 * v;
        w[w3 + k]! -= e3 * v;
      }
    }
    return;
  }
  for (let t = 0; t < tile; t++) {
    const ro = (r0 + t) * cols;
    for (let c = 0; c < bw; c++) {
      const e = err[t * blockSize + c]!;
      if (e === 0) continue;
      const uj = (i1 + c) * cols;
      for (let k = i2; k < cols; k++) w[ro + k]! -= e * u[uj + k]!;
    }
  }
}

/**
 * In one row, zero the mask of the N smallest scores among columns j..j+width−1 (ties: lower column);
 * width = M, or t < M for the row's tail group, which loses floor(N·t/M) (core's nmGroupPruned). The
 * scores are w²/U_jj², or, when `score` is given, what it writes into nmScores[0, width).
 */
export function selectNM(
  w: Float64Array,
  mask: Uint8Array,
  at: number,
  j: number,
  width: number,
  nm: NmPattern,
  full: number,
  invDiagSq: Float64Array,
  nmScores: Float64Array,
  taken: Uint8Array,
  score?: (j: number, width: number, out: Float64Array) => void,
): void {
  if (score === undefined) {
    selectNmGroup(w, mask, at, j, width, nm, full, invDiagSq, nmScores, taken);
    return;
  }
  score(j, width, nmScores);
  zeroLowestInGroup(mask, at, width, width === nm.m ? full : nmGroupPruned(nm, width), nmScores, taken);
}

/**
 * Zero the mask of the `count` lowest of `h` × `bw` scores (scores row-major from `so`, the mask's
 * rows `cols` apart from `mo`); ties: the lower row-major index first. The `count`-th lowest score
 * comes from core's `kthSmallest` on a copy (`scratch`, at least h·bw long), then every score below it
 * is pruned by a branch-free 0/1 store and the entries equal to it in row-major order until `count`
 * are pruned: the set a sort by (score, index) selects, in O(h·bw) instead of O(h·bw·log).
 */
export function pruneLowest(
  scores: Float64Array,
  so: number,
  h: number,
  bw: number,
  mask: Uint8Array,
  mo: number,
  cols: number,
  count: number,
  scratch: Float64Array,
): void {
  const n = h * bw;
  if (count <= 0) return;
  if (count >= n) {
    for (let r = 0; r < h; r++) mask.fill(0, mo + r * cols, mo + r * cols + bw);
    return;
  }
  const copy = scratch.subarray(0, n);
  copy.set(scores.subarray(so, so + n));
  const threshold = kthSmallest(copy, count - 1);
  // The comparison goes either way half the time: a 0/1 store, not a branch; the entries below the
  // threshold are counted on the way (scores hold no NaN, so "not ≥" is "<").
  let below = 0;
  for (let r = 0; r < h; r++) {
    const sr = so + r * bw;
    const mr = mo + r * cols;
    for (let c = 0; c < bw; c++) {
      const ge = +(scores[sr + c]! >= threshold);
      mask[mr + c] = mask[mr + c]! & ge;
      below += 1 - ge;
    }
  }
  let ties = count - below; // entries equal to the threshold to prune, lowest index first
  for (let r = 0; r < h && ties > 0; r++) {
    const sr = so + r * bw;
    const mr = mo + r * cols;
    for (let c = 0; c < bw && ties > 0; c++) {
      if (scores[sr + c] === threshold) {
        mask[mr + c] = 0;
        ties--;
      }
    }
  }
}

/**
 * Per row of a column block [i1, i1 + bw): zero the mask of the `count` lowest scores (scores:
 * (rows, bw)); ties: lower column first ({@link pruneLowest} row by row; `scratch` at least bw long).
 */
export function selectPerRow(
  scores: Float64Array,
  mask: Uint8Array,
  rows: number,
  cols: number,
  i1: number,
  bw: number,
  count: number,
  scratch: Float64Array,
): void {
  for (let r = 0; r < rows; r++)
    pruneLowest(scores, r * bw, 1, bw, mask, r * cols + i1, cols, count, scratch);
}

/**
 * The OBS step of pruned entry (row at `ro`, column j = i1 + c): e = w/U_jj goes to err[eo + c], the
 * weight to 0, and W[row, j+1 : kEnd] −= e·U[j, j+1 : kEnd]. Returns obsError + e².
 */
export function obsEliminate(
  w: Float64Array,
  u: Float64Array,
  err: Float64Array,
  ro: number,
  eo: number,
  i1: number,
  c: number,
  cols: number,
  kEnd: number,
  obsError: number,
): number {
  const j = i1 + c;
  const uj = j * cols;
  const e = w[ro + j]! / u[uj + j]!;
  err[eo + c] = e;
  w[ro + j] = 0;
  if (e !== 0) for (let k = j + 1; k < kEnd; k++) w[ro + k]! -= e * u[uj + k]!;
  return obsError + e * e;
}

/**
 * One row's OBS steps over columns [c1, c2) of the block at i1 under a fixed mask: err is 0 on kept
 * entries, and the pruned ones (listed in `prunedCols` without a branch per column, in column order)
 * take {@link obsEliminate}. Returns the updated obsError (the terms added in column order).
 */
export function sweepRowFixedMask(
  w: Float64Array,
  u: Float64Array,
  mask: Uint8Array,
  err: Float64Array,
  prunedCols: Int32Array,
  ro: number,
  eo: number,
  i1: number,
  c1: number,
  c2: number,
  cols: number,
  obsError: number,
): number {
  let np = 0;
  const mo = ro + i1;
  for (let c = c1; c < c2; c++) {
    err[eo + c] = 0;
    prunedCols[np] = c;
    np += 1 - mask[mo + c]!;
  }
  let total = obsError;
  for (let p = 0; p < np; p++)
    total = obsEliminate(w, u, err, ro, eo, i1, prunedCols[p]!, cols, i1 + c2, total);
  return total;
}

/**
 * A caller's {@link SparseGptMaskScore} of a region of the working weights, checked: a NaN would break
 * the selection's order, so it throws NUMERIC_FAILURE naming the region and offset.
 */
export function checkedScoreRegion(
  maskScore: SparseGptMaskScore,
  w: Float64Array,
  rows: number,
  cols: number,
  obsDenominator: Float64Array,
  where: string,
): (row0: number, row1: number, col0: number, col1: number, out: Float64Array) => void {
  return (row0, row1, col0, col1, out) => {
    maskScore({ weight: w, rows, cols, row0, row1, col0, col1, obsDenominator }, out);
    const len = (row1 - row0) * (col1 - col0);
    for (let k = 0; k < len; k++) {
      if (Number.isNaN(out[k])) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: option maskScore returned NaN for rows [${row0}, ${row1}) × columns [${col0}, ${col1}). Expected comparable scores, got NaN at offset ${k}.`,
        );
      }
    }
  };
}

/** ‖W − W'‖² over the live input columns (dead[j] = 1 skipped). */
export function liveDeltaSq(
  before: Float32Array,
  after: Float32Array,
  rows: number,
  cols: number,
  dead: Uint8Array,
): number {
  let deltaSq = 0;
  for (let r = 0; r < rows; r++) {
    const ro = r * cols;
    for (let j = 0; j < cols; j++) {
      if (dead[j] === 1) continue;
      const d = before[ro + j]! - after[ro + j]!;
      deltaSq += d * d;
    }
  }
  return deltaSq;
}

/** From the upper factor U of H⁻¹: 1/U_jj² per column, and U_jj² (empty unless `withDenominator`). */
export function obsDiagonals(
  u: Float64Array,
  cols: number,
  withDenominator: boolean,
): { invDiagSq: Float64Array; obsDenominator: Float64Array } {
  const invDiagSq = new Float64Array(cols); // (cols,)
  const obsDenominator = new Float64Array(withDenominator ? cols : 0); // (cols,)
  for (let j = 0; j < cols; j++) {
    const d = u[j * cols + j]!;
    invDiagSq[j] = 1 / (d * d);
    if (withDenominator) obsDenominator[j] = d * d;
  }
  return { invDiagSq, obsDenominator };
}

// ---- MAMA's score of the current weights: the terms, normalised per group and mixed ----

import { PruneError } from "@mama-prune/core";
import { cholesky, inverseFromCholesky } from "@mama-prune/redistribute";
import { normalizeGroup } from "@mama-prune/scoring";
import { type BlockConditionalObs, blockKeptDiagonal } from "./mama-block-obs.ts";
import type { MamaProcedureSettings } from "./mama-options.ts";

/**
 * OBS denominators of one row: d_j = [(H_KK + λI)⁻¹]_jj for the kept columns K of `maskRow` (0 for
 * pruned ones), so that w_j²/d_j is the exact increase of ‖(W' − W)X‖² when w_j is removed from the
 * current refitted row and the rest re-optimised. λ = rel·mean(diag H), grown ×10 on failure.
 */
function keptInverseDiagonal(
  g: { h: Float64Array; meanDiag: number },
  n: number,
  maskRow: Uint8Array,
  rel: number,
  where: string,
): Float64Array {
  const kept: number[] = [];
  for (let j = 0; j < n; j++) if (maskRow[j] === 1) kept.push(j);
  const k = kept.length;
  const d = new Float64Array(n); // (n,)
  let r = rel > 0 ? rel : 1e-6;
  for (let attempt = 0; attempt < 5; attempt++, r *= 10) {
    const a = new Float64Array(k * k); // (k, k)
    for (let p = 0; p < k; p++) {
      const hp = kept[p]! * n;
      for (let q = 0; q < k; q++) a[p * k + q] = g.h[hp + kept[q]!]!;
      a[p * k + p]! += r * g.meanDiag;
    }
    const c = cholesky(a, k);
    if (!c.ok) continue;
    const inv = inverseFromCholesky(c.lower, k); // (k, k)
    for (let p = 0; p < k; p++) d[kept[p]!] = inv[p * k + p]!;
    return d;
  }
  throw new PruneError(
    "NUMERIC_FAILURE",
    `${where}: Cholesky of the damped kept-set Gram matrix failed for the OBS saliency. Expected a positive-definite H_KK + λI, got failing pivots up to λ = ${r / 10}·mean(diag H).`,
  );
}

/** Per-group normalised mix of the score terms of the current weights `cur`; pruned entries get −∞. */
export function mixScores(
  s: MamaProcedureSettings,
  cur: Float32Array | Float64Array,
  dense: Float32Array,
  rows: number,
  cols: number,
  mask: Uint8Array,
  norms: Float64Array | undefined,
  obs:
    | { g: { h: Float64Array; meanDiag: number }; rel: number; where: string }
    | { fixed: Float64Array }
    | { block: BlockConditionalObs }
    | undefined,
  pre: Float32Array | undefined,
): Float64Array {
  const n = rows * cols;
  const total = s.magnitudeWeight + s.activationWeight + s.obsWeight + s.movementWeight;
  const acc = new Float64Array(n); // (rows, cols)
  const size = s.group === "matrix" ? n : cols;
  const term = new Float64Array(size); // (group,)
  const normed = new Float64Array(size); // (group,)
  const cache = new Map<string, Float64Array>(); // row mask → OBS denominators
  const add = (off: number, coef: number): void => {
    normalizeGroup(term, 0, size, s.normalize, normed);
    for (let k = 0; k < size; k++) acc[off + k]! += coef * normed[k]!;
  };
  for (let off = 0; off < n; off += size) {
    if (s.magnitudeWeight > 0) {
      for (let k = 0; k < size; k++) term[k] = Math.abs(cur[off + k]!);
      add(off, s.magnitudeWeight / total);
    }
    if (s.activationWeight > 0 && norms !== undefined) {
      for (let k = 0; k < size; k++) term[k] = Math.abs(cur[off + k]!) * norms[(off + k) % cols]!;
      add(off, s.activationWeight / total);
    }
    if (s.obsWeight > 0 && obs !== undefined) {
      // Exact path, per row: the kept set's own inverse (rows with the same mask share one
      // factorisation). Wide path: the full inverse's diagonal, the same for every row.
      for (let r0 = off; r0 < off + size; r0 += cols) {
        const row = mask.subarray(r0, r0 + cols);
        let d: Float64Array;
        if ("fixed" in obs) d = obs.fixed;
        else {
          const key = String.fromCharCode(...row);
          const hit = cache.get(key);
          d =
            hit ??
            ("block" in obs
              ? blockKeptDiagonal(obs.block, row)
              : keptInverseDiagonal(obs.g, cols, row, obs.rel, obs.where));
          if (hit === undefined) cache.set(key, d);
        }
        for (let j = 0; j < cols; j++) {
          const w = cur[r0 + j]!;
          term[r0 - off + j] = row[j] === 1 ? (w * w) / d[j]! : 0;
        }
      }
      add(off, s.obsWeight / total);
    }
    if (s.movementWeight > 0 && pre !== undefined) {
      // Movement is a property of the training run: W¹(W¹ − W⁰) of the dense post-trained weights.
      for (let k = 0; k < size; k++) term[k] = dense[off + k]! * (dense[off + k]! - pre[off + k]!);
      add(off, s.movementWeight / total);
    }
  }
  for (let k = 0; k < n; k++) if (mask[k] === 0) acc[k] = Number.NEGATIVE_INFINITY;
  return acc;
}

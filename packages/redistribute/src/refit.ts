// ---- Exact least-squares refit of the kept weights for a fixed mask ----

import type { Logger, Matrix } from "@mama-prune/core";
import { createYielder, PruneError } from "@mama-prune/core";
import {
  checkAttempts,
  checkDamping,
  checkMask,
  checkWeight,
  DAMPING_GROWTH,
  DEFAULT_MAX_DAMPING_ATTEMPTS,
  factorWithDamping,
  MIN_RETRY_DAMPING,
  prepareHessian,
} from "./common.ts";
import {
  choleskyInPlace,
  inverseFromLowerInverse,
  lowerTriangularInverseInPlace,
  solveWithFactor,
} from "./linalg.ts";

/** Options of {@link leastSquaresRefit}. */
export interface LeastSquaresRefitOptions {
  /**
   * Relative ridge damping λ/mean(diag H) (default 0.01, SparseGPT's percdamp): the refit solves
   * (H_KK + λI)·δ_K = H_KP·w_P, i.e. it minimises ‖X(w − w')‖² + λ‖w'_K − w_K‖². 0 gives the exact
   * least-squares solution whenever H_KK is positive definite.
   */
  readonly damping?: number;
  /** Factorisation attempts (first included), ×10 damping each, before NUMERIC_FAILURE (default 5). */
  readonly maxDampingAttempts?: number;
  /** Tensor name used in errors and warnings (default "leastSquaresRefit"). */
  readonly name?: string;
  /** Receives a warning for every damping escalation. */
  readonly log?: Logger;
  /** Checked between row groups; the loop yields to the event loop (about every 50 ms) only when given. */
  readonly signal?: AbortSignal;
}

/** Result of {@link leastSquaresRefit}. */
export interface LeastSquaresRefitResult {
  /** New weights (rows·cols): kept entries refitted, pruned entries exactly 0. */
  readonly weight: Float32Array;
  /** Absolute ridge value finally added to diag H (largest one if some row group escalated further). */
  readonly dampingUsed: number;
  /** Number of distinct row masks (each one factorised once). */
  readonly maskGroups: number;
  /** Row groups solved through the kept set (k×k system) and through the pruned set (p×p system). */
  readonly keptSolves: number;
  readonly prunedSolves: number;
  /** One message per damping escalation (also sent to `log.warn`). */
  readonly warnings: readonly string[];
}

/**
 * Exact least-squares refit of each row's kept weights for a fixed mask: with K the kept and P the
 * pruned columns of row i, w'_K = w_K + δ_K, δ_K = H_KK⁻¹·H_KP·w_P and w'_P = 0, which minimises
 * ‖X·w − X·w'‖² = (w − w')ᵀH(w − w') over all w' supported on K (MAMA step 2, "move the pruned
 * weights' value onto the kept ones"). With H = I (no input correlations) δ = 0.
 *
 * Each row is solved in whichever of two equivalent forms is smaller:
 * - kept set: Cholesky of H_KK + λI (k×k), O(k³/6 + k·p);
 * - pruned set: with G = (H + λI)⁻¹ (computed once, O(n³/2)), w' = w − G[:, P]·(G_PP)⁻¹·w_P, which
 *   satisfies w'_P = 0 and has zero gradient on K; Cholesky of G_PP (p×p), O(p³/6 + n·p).
 * Rows with identical masks (N:M patterns that repeat, column/channel masks) share one factorisation.
 * Worst case (s = 0.5, all rows different): rows·(n/2)³/6 multiply-adds.
 *
 * Damping: H' = H + λI with λ = damping·mean(diag H) (after dead inputs H_jj = 0 → 1, which leaves the
 * least-squares solution set unchanged and picks δ_j = 0 on them). H' is factorised first; if that
 * fails λ grows ×10 with a warning, up to `maxDampingAttempts`, then NUMERIC_FAILURE. A row whose
 * (positive-definite in exact arithmetic) sub-system still fails from round-off escalates its own
 * damping the same way, with a warning.
 *
 * @param weight Linear weight [out, in] (row-major).
 * @param hessian Gram matrix XᵀX [in, in] (any positive multiple gives the same result).
 * @param mask Keep-mask (rows·cols bytes, 1 = keep).
 * @throws PruneError `SHAPE_MISMATCH`, `MASK_INVALID`, `CALIBRATION_INVALID` (hessian not finite,
 *   not symmetric, negative diagonal), `NUMERIC_FAILURE` (non-finite weight; factorisation failing at
 *   the last damping), `ABORTED`. RangeError/TypeError for bad option values or argument types.
 * @example
 * import { matrix } from "@mama-prune/core";
 * const w = matrix(1, 2, new Float32Array([1, 1]));
 * const h = new Float64Array([1, 0.5, 0.5, 1]); // correlated inputs
 * const r = await leastSquaresRefit(w, h, new Uint8Array([1, 0]), { damping: 0 });
 * r.weight; // Float32Array [1.5, 0]
 */
export async function leastSquaresRefit(
  weight: Matrix,
  hessian: Float64Array | Float32Array,
  mask: Uint8Array,
  options: LeastSquaresRefitOptions = {},
): Promise<LeastSquaresRefitResult> {
  const where = options.name ?? "leastSquaresRefit";
  checkWeight(where, weight);
  const { rows, cols: n } = weight;
  checkMask(where, mask, rows, n);
  const relDamping = options.damping ?? 0.01;
  checkDamping(where, "damping", relDamping);
  const maxAttempts = options.maxDampingAttempts ?? DEFAULT_MAX_DAMPING_ATTEMPTS;
  checkAttempts(where, maxAttempts);
  const tick = createYielder(options.signal); // a turn for Ctrl-C and timers, then the abort check
  await tick(where);
  const prep = prepareHessian(where, hessian, n);
  const warnings: string[] = [];

  // ---- Global factorisation of H' = H + λI: guarantees every principal sub-system is PD ----
  const global = await factorWithDamping(
    where,
    prep.h,
    n,
    prep.meanDiag,
    relDamping,
    maxAttempts,
    options.log,
    warnings,
    (damped) => {
      const pivot = choleskyInPlace(damped, n);
      return pivot < 0 ? { ok: true, value: damped } : { ok: false, pivot };
    },
  );
  let ginv: Float64Array | undefined; // (n, n) (H + λI)⁻¹, built on first use

  // ---- Group rows by mask ----
  const groups = new Map<string, number[]>();
  for (let r = 0; r < rows; r++) {
    const key = maskKey(mask, r * n, n);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [r]);
    else g.push(r);
  }

  const out = new Float64Array(weight.data); // (rows, n)
  const src = weight.data;
  const keptIdx = new Int32Array(n); // (n,)
  const prunedIdx = new Int32Array(n); // (n,)
  const sys = new Float64Array(n * n); // scratch (≤ n, ≤ n)
  const rhs = new Float64Array(n); // (≤ n,)
  let keptSolves = 0;
  let prunedSolves = 0;
  let maxDamping = global.damping;

  for (const groupRows of groups.values()) {
    await tick(where);
    const r0 = groupRows[0]!;
    let k = 0;
    let p = 0;
    for (let j = 0; j < n; j++) {
      if (mask[r0 * n + j] === 1) keptIdx[k++] = j;
      else prunedIdx[p++] = j;
    }
    if (p === 0) continue; // nothing pruned: unchanged
    if (k === 0) {
      for (const r of groupRows) out.fill(0, r * n, r * n + n);
      continue;
    }
    const h = prep.h;
    let rel = global.relDamping;
    for (let attempt = 1; ; attempt++) {
      const lambda = rel * prep.meanDiag;
      let ok: boolean;
      if (p < k && rel === global.relDamping) {
        // Pruned-set form, needs G = H'⁻¹ (same λ as the global factor).
        if (ginv === undefined) {
          // The global factor is not needed after this point: invert it in place to save an n² buffer.
          lowerTriangularInverseInPlace(global.value, n);
          ginv = inverseFromLowerInverse(global.value, n);
        }
        ok = solvePrunedForm(ginv, n, prunedIdx, p, groupRows, src, out, sys, rhs);
        if (ok) prunedSolves++;
      } else ok = false;
      if (!ok) {
        ok = solveKeptForm(h, n, lambda, keptIdx, k, prunedIdx, p, groupRows, src, out, sys, rhs);
        if (ok) keptSolves++;
      }
      if (ok) {
        if (lambda > maxDamping) maxDamping = lambda;
        break;
      }
      if (attempt >= maxAttempts) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: least-squares system of row ${r0} (${k} kept weights) stayed singular after ${maxAttempts} attempts. Expected a positive-definite H_KK once damping reaches ${rel}·mean(diag H), got a failing Cholesky pivot.`,
        );
      }
      const next = Math.max(rel * DAMPING_GROWTH, MIN_RETRY_DAMPING);
      const msg = `${where}: Cholesky of H_KK failed for row ${r0} (${groupRows.length} rows share its mask) with damping ${rel}·mean(diag H); retrying with ${next}·mean(diag H)`;
      warnings.push(msg);
      options.log?.warn(msg, { row: r0, relDamping: rel, nextRelDamping: next, attempt });
      rel = next;
    }
  }

  const result = new Float32Array(out); // (rows, n)
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) result[i] = 0;
  return {
    weight: result,
    dampingUsed: maxDamping,
    maskGroups: groups.size,
    keptSolves,
    prunedSolves,
    warnings,
  };
}

/** A string key of one mask row (16 mask bits per UTF-16 code unit). */
export function maskKey(mask: Uint8Array, at: number, n: number): string {
  const codes: number[] = [];
  for (let j = 0; j < n; j += 16) {
    let v = 0;
    const end = Math.min(16, n - j);
    for (let t = 0; t < end; t++) v |= mask[at + j + t]! << t;
    codes.push(v);
  }
  let s = "";
  for (let i = 0; i < codes.length; i += 4096) s += String.fromCharCode(...codes.slice(i, i + 4096));
  return s;
}

/** Kept-set form: (H_KK + λI)·δ = H_KP·w_P for every row of the group. False if Cholesky fails. */
function solveKeptForm(
  h: Float64Array,
  n: number,
  lambda: number,
  keptIdx: Int32Array,
  k: number,
  prunedIdx: Int32Array,
  p: number,
  groupRows: readonly number[],
  src: Float32Array,
  out: Float64Array,
  sys: Float64Array,
  rhs: Float64Array,
): boolean {
  // Gather the lower triangle of H_KK + λI into sys (k, k).
  for (let a = 0; a < k; a++) {
    const ha = keptIdx[a]! * n;
    const sa = a * k;
    for (let b = 0; b <= a; b++) sys[sa + b] = h[ha + keptIdx[b]!]!;
    sys[sa + a]! += lambda;
  }
  const l = sys.subarray(0, k * k); // (k, k)
  if (choleskyInPlace(l, k) >= 0) return false;
  const wp = new Float64Array(p); // (p,)
  for (const r of groupRows) {
    const ro = r * n;
    for (let b = 0; b < p; b++) wp[b] = src[ro + prunedIdx[b]!]!;
    for (let a = 0; a < k; a++) {
      const ha = keptIdx[a]! * n;
      let s = 0;
      for (let b = 0; b < p; b++) s += h[ha + prunedIdx[b]!]! * wp[b]!;
      rhs[a] = s;
    }
    const x = rhs.subarray(0, k); // (k,)
    solveWithFactor(l, k, x);
    for (let a = 0; a < k; a++) out[ro + keptIdx[a]!] = src[ro + keptIdx[a]!]! + x[a]!;
    for (let b = 0; b < p; b++) out[ro + prunedIdx[b]!] = 0;
  }
  return true;
}

/** Pruned-set form: w' = w − G[:, P]·(G_PP)⁻¹·w_P with G = (H + λI)⁻¹. False if Cholesky fails. */
function solvePrunedForm(
  g: Float64Array,
  n: number,
  prunedIdx: Int32Array,
  p: number,
  groupRows: readonly number[],
  src: Float32Array,
  out: Float64Array,
  sys: Float64Array,
  rhs: Float64Array,
): boolean {
  for (let a = 0; a < p; a++) {
    const ga = prunedIdx[a]! * n;
    const sa = a * p;
    for (let b = 0; b <= a; b++) sys[sa + b] = g[ga + prunedIdx[b]!]!;
  }
  const l = sys.subarray(0, p * p); // (p, p)
  if (choleskyInPlace(l, p) >= 0) return false;
  for (const r of groupRows) {
    const ro = r * n;
    const y = rhs.subarray(0, p); // (p,)
    for (let b = 0; b < p; b++) y[b] = src[ro + prunedIdx[b]!]!;
    solveWithFactor(l, p, y);
    // w' = w − Σ_b y_b·G[P_b, :] (G symmetric, so its rows are its columns: contiguous axpys).
    for (let j = 0; j < n; j++) out[ro + j] = src[ro + j]!;
    for (let b = 0; b < p; b++) {
      const yb = y[b]!;
      if (yb === 0) continue;
      const gb = prunedIdx[b]! * n;
      for (let j = 0; j < n; j++) out[ro + j]! -= yb * g[gb + j]!;
    }
    for (let b = 0; b < p; b++) out[ro + prunedIdx[b]!] = 0;
  }
  return true;
}

// ---- Least-squares refit of all rows at once by batched preconditioned conjugate gradients ----

import type { ComputeBackend, Logger, Matrix } from "@mama-prune/core";
import { createYielder } from "@mama-prune/core";
import { PCG_POOL, pooledFloat32 } from "./buffer-pool.ts";
import { checkDamping, checkHessian, checkMask, checkWeight } from "./common.ts";
import { fillRowsFromLower, lowerTriangleInfo } from "./hessian-lower.ts";
import { buildPreconditioner, type Preconditioner } from "./pcg-precond.ts";
import { checkInitial, compact, diagonalInfo, PCG_WINDOW } from "./pcg-support.ts";

export { PCG_WINDOW } from "./pcg-support.ts";

/**
 * Default relative tolerance of {@link pcgRefit}: a row stops when the error decrease of its last
 * {@link PCG_WINDOW} iterations is at most this fraction of its current (damped) error. Measured on
 * correlated synthetic layers (see README): 1e-8 leaves the reconstruction error within 1e-7 (relative)
 * of the direct solve, with a margin of 10× on the 1e-6 target.
 */
export const PCG_DEFAULT_TOLERANCE = 1e-8;
/** Default iteration cap of {@link pcgRefit} (rows still running then are reported, never hidden). */
export const PCG_DEFAULT_MAX_ITERATIONS = 500;
/** Default rank of the Nyström part of the preconditioner (0 = plain Jacobi). */
export const PCG_DEFAULT_RANK = 16;

/** Options of {@link pcgRefit}. */
export interface PcgRefitOptions {
  /** Backend doing the one GEMM per iteration (active rows × cols by cols × cols, float32). */
  readonly backend: ComputeBackend;
  /**
   * Relative ridge damping λ/mean(diag H), as in `leastSquaresRefit` (default 0.01): minimises
   * ‖X(w − w')‖² + λ‖w'_K − w_K‖² with λ = damping·mean(diag H) (dead inputs counted as 1).
   */
  readonly damping?: number;
  /**
   * Warm start (rows·cols), e.g. SparseGPT's result with the same mask; its pruned entries are ignored.
   * Default: W ⊙ mask (no update).
   */
  readonly initialWeight?: Float32Array;
  /** Relative stopping tolerance on the error decrease (default {@link PCG_DEFAULT_TOLERANCE}). */
  readonly tolerance?: number;
  /**
   * Rank r of the low-rank part of the preconditioner M = D̃ + F·Fᵀ (Nyström approximation of H from
   * r probe vectors; default {@link PCG_DEFAULT_RANK}); 0 = Jacobi, diag(H_d) only.
   */
  readonly preconditionerRank?: number;
  /** Iteration cap (default {@link PCG_DEFAULT_MAX_ITERATIONS}); 0 returns the warm start, measured. */
  readonly maxIterations?: number;
  /** Tensor name used in errors and warnings (default "pcgRefit"). */
  readonly name?: string;
  /** Receives the non-convergence warning. */
  readonly log?: Logger;
  /** Checked between iterations; the loop then yields to the event loop about every 50 ms. */
  readonly signal?: AbortSignal;
  /**
   * Run the final GEMM that measures `residual`, `maxResidual` and `reconstructionError` (default
   * true). false skips it (one rows·cols² product less; the weights are the same bit for bit): those
   * fields are then NaN and `measured` is false.
   */
  readonly measure?: boolean;
  /**
   * At most this many float32 values of H per backend GEMM (default {@link PCG_H_BLOCK_FLOATS}): a
   * float64 H wider than that enters each H·v product in float32 blocks of its rows, converted block
   * by block, so no float32 copy of H exists in the heap or the kernel memory. The weights do not
   * depend on it (column j of v·H uses row j of H only), bit for bit.
   */
  readonly hBlockFloats?: number;
  /**
   * Also return `hDelta` = (W' − W)·H (undamped, rows × cols), tracked from the GEMMs the solve runs
   * anyway (the warm start's product, then each iteration's Q added with its step): the gradient a
   * caller needs for trace((A − W')·H·(A − W')ᵀ) against any A, without a measuring GEMM (default
   * false). Weights unchanged bit for bit.
   */
  readonly hDelta?: boolean;
  /**
   * `hessian` (a Float32Array) is the float32 rounding of a float64 Gram whose diagonal this is: λ,
   * the dead inputs and diag(H_d) come from it, and H's rows enter the GEMMs in the blocks of the
   * float64 path (views, no copy) — the float64 Gram's weights bit for bit, with half its memory.
   */
  readonly hessianDiagonal?: Float64Array;
  /**
   * `hessian` (a Float64Array) holds H in its strict lower triangle only, its diagonal being
   * `hessianDiagonal` (needed): what is on and above the diagonal (e.g. SparseGPT's factor, kept
   * there by `sparseGptFactor`'s `keepLowerTriangle`) is never read. H's rows enter the GEMMs
   * rounded to float32 in the blocks of `hBlockFloats`: the values of the float32 rounding of the
   * whole symmetric H, so the weights are those of that Float32Array with `hessianDiagonal`, bit for bit.
   */
  readonly hessianLowerTriangle?: boolean;
}

/**
 * Default of `PcgRefitOptions.hBlockFloats`: 2²⁴ values (64 MiB); H up to 4096² (7B's attention and
 * MLP inputs) is one block, as a whole float32 copy made once per call; wider H (8192², 11008²) goes
 * in blocks of rows converted per product instead of a 256–462 MiB copy. Until 2026-12-07 2²³: 4096²
 * then took 2 blocks and re-converted all of H for each of its ≈ 8 products (≈ 2.4 s per 7B block).
 */
export const PCG_H_BLOCK_FLOATS: number = 2 ** 24;

/** Result of {@link pcgRefit}. */
export interface PcgRefitResult {
  /** New weights (rows·cols): kept entries refitted, pruned entries exactly 0. */
  readonly weight: Float32Array;
  /** GEMM iterations run (the slowest row's count; initial and final GEMMs not included). */
  readonly iterations: number;
  /** Iterations of each row (0 for rows with nothing to solve). */
  readonly rowIterations: Uint32Array;
  /** Rows that had both kept and pruned entries (the others need no solve). */
  readonly solvedRows: number;
  /** Of those, rows that stopped by the tolerance (or hit an exact solution). */
  readonly convergedRows: number;
  /**
   * Per row, the final relative residual √(rᵀD⁻¹r / E): r = the gradient of the damped objective on
   * the kept entries (computed afresh from the final weights), D = diag(H) + λ, E = the row's damped
   * error. Scale-free; 0 for rows with nothing to solve.
   */
  readonly residual: Float64Array;
  /** Largest entry of `residual`. */
  readonly maxResidual: number;
  /** trace((W − W')·H·(W − W')ᵀ) with the undamped H, from the final GEMM (float32 products). */
  readonly reconstructionError: number;
  /** The same for the warm start. */
  readonly startError: number;
  /** Whether the final measuring GEMM ran (option `measure`); if not, the three fields above are NaN. */
  readonly measured: boolean;
  /** Absolute ridge λ added to diag H. */
  readonly dampingUsed: number;
  /**
   * (W' − W)·H with the undamped H (rows × cols), when option `hDelta` was set: float32 GEMM products
   * accumulated along the iterates (so it agrees with a fresh product to float32 round-off; the final
   * rounding of W' to float32 is not in it). Rows with nothing pruned are 0.
   */
  readonly hDelta?: Float32Array;
  /** GEMM calls and their multiply-adds (initial and final included). */
  readonly gemmCalls: number;
  readonly gemmMultiplyAdds: number;
  /** Non-convergence (named, with the row count); also sent to `log.warn`. */
  readonly warnings: readonly string[];
}

/**
 * Least-squares refit of every row's kept weights for a fixed mask, all rows at once: row i minimises
 * (w'_i − w_i)ᵀ(H + λI)(w'_i − w_i) subject to w'_i[P_i] = 0 — the same problem, and in exact
 * arithmetic the same answer, as `leastSquaresRefit`. Jacobi-preconditioned conjugate gradients on
 * the kept coordinates of each row; each iteration is ONE GEMM Q = P·H over the active rows through
 * `options.backend` (P the search directions, zero on pruned entries; H symmetric, so P·Hᵀ = P·H), the
 * rest is O(rows·cols) JavaScript. Rows stop independently when their last {@link PCG_WINDOW} error
 * decreases sum to at most `tolerance` times their error, and leave the GEMM (active rows are
 * compacted). The error never increases from the warm start (CG decreases it monotonically).
 *
 * Cost: (2 + iterations)·active rows·cols² multiply-adds on the backend, against the direct solve's
 * rows·min(k, p)³/6 in JavaScript.
 *
 * @param weight Linear weight [out, in] (row-major).
 * @param hessian Gram matrix XᵀX [in, in]; a Float32Array is used as it is (no copy).
 * @param mask Keep-mask (rows·cols bytes, 1 = keep).
 * @throws PruneError `SHAPE_MISMATCH`, `MASK_INVALID`, `CALIBRATION_INVALID`, `NUMERIC_FAILURE`
 *   (non-finite weight or warm start), `ABORTED`. RangeError/TypeError for bad option values.
 * @example
 * import { createWasmBackend } from "@mama-prune/compute-wasm";
 * const backend = await createWasmBackend();
 * const w = matrix(1, 2, new Float32Array([1, 1]));
 * const h = new Float32Array([1, 0.5, 0.5, 1]);
 * const r = await pcgRefit(w, h, new Uint8Array([1, 0]), { backend, damping: 0 });
 * r.weight; // Float32Array [1.5, 0]
 */
export async function pcgRefit(
  weight: Matrix,
  hessian: Float64Array | Float32Array,
  mask: Uint8Array,
  options: PcgRefitOptions,
): Promise<PcgRefitResult> {
  const where = options.name ?? "pcgRefit";
  checkWeight(where, weight);
  const { rows, cols: n } = weight;
  checkMask(where, mask, rows, n);
  const backend = options.backend;
  if (typeof backend !== "object" || backend === null || typeof backend.matmulTransB !== "function") {
    throw new TypeError(`${where}: options.backend must be a ComputeBackend with matmulTransB`);
  }
  const relDamping = options.damping ?? 0.01;
  checkDamping(where, "damping", relDamping);
  const tol = options.tolerance ?? PCG_DEFAULT_TOLERANCE;
  if (typeof tol !== "number" || !(tol > 0 && tol < 1)) {
    throw new RangeError(`${where}: tolerance must be a number in (0, 1), got ${tol}`);
  }
  const maxIt = options.maxIterations ?? PCG_DEFAULT_MAX_ITERATIONS;
  if (!Number.isInteger(maxIt) || maxIt < 0) {
    throw new RangeError(`${where}: maxIterations must be an integer ≥ 0, got ${maxIt}`);
  }
  const rank = options.preconditionerRank ?? PCG_DEFAULT_RANK;
  if (!Number.isInteger(rank) || rank < 0) {
    throw new RangeError(`${where}: preconditionerRank must be an integer ≥ 0, got ${rank}`);
  }
  const init = options.initialWeight;
  if (init !== undefined) checkInitial(where, init, rows, n);
  const tick = createYielder(options.signal); // a turn for Ctrl-C and timers, then the abort check
  await tick(where);
  const diag64 = options.hessianDiagonal;
  const lowerOnly = options.hessianLowerTriangle === true;
  // The lower-triangle form is checked on its own (what is above its diagonal is not H).
  const checked = lowerOnly ? lowerTriangleInfo(where, hessian, diag64, n) : checkHessian(where, hessian, n);
  const info = lowerOnly || diag64 === undefined ? checked : diagonalInfo(where, hessian, diag64, n);
  const lambda = relDamping * info.meanDiag;
  const hBlock = options.hBlockFloats ?? PCG_H_BLOCK_FLOATS;
  // Rows of H per GEMM: all of them (one float32 H, as given or copied once), or blocks of a multiple
  // of 8 (the kernel's column panel) converted from the float64 H per product (or, for the float32
  // rounding of one, views of its rows).
  const nb =
    (hessian instanceof Float32Array && diag64 === undefined) || n * n <= hBlock
      ? n
      : Math.max(8, Math.floor(hBlock / n / 8) * 8);
  const h32 = nb === n ? wholeFloat32(hessian, lowerOnly ? diag64 : undefined, n) : undefined; // (n, n)
  const rows32 = hessian instanceof Float32Array ? hessian : undefined; // blocks as views
  const hb = h32 === undefined && rows32 === undefined ? pooledF32(nb * n) : undefined; // (nb, n) one block of H's rows
  const yb = h32 === undefined ? pooledF32(rows * nb) : undefined; // (≤ rows, nb)
  // H_d·v = H·v + shift ⊙ v: the ridge, plus the anchor's H_jj = 1 on dead inputs.
  const shift = new Float64Array(n); // (n,)
  const diagD = new Float64Array(n); // (n,) diag(H_d)
  const invDiag = new Float64Array(n); // (n,) 1/diag(H_d): the residual's scale-free norm
  for (let j = 0; j < n; j++) {
    const dead = info.dead[j] === 1;
    shift[j] = lambda + (dead ? 1 : 0);
    const d = (dead ? 1 : diag64 === undefined ? hessian[j * n + j]! : diag64[j]!) + lambda;
    diagD[j] = d;
    invDiag[j] = d > 0 ? 1 / d : 0;
  }

  // ---- Δ = W' − W of the warm start; rows to solve first, then all-pruned rows ----
  const src = weight.data;
  const delta = pooledF64(rows * n); // (rows, n)
  const solve: number[] = [];
  const allPruned: number[] = [];
  const pick = new Float64Array(2); // [value if pruned, value if kept] (the mask is checked 0/1)
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let k = 0;
    for (let j = 0; j < n; j++) k += mask[o + j]!;
    if (k === n) continue; // nothing pruned: W' = W
    // Δ = −W on pruned entries, the warm start's change (or 0) on kept ones: both values stored, the
    // mask byte picks one (no branch on the mask, which goes either way half the time).
    if (init === undefined) {
      for (let j = 0; j < n; j++) {
        pick[0] = -src[o + j]!;
        pick[1] = 0;
        delta[o + j] = pick[mask[o + j]!]!;
      }
    } else {
      for (let j = 0; j < n; j++) {
        pick[0] = -src[o + j]!;
        pick[1] = init[o + j]! - src[o + j]!;
        delta[o + j] = pick[mask[o + j]!]!;
      }
    }
    if (k === 0) allPruned.push(i);
    else solve.push(i);
  }
  const order = Int32Array.from([...solve, ...allPruned]); // GEMM row order
  const total = order.length;
  const p32 = pooledF32(total * n); // (≤ total, n) search directions (first: Δ)
  const q32 = pooledF32(total * n); // (≤ total, n) GEMM output
  let gemmCalls = 0;
  let gemmMultiplyAdds = 0;
  const gemmOf = async (x: Float32Array, m: number, out?: Float32Array): Promise<Float32Array> => {
    gemmCalls++;
    gemmMultiplyAdds += m * n * n;
    if (h32 !== undefined) {
      const q = await backend.matmulTransB(x, h32, m, n, n, out === undefined ? undefined : { out });
      if (out !== undefined && q !== out) out.set(q);
      return out ?? q;
    }
    const y = out ?? new Float32Array(m * n); // (m, n)
    for (let j0 = 0; j0 < n; j0 += nb) {
      const c = Math.min(nb, n - j0);
      let w: Float32Array;
      if (rows32 !== undefined) w = rows32.subarray(j0 * n, (j0 + c) * n);
      else {
        w = hb!.subarray(0, c * n);
        if (lowerOnly) fillRowsFromLower(hessian as Float64Array, diag64!, n, j0, c, w);
        else for (let k = 0; k < c * n; k++) w[k] = hessian[j0 * n + k]!;
      }
      const yo = (m <= rows ? yb! : new Float32Array(m * c)).subarray(0, m * c);
      const q = await backend.matmulTransB(x, w, m, n, c, { out: yo });
      backend.invalidate(w);
      for (let i = 0; i < m; i++) y.set(q.subarray(i * c, (i + 1) * c), i * n + j0);
    }
    return y;
  };
  const gemm = (m: number): Promise<Float32Array> =>
    gemmOf(p32.subarray(0, m * n), m, q32.subarray(0, m * n));
  const m0 = solve.length;
  const pre: Preconditioner = await buildPreconditioner(n, m0, m0 > 0 ? rank : 0, diagD, gemmOf);
  for (let a = 0; a < m0; a++) pre.setupRow(a, mask, solve[a]! * n);
  const z = new Float64Array(n); // (n,) preconditioned residual of one row

  // ---- Initial GEMM: error of the warm start, residual r = −(H_d·Δ)_K, z = D⁻¹r, p = z ----
  for (let a = 0; a < total; a++) p32.set(delta.subarray(order[a]! * n, order[a]! * n + n), a * n);
  let startError = 0;
  const r = pooledF64(m0 * n); // (active, n) residuals, 0 on pruned entries
  const gamma = new Float64Array(m0); // rᵀz per active row
  const err = new Float64Array(m0); // damped error per active row
  const ring = new Float64Array(m0 * PCG_WINDOW); // last error decreases per active row
  const active = Int32Array.from(solve); // row ids, compacted as rows converge
  const rowIterations = new Uint32Array(rows);
  const err0 = new Float64Array(rows); // (rows,) damped error of the warm start
  const hDelta = options.hDelta === true ? pooledFloat32(rows * n) : undefined; // (rows, n) Δ·H
  if (total > 0) {
    const q = await gemm(total);
    for (let a = 0; a < total; a++) {
      const o = a * n;
      const wo = order[a]! * n;
      hDelta?.set(q.subarray(o, o + n), wo);
      let eu = 0;
      let ed = 0;
      for (let j = 0; j < n; j++) {
        const d = delta[wo + j]!;
        const hd = q[o + j]!;
        eu += d * hd;
        const hdd = hd + shift[j]! * d;
        ed += d * hdd;
        if (a < m0) r[o + j] = -hdd * mask[wo + j]!;
      }
      startError += eu;
      if (a < m0) {
        pre.apply(a, r, o, mask, wo, z);
        let g = 0;
        for (let j = 0; j < n; j++) {
          g += r[o + j]! * z[j]!;
          p32[o + j] = z[j]!;
        }
        gamma[a] = g;
        err[a] = ed;
        err0[order[a]!] = ed;
      }
    }
  }

  // ---- Iterations over the active rows ----
  let m = m0;
  const done = new Uint8Array(m0);
  for (let a = 0; a < m; a++) if (!(gamma[a]! > 0) || !(err[a]! > 0)) done[a] = 1; // already optimal
  m = compact(m, n, done, active, r, p32, gamma, err, ring, pre);
  let iterations = 0;
  while (m > 0 && iterations < maxIt) {
    await tick(where);
    const q = await gemm(m);
    iterations++;
    for (let a = 0; a < m; a++) {
      const o = a * n;
      const wo = active[a]! * n;
      rowIterations[active[a]!]!++;
      let pq = 0;
      for (let j = 0; j < n; j++) {
        const pj = p32[o + j]!;
        pq += pj * (q[o + j]! + shift[j]! * pj);
      }
      const g = gamma[a]!;
      if (!(pq > 0)) {
        done[a] = 1; // no descent left along p (singular H_KK with damping 0): keep the iterate
        continue;
      }
      const alpha = g / pq;
      for (let j = 0; j < n; j++) {
        const pj = p32[o + j]!;
        delta[wo + j]! += alpha * pj;
        r[o + j]! -= alpha * (q[o + j]! + shift[j]! * pj) * mask[wo + j]!;
      }
      if (hDelta !== undefined) for (let j = 0; j < n; j++) hDelta[wo + j]! += alpha * q[o + j]!;
      pre.apply(a, r, o, mask, wo, z);
      let gNew = 0;
      for (let j = 0; j < n; j++) gNew += r[o + j]! * z[j]!;
      const beta = gNew / g;
      for (let j = 0; j < n; j++) p32[o + j] = z[j]! + beta * p32[o + j]!;
      const decrease = alpha * g;
      const e = err[a]! - decrease;
      err[a] = e;
      gamma[a] = gNew;
      ring[a * PCG_WINDOW + (iterations % PCG_WINDOW)] = decrease;
      let recent = 0;
      for (let t = 0; t < PCG_WINDOW; t++) recent += ring[a * PCG_WINDOW + t]!;
      // Relative to the current error; below 1e-6 of the start error, relative to that floor
      // (an exact fit has error 0, where a purely relative test could never be met).
      if (!(gNew > 0) || !(e > 0) || recent <= tol * Math.max(e, 1e-6 * err0[active[a]!]!)) done[a] = 1;
    }
    m = compact(m, n, done, active, r, p32, gamma, err, ring, pre);
  }
  const warnings: string[] = [];
  if (m > 0) {
    const msg = `${where}: ${m} of ${solve.length} rows did not reach the relative tolerance ${tol} within ${maxIt} iterations; they keep their last iterate (never worse than the warm start). Raise maxIterations or check the conditioning of H.`;
    warnings.push(msg);
    options.log?.warn(msg, { rows: m, solvedRows: solve.length, maxIterations: maxIt, tolerance: tol });
  }

  // ---- Final weights, and a fresh GEMM for the true residuals and the reconstruction error ----
  const result = pooledFloat32(rows * n, false); // (rows, n) as new Float32Array(src), on pooled pages
  result.set(src);
  pick[0] = 0; // pruned: 0; kept: W + Δ rounded (the mask byte picks, as for Δ)
  for (let a = 0; a < total; a++) {
    const wo = order[a]! * n;
    for (let j = 0; j < n; j++) {
      pick[1] = Math.fround(src[wo + j]! + delta[wo + j]!);
      const v = pick[mask[wo + j]!]!;
      result[wo + j] = v;
      p32[a * n + j] = v - src[wo + j]!;
    }
  }
  const measured = options.measure ?? true;
  const residual = new Float64Array(rows); // (rows,)
  if (!measured) residual.fill(Number.NaN);
  let maxResidual = measured ? 0 : Number.NaN;
  let reconstructionError = measured ? 0 : Number.NaN;
  if (total > 0 && measured) {
    const q = await gemm(total);
    for (let a = 0; a < total; a++) {
      const o = a * n;
      const wo = order[a]! * n;
      let eu = 0;
      let ed = 0;
      let rr = 0;
      for (let j = 0; j < n; j++) {
        const d = p32[o + j]!;
        const hd = q[o + j]!;
        eu += d * hd;
        const hdd = hd + shift[j]! * d;
        ed += d * hdd;
        rr += hdd * hdd * invDiag[j]! * mask[wo + j]!;
      }
      reconstructionError += eu;
      if (a < m0) {
        const rho = ed > 0 ? Math.sqrt(rr / ed) : 0;
        residual[order[a]!] = rho;
        if (rho > maxResidual) maxResidual = rho;
      }
    }
  }
  // The per-call state goes back to the pool (nothing below or in the result refers to it).
  for (const b of [delta, r, p32, q32, hb, yb]) if (b !== undefined) PCG_POOL.give(b.buffer);
  return {
    weight: result,
    iterations,
    rowIterations,
    solvedRows: solve.length,
    convergedRows: solve.length - m,
    residual,
    maxResidual,
    reconstructionError,
    startError,
    measured,
    ...(hDelta !== undefined ? { hDelta } : {}),
    dampingUsed: lambda,
    gemmCalls,
    gemmMultiplyAdds,
    warnings,
  };
}

/**
 * H as one float32 (n, n) array: `hessian` itself when float32, else its rounding — of the symmetric
 * H given by its strict lower triangle and `lowerDiagonal` when that is given.
 */
function wholeFloat32(
  hessian: Float64Array | Float32Array,
  lowerDiagonal: Float64Array | undefined,
  n: number,
): Float32Array {
  if (hessian instanceof Float32Array) return hessian;
  if (lowerDiagonal === undefined) return new Float32Array(hessian);
  const h = new Float32Array(n * n); // (n, n)
  fillRowsFromLower(hessian, lowerDiagonal, n, 0, n, h);
  return h;
}

/** A zeroed Float64Array of `n` values on a pooled buffer (the same contents as a fresh one). */
function pooledF64(n: number): Float64Array {
  return new Float64Array(PCG_POOL.take(8 * n), 0, n).fill(0);
}

/** A zeroed Float32Array of `n` values on a pooled buffer (the same contents as a fresh one). */
function pooledF32(n: number): Float32Array {
  return new Float32Array(PCG_POOL.take(4 * n), 0, n).fill(0);
}

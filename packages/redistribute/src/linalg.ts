// ---- Dense float64 linear algebra on row-major square matrices ----
//
// Everything here works on a Float64Array of length n·n holding a row-major (n, n) matrix. Only the
// lower triangle of a symmetric input is read. Loops are ordered so the innermost loop walks
// contiguous memory (row-major dot products and axpys), which is what V8 turns into tight code.

/**
 * Relative pivot threshold of {@link cholesky}: a pivot d_j with d_j ≤ PIVOT_REL_TOL·A_jj is treated as
 * a failure. In float64 a smaller pivot is round-off from a (numerically) singular matrix, and
 * factors built on it are garbage, so the caller must add damping instead.
 */
export const PIVOT_REL_TOL = 1e-12;

/** Outcome of {@link cholesky}: the lower factor, or the index of the first pivot that failed. */
export type CholeskyResult =
  | { readonly ok: true; readonly lower: Float64Array /* (n, n), row-major, zero above the diagonal */ }
  | { readonly ok: false; readonly pivot: number; readonly pivotValue: number };

function checkSquare(where: string, a: Float64Array, n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`${where}: n must be a non-negative integer, got ${n}`);
  if (!(a instanceof Float64Array)) throw new TypeError(`${where}: matrix must be a Float64Array`);
  if (a.length !== n * n) {
    throw new RangeError(
      `${where}: matrix has ${a.length} elements. Expected n·n = ${n * n}, got ${a.length}.`,
    );
  }
}

/**
 * In-place Cholesky (Cholesky–Banachiewicz, row by row) of the symmetric matrix in `a`: on success the
 * lower triangle holds L with A = L·Lᵀ and the strict upper triangle is zeroed. Returns -1 on success,
 * or the index p of the first failing pivot (then `a` is partially overwritten and a[p·n + p] holds the
 * failing pivot value). Cost: n³/6 multiply-adds.
 *
 * Rows are processed four at a time so that every load of row j feeds four independent dot products
 * (register blocking): about 2× faster in V8 than one row at a time, whose single accumulator is a
 * latency-bound dependency chain.
 */
export function choleskyInPlace(a: Float64Array, n: number): number {
  let i0 = 0;
  for (; i0 + 3 < n; i0 += 4) {
    const r0 = i0 * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    for (let j = 0; j < i0; j++) {
      const rj = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < j; k++) {
        const v = a[rj + k]!;
        s0 += a[r0 + k]! * v;
        s1 += a[r1 + k]! * v;
        s2 += a[r2 + k]! * v;
        s3 += a[r3 + k]! * v;
      }
      const d = a[rj + j]!;
      a[r0 + j] = (a[r0 + j]! - s0) / d;
      a[r1 + j] = (a[r1 + j]! - s1) / d;
      a[r2 + j] = (a[r2 + j]! - s2) / d;
      a[r3 + j] = (a[r3 + j]! - s3) / d;
    }
    for (let i = i0; i < i0 + 4; i++) {
      const failed = choleskyRowFrom(a, n, i, i0);
      if (failed >= 0) return failed;
    }
  }
  for (let i = i0; i < n; i++) {
    const failed = choleskyRowFrom(a, n, i, 0);
    if (failed >= 0) return failed;
  }
  return -1;
}

/** Entries j = from..i of row i of the factor (entries < from already done); -1 or the failing pivot. */
function choleskyRowFrom(a: Float64Array, n: number, i: number, from: number): number {
  const ri = i * n;
  for (let j = from; j <= i; j++) {
    const rj = j * n;
    let s0 = 0;
    let s1 = 0;
    let k = 0;
    for (; k + 1 < j; k += 2) {
      s0 += a[ri + k]! * a[rj + k]!;
      s1 += a[ri + k + 1]! * a[rj + k + 1]!;
    }
    if (k < j) s0 += a[ri + k]! * a[rj + k]!;
    const s = a[ri + j]! - (s0 + s1);
    if (i === j) {
      // a[ri + i] still holds the original diagonal entry here.
      if (!(s > 0) || !Number.isFinite(s) || s <= PIVOT_REL_TOL * Math.abs(a[ri + i]!)) {
        a[ri + i] = s; // report the failing pivot value through the diagonal
        return i;
      }
      a[ri + i] = Math.sqrt(s);
    } else {
      a[ri + j] = s / a[rj + j]!;
    }
  }
  for (let j = i + 1; j < n; j++) a[ri + j] = 0;
  return -1;
}

/**
 * Cholesky factor of a symmetric positive-definite matrix: A = L·Lᵀ with L lower triangular. Reads
 * only the lower triangle of `a` and never modifies it. A failure (a pivot ≤ 0, not finite, or below
 * {@link PIVOT_REL_TOL} times its diagonal entry) is reported, never thrown, so callers can add damping.
 *
 * @throws RangeError / TypeError when `a` is not an (n, n) Float64Array.
 * @example
 * const r = cholesky(new Float64Array([4, 2, 2, 3]), 2);
 * r.ok && r.lower; // Float64Array [2, 0, 1, 1.4142135623730951]
 */
export function cholesky(a: Float64Array, n: number): CholeskyResult {
  checkSquare("cholesky", a, n);
  const l = new Float64Array(a); // (n, n)
  const pivot = choleskyInPlace(l, n);
  if (pivot >= 0) return { ok: false, pivot, pivotValue: l[pivot * n + pivot]! };
  return { ok: true, lower: l };
}

/**
 * Solve A·x = b in place given the Cholesky factor L of A (A = L·Lᵀ): forward then backward
 * substitution. `b` (length n) is overwritten with x. Cost: n² multiply-adds.
 *
 * @throws RangeError when the lengths do not match n.
 * @example
 * const { lower } = cholesky(new Float64Array([4, 2, 2, 3]), 2) as { lower: Float64Array };
 * const x = new Float64Array([6, 5]); choleskySolveInPlace(lower, 2, x); // x ≈ [1, 1]
 */
export function choleskySolveInPlace(lower: Float64Array, n: number, b: Float64Array): void {
  checkSquare("choleskySolveInPlace", lower, n);
  if (b.length !== n) {
    throw new RangeError(`choleskySolveInPlace: right-hand side has ${b.length} elements. Expected ${n}.`);
  }
  solveWithFactor(lower, n, b);
}

/** Unchecked forward/backward substitution with a lower factor (used in hot loops). */
export function solveWithFactor(lower: Float64Array, n: number, b: Float64Array): void {
  // L·y = b (rows of L are contiguous).
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= lower[ri + k]! * b[k]!;
    b[i] = s / lower[ri + i]!;
  }
  // Lᵀ·x = y, column-oriented so the inner loop walks row i of L.
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    const xi = b[i]! / lower[ri + i]!;
    b[i] = xi;
    if (xi !== 0) for (let k = 0; k < i; k++) b[k]! -= lower[ri + k]! * xi;
  }
}

/**
 * Inverse of a lower-triangular matrix (returned lower triangular), row by row:
 * row i of L⁻¹ = (e_i − Σ_{k<i} L_ik · row k of L⁻¹) / L_ii. Cost: n³/6 multiply-adds.
 *
 * @throws RangeError / TypeError when `lower` is not an (n, n) Float64Array.
 * @example
 * lowerTriangularInverse(new Float64Array([2, 0, 1, 1]), 2); // [0.5, 0, -0.5, 1]
 */
export function lowerTriangularInverse(lower: Float64Array, n: number): Float64Array {
  checkSquare("lowerTriangularInverse", lower, n);
  const inv = new Float64Array(lower); // (n, n)
  lowerTriangularInverseInPlace(inv, n);
  return inv;
}

/**
 * Overwrite the lower-triangular factor in `a` with its inverse (upper triangle must be zero and stays
 * zero). Extra memory: 4·n floats. Four rows at a time, so each earlier row k of L⁻¹ is loaded once for
 * four axpys (the loop is memory-bound otherwise).
 */
export function lowerTriangularInverseInPlace(a: Float64Array, n: number): void {
  const lt = new Float64Array(4 * n); // (4, n) the rows of L being replaced by rows of L⁻¹
  for (let i0 = 0; i0 < n; i0 += 4) {
    const b = Math.min(4, n - i0);
    for (let t = 0; t < b; t++) {
      const ri = (i0 + t) * n;
      const len = i0 + t + 1;
      lt.set(a.subarray(ri, ri + len), t * n);
      a.fill(0, ri, ri + len);
    }
    if (b === 4) {
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let k = 0; k < i0; k++) {
        const l0 = lt[k]!;
        const l1 = lt[n + k]!;
        const l2 = lt[2 * n + k]!;
        const l3 = lt[3 * n + k]!;
        if (l0 === 0 && l1 === 0 && l2 === 0 && l3 === 0) continue;
        const rk = k * n;
        for (let j = 0; j <= k; j++) {
          const v = a[rk + j]!;
          a[r0 + j]! -= l0 * v;
          a[r1 + j]! -= l1 * v;
          a[r2 + j]! -= l2 * v;
          a[r3 + j]! -= l3 * v;
        }
      }
    }
    for (let t = 0; t < b; t++) {
      const i = i0 + t;
      const ri = i * n;
      const lo = t * n;
      for (let k = b === 4 ? i0 : 0; k < i; k++) {
        const lik = lt[lo + k]!;
        if (lik === 0) continue;
        const rk = k * n;
        for (let j = 0; j <= k; j++) a[ri + j]! -= lik * a[rk + j]!;
      }
      const d = 1 / lt[lo + i]!;
      a[ri + i] = 1;
      for (let j = 0; j <= i; j++) a[ri + j]! *= d;
    }
  }
}

/**
 * A⁻¹ from the Cholesky factor L of A: A⁻¹ = L⁻ᵀ·L⁻¹ (torch.cholesky_inverse). Cost: n³/3
 * multiply-adds.
 *
 * @throws RangeError / TypeError when `lower` is not an (n, n) Float64Array.
 * @example
 * const { lower } = cholesky(new Float64Array([4, 2, 2, 3]), 2) as { lower: Float64Array };
 * inverseFromCholesky(lower, 2); // [0.375, -0.25, -0.25, 0.5]
 */
export function inverseFromCholesky(lower: Float64Array, n: number): Float64Array {
  return inverseFromLowerInverse(lowerTriangularInverse(lower, n), n);
}

/** A⁻¹ = L⁻ᵀ·L⁻¹ given li = L⁻¹ (lower triangular, zero above the diagonal). */
export function inverseFromLowerInverse(li: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n); // (n, n)
  // inv[a][b] = Σ_{k ≥ max(a,b)} li[k][a]·li[k][b]: accumulate the lower triangle, four rows k of li at
  // a time so that each row of inv is loaded once per four rank-1 updates.
  let k0 = 0;
  for (; k0 + 3 < n; k0 += 4) {
    const q0 = k0 * n;
    const q1 = q0 + n;
    const q2 = q1 + n;
    const q3 = q2 + n;
    for (let a = 0; a <= k0 + 3; a++) {
      const l0 = li[q0 + a]!;
      const l1 = li[q1 + a]!;
      const l2 = li[q2 + a]!;
      const l3 = li[q3 + a]!;
      const ra = a * n;
      // li[k][b] = 0 for b > k, so running b up to a for every k is exact.
      for (let b = 0; b <= a; b++) {
        inv[ra + b]! += l0 * li[q0 + b]! + l1 * li[q1 + b]! + l2 * li[q2 + b]! + l3 * li[q3 + b]!;
      }
    }
  }
  for (let k = k0; k < n; k++) {
    const rk = k * n;
    for (let a = 0; a <= k; a++) {
      const la = li[rk + a]!;
      if (la === 0) continue;
      const ra = a * n;
      for (let b = 0; b <= a; b++) inv[ra + b]! += la * li[rk + b]!;
    }
  }
  for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) inv[b * n + a] = inv[a * n + b]!;
  return inv;
}

/**
 * The upper Cholesky factor U of A⁻¹ (A⁻¹ = Uᵀ·U, U upper triangular with a positive diagonal) for a
 * symmetric positive-definite A, which is SparseGPT's `Hinv`. Computed without forming A⁻¹: with J
 * the index-reversal permutation, factor J·A·J = L'·L'ᵀ; then A = V·Vᵀ with V = J·L'·J upper
 * triangular, so U = V⁻¹ = J·L'⁻¹·J. Cost n³/3 multiply-adds instead of the anchor's
 * cholesky → cholesky_inverse → cholesky (about n³), and A⁻¹'s squared condition number is never
 * formed. The upper Cholesky factor is unique, so this is the anchor's U up to round-off. Reads only
 * the upper triangle of `a` (row-contiguous after the flip), never modifies it.
 *
 * @throws RangeError / TypeError when `a` is not an (n, n) Float64Array.
 * @example
 * const r = upperCholeskyOfInverse(new Float64Array([4, 2, 2, 3]), 2);
 * // r.ok, r.upper ≈ [0.6124, -0.4082, 0, 0.5774]  (UᵀU = [[0.375, -0.25], [-0.25, 0.5]] = A⁻¹)
 */
export function upperCholeskyOfInverse(
  a: Float64Array,
  n: number,
): { readonly ok: true; readonly upper: Float64Array } | { readonly ok: false; readonly pivot: number } {
  checkSquare("upperCholeskyOfInverse", a, n);
  const work = new Float64Array(a); // (n, n)
  const pivot = upperCholeskyOfInverseInPlace(work, n);
  return pivot < 0 ? { ok: true, upper: work } : { ok: false, pivot };
}

/**
 * In-place {@link upperCholeskyOfInverse}: `a` (symmetric, upper triangle read) is overwritten with U.
 * Returns -1 on success or the index (in A's order) of the failing pivot, leaving `a` garbage. Extra
 * memory 4·n floats. J·A·J is the 180° rotation of the matrix, i.e. the reversed flat array, and the
 * final J·L'⁻¹·J is another reversal.
 */
export function upperCholeskyOfInverseInPlace(a: Float64Array, n: number): number {
  a.reverse(); // J·A·J
  const pivot = choleskyInPlace(a, n);
  if (pivot >= 0) return n - 1 - pivot;
  lowerTriangularInverseInPlace(a, n); // L'⁻¹
  a.reverse(); // U = J·L'⁻¹·J
  return -1;
}

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
 * failing pivot value).
 * Cost: n³/6 multiply-adds.
 */
export function choleskyInPlace(a: Float64Array, n: number): number {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
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
  }
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
 * const x = new Float64Array([6, 5]); choleskySolveInPlace(lower, 2, x); // x = [1, 1]
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
  const inv = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const lik = lower[ri + k]!;
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) inv[ri + j]! -= lik * inv[rk + j]!;
    }
    const d = 1 / lower[ri + i]!;
    inv[ri + i] = 1;
    for (let j = 0; j <= i; j++) inv[ri + j]! *= d;
  }
  return inv;
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
  const li = lowerTriangularInverse(lower, n); // (n, n)
  const inv = new Float64Array(n * n); // (n, n)
  // inv[a][b] = Σ_{k ≥ max(a,b)} li[k][a]·li[k][b]: accumulate the lower triangle row of li by row.
  for (let k = 0; k < n; k++) {
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
 * formed. The upper Cholesky factor is unique, so this is the anchor's U up to round-off.
 *
 * @throws RangeError / TypeError when `a` is not an (n, n) Float64Array.
 * @example
 * const r = upperCholeskyOfInverse(new Float64Array([4, 2, 2, 3]), 2);
 * // r.ok: U = [0.6123724356957945, -0.408248290463863, 0, 0.7071067811865476]
 */
export function upperCholeskyOfInverse(
  a: Float64Array,
  n: number,
): { readonly ok: true; readonly upper: Float64Array } | { readonly ok: false; readonly pivot: number } {
  checkSquare("upperCholeskyOfInverse", a, n);
  const flipped = new Float64Array(n * n); // (n, n) = J·A·J
  const last = n - 1;
  for (let i = 0; i < n; i++) {
    const dst = i * n;
    // (J·A·J)[i][j] = A[last-i][last-j], read from A's lower triangle as A[last-j][last-i] (j ≤ i).
    for (let j = 0; j <= i; j++) flipped[dst + j] = a[(last - j) * n + (last - i)]!;
  }
  const pivot = choleskyInPlace(flipped, n);
  if (pivot >= 0) return { ok: false, pivot: last - pivot };
  const li = lowerTriangularInverse(flipped, n); // (n, n) = L'⁻¹
  const upper = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++) {
    const dst = i * n;
    const src = (last - i) * n + last;
    for (let j = i; j < n; j++) upper[dst + j] = li[src - j]!;
  }
  return { ok: true, upper };
}

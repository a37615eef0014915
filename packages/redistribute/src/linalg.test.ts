import { describe, expect, it } from "vitest";
import { gaussInverse, gaussSolve, naiveUpperCholesky, randomInputs } from "../test/helpers.ts";
import {
  cholesky,
  choleskySolveInPlace,
  inverseFromCholesky,
  lowerTriangularInverse,
  upperCholeskyOfInverse,
} from "./linalg.ts";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j]! += a[i * n + k]! * b[k * n + j]!;
  return c;
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j]!;
  return t;
}

const spd = (n: number, seed: number): Float64Array => randomInputs(3 * n, n, seed).h;

describe("cholesky", () => {
  it("factors a hand-computed 2×2 matrix", () => {
    const r = cholesky(new Float64Array([4, 2, 2, 3]), 2);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Array.from(r.lower)).toEqual([2, 0, 1, Math.SQRT2]);
  });

  it("reproduces A = L·Lᵀ with L lower triangular on random SPD matrices", () => {
    for (const n of [1, 5, 17]) {
      const a = spd(n, n);
      const r = cholesky(a, n);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(r.lower[i * n + j]).toBe(0);
      const llt = matmul(r.lower, transpose(r.lower, n), n);
      expect(maxAbsDiff(llt, a)).toBeLessThan(1e-10 * Math.max(...a));
    }
  });

  it("reports the failing pivot of an indefinite matrix instead of throwing", () => {
    // eigenvalues 3 and -1; the second pivot is 1 - 4 = -3
    const r = cholesky(new Float64Array([1, 2, 2, 1]), 2);
    expect(r).toEqual({ ok: false, pivot: 1, pivotValue: -3 });
  });

  it("treats a numerically singular matrix (rank 1) as a failure", () => {
    const v = [1, 2, 3];
    const a = new Float64Array(9).map((_, i) => v[Math.floor(i / 3)]! * v[i % 3]!);
    const r = cholesky(a, 3);
    expect(r.ok).toBe(false);
  });

  it("rejects a wrongly sized matrix", () => {
    expect(() => cholesky(new Float64Array(3), 2)).toThrow(RangeError);
  });
});

describe("choleskySolveInPlace", () => {
  it("matches Gaussian elimination", () => {
    const n = 9;
    const a = spd(n, 3);
    const b = new Float64Array(n).map((_, i) => Math.sin(i + 1));
    const r = cholesky(a, n);
    if (!r.ok) throw new Error("expected SPD");
    const x = new Float64Array(b);
    choleskySolveInPlace(r.lower, n, x);
    expect(maxAbsDiff(x, gaussSolve(a, b, n))).toBeLessThan(1e-9);
  });
});

describe("lowerTriangularInverse", () => {
  it("gives L·L⁻¹ = I", () => {
    const n = 11;
    const r = cholesky(spd(n, 4), n);
    if (!r.ok) throw new Error("expected SPD");
    const li = lowerTriangularInverse(r.lower, n);
    const eye = matmul(r.lower, li, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) expect(eye[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 10);
  });
});

describe("inverseFromCholesky", () => {
  it("matches a Gauss–Jordan inverse", () => {
    for (const n of [1, 3, 12, 13, 18]) {
      const a = spd(n, 5 + n);
      const r = cholesky(a, n);
      if (!r.ok) throw new Error("expected SPD");
      const inv = inverseFromCholesky(r.lower, n);
      const ref = gaussInverse(a, n);
      expect(maxAbsDiff(inv, ref)).toBeLessThan(1e-9 * Math.max(...ref.map(Math.abs)));
    }
  });
});

describe("upperCholeskyOfInverse", () => {
  it("equals the anchor's cholesky(cholesky_inverse(cholesky(H)), upper=True) path", () => {
    for (const n of [1, 2, 7, 20]) {
      const a = spd(n, 10 + n);
      const r = upperCholeskyOfInverse(a, n);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      const ref = naiveUpperCholesky(gaussInverse(a, n), n); // (n, n)
      const scale = Math.max(...ref.map(Math.abs));
      expect(maxAbsDiff(r.upper, ref)).toBeLessThan(1e-9 * scale);
      // UᵀU = A⁻¹ and U is upper triangular with a positive diagonal
      const utu = matmul(transpose(r.upper, n), r.upper, n);
      expect(maxAbsDiff(utu, gaussInverse(a, n))).toBeLessThan(1e-9 * scale * scale);
      for (let i = 0; i < n; i++) {
        expect(r.upper[i * n + i]).toBeGreaterThan(0);
        for (let j = 0; j < i; j++) expect(r.upper[i * n + j]).toBe(0);
      }
    }
  });

  it("reads only the upper triangle", () => {
    const n = 6;
    const a = spd(n, 2);
    const upperOnly = new Float64Array(a);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) upperOnly[i * n + j] = Number.NaN;
    const r1 = upperCholeskyOfInverse(a, n);
    const r2 = upperCholeskyOfInverse(upperOnly, n);
    if (!r1.ok || !r2.ok) throw new Error("expected SPD");
    expect(Array.from(r2.upper)).toEqual(Array.from(r1.upper));
  });

  it("reports failure on an indefinite matrix", () => {
    expect(upperCholeskyOfInverse(new Float64Array([1, 2, 2, 1]), 2).ok).toBe(false);
  });
});

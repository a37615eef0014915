// ---- Preconditioner of pcgRefit: diagonal plus a Nyström low-rank part, restricted per row ----

import { createRng } from "@mama-prune/core";
import { choleskyInPlace, solveWithFactor } from "./linalg.ts";

/**
 * M = D̃ + F·Fᵀ with F·Fᵀ a rank-r Nyström approximation of H (captured after two power iterations,
 * so it holds H's few strong directions: the shared activation directions that make plain Jacobi
 * slow) and D̃ = diag(H_d) − diag(F·Fᵀ) ≥ λ. Row i uses M restricted to its kept set K_i, applied by
 * Woodbury: M_K⁻¹ = D̃_K⁻¹ − D̃_K⁻¹F_K·C⁻¹·F_KᵀD̃_K⁻¹ with C = I + F_KᵀD̃_K⁻¹F_K (r×r, one Cholesky per
 * row). rank 0 is plain Jacobi.
 */
export interface Preconditioner {
  readonly rank: number;
  /** Setup multiply-adds (Nyström GEMMs excluded; they are counted by the caller's GEMM tally). */
  readonly setupMultiplyAdds: number;
  /** Factor C for the kept set of `maskRow` into slot `slot`. */
  setupRow(slot: number, mask: Uint8Array, maskOffset: number): void;
  /** z = M_K⁻¹·r for the row in `slot` (r is 0 on pruned entries; z comes out 0 there). */
  apply(
    slot: number,
    r: Float64Array,
    rOffset: number,
    mask: Uint8Array,
    maskOffset: number,
    z: Float64Array,
  ): void;
  /** Move slot `from` to slot `to` (row compaction). */
  move(from: number, to: number): void;
  /** For tests: F (n, r), D̃⁻¹ (n,) and the Cholesky factor of C in `slot` (r, r; views, not copies). */
  readonly parts: {
    readonly f: Float64Array;
    readonly invD: Float64Array;
    factor(slot: number): Float64Array;
  };
}

/**
 * Build the preconditioner. `gemm(x, m)` must return x·H for x [m, n] (float32, through the backend).
 * `diagD` is diag(H_d) (dead fix and ridge included).
 */
export async function buildPreconditioner(
  n: number,
  slots: number,
  rank: number,
  diagD: Float64Array,
  gemm: (x: Float32Array, m: number) => Promise<Float32Array>,
): Promise<Preconditioner> {
  const r = Math.min(rank, n);
  const f = new Float64Array(n * r); // (n, r)
  const invD = new Float64Array(n); // (n,)
  if (r > 0) {
    // Ω: seeded Gaussian, two power iterations (orthonormalised), then Y = H·Ω.
    const rng = createRng(0x5eed);
    const omega = new Float64Array(r * n); // (r, n): columns of Ω stored as rows
    for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
    orthonormalRows(omega, r, n);
    let y = await gemm(Float32Array.from(omega), r); // (r, n) = (H·Ω)ᵀ
    for (let it = 0; it < 2; it++) {
      omega.set(y);
      orthonormalRows(omega, r, n);
      y = await gemm(Float32Array.from(omega), r);
    }
    // Nyström: H ≈ Y·(ΩᵀY)⁻¹·Yᵀ = F·Fᵀ with ΩᵀY + νI = L·Lᵀ, F = Y·L⁻ᵀ.
    const core = new Float64Array(r * r); // (r, r)
    let trace = 0;
    for (let a = 0; a < r; a++) {
      for (let b = 0; b <= a; b++) {
        let s = 0;
        for (let j = 0; j < n; j++)
          s += 0.5 * (omega[a * n + j]! * y[b * n + j]! + omega[b * n + j]! * y[a * n + j]!);
        core[a * r + b] = s;
        core[b * r + a] = s;
      }
      trace += core[a * r + a]!;
    }
    const nu = 1e-6 * Math.max(trace, Number.MIN_VALUE);
    for (let a = 0; a < r; a++) core[a * r + a]! += nu;
    if (choleskyInPlace(core, r) < 0) {
      // F row j = L⁻¹·y_j (forward substitution per input j).
      for (let j = 0; j < n; j++) {
        for (let a = 0; a < r; a++) {
          let s = y[a * n + j]!;
          for (let b = 0; b < a; b++) s -= core[a * r + b]! * f[j * r + b]!;
          f[j * r + a] = s / core[a * r + a]!;
        }
      }
    } else f.fill(0); // numerically rank-deficient sample: fall back to Jacobi
  }
  for (let j = 0; j < n; j++) {
    let ff = 0;
    for (let a = 0; a < r; a++) ff += f[j * r + a]! ** 2;
    const d = Math.max(diagD[j]! - ff, 1e-3 * diagD[j]!);
    invD[j] = d > 0 ? 1 / d : 0;
  }
  const rr = r * r;
  const c = new Float64Array(slots * rr); // (slots, r, r) Cholesky factors of C
  const t = new Float64Array(r); // (r,)
  const kept = new Int32Array(n + 1); // one row's kept columns
  let setupMultiplyAdds = 0;
  return {
    rank: r,
    get setupMultiplyAdds() {
      return setupMultiplyAdds;
    },
    setupRow(slot, mask, mo) {
      if (r === 0) return;
      const cs = c.subarray(slot * rr, slot * rr + rr);
      cs.fill(0);
      // The kept columns, listed without a branch per column; then four at a time, each entry of C
      // loaded and stored once per four and the four terms added in column order (the rounding of
      // adding them one column at a time, bit for bit).
      const nk = keptColumns(mask, mo, n, kept);
      let q = 0;
      for (; q + 4 <= nk; q += 4) {
        const j0 = kept[q]!;
        const j1 = kept[q + 1]!;
        const j2 = kept[q + 2]!;
        const j3 = kept[q + 3]!;
        const d0 = invD[j0]!;
        const d1 = invD[j1]!;
        const d2 = invD[j2]!;
        const d3 = invD[j3]!;
        const f0 = j0 * r;
        const f1 = j1 * r;
        const f2 = j2 * r;
        const f3 = j3 * r;
        // Rows a and a + 1 of C together: each F entry loaded once for both (the same sums per entry).
        let a = 0;
        for (; a + 1 < r; a += 2) {
          const v0 = f[f0 + a]! * d0;
          const v1 = f[f1 + a]! * d1;
          const v2 = f[f2 + a]! * d2;
          const v3 = f[f3 + a]! * d3;
          const w0 = f[f0 + a + 1]! * d0;
          const w1 = f[f1 + a + 1]! * d1;
          const w2 = f[f2 + a + 1]! * d2;
          const w3 = f[f3 + a + 1]! * d3;
          const ca = a * r;
          const cb = ca + r;
          for (let b = 0; b <= a; b++) {
            const g0 = f[f0 + b]!;
            const g1 = f[f1 + b]!;
            const g2 = f[f2 + b]!;
            const g3 = f[f3 + b]!;
            cs[ca + b] = cs[ca + b]! + v0 * g0 + v1 * g1 + v2 * g2 + v3 * g3;
            cs[cb + b] = cs[cb + b]! + w0 * g0 + w1 * g1 + w2 * g2 + w3 * g3;
          }
          const b = a + 1;
          cs[cb + b] = cs[cb + b]! + w0 * f[f0 + b]! + w1 * f[f1 + b]! + w2 * f[f2 + b]! + w3 * f[f3 + b]!;
        }
        if (a < r) {
          const v0 = f[f0 + a]! * d0;
          const v1 = f[f1 + a]! * d1;
          const v2 = f[f2 + a]! * d2;
          const v3 = f[f3 + a]! * d3;
          const ca = a * r;
          for (let b = 0; b <= a; b++) {
            cs[ca + b] = cs[ca + b]! + v0 * f[f0 + b]! + v1 * f[f1 + b]! + v2 * f[f2 + b]! + v3 * f[f3 + b]!;
          }
        }
      }
      for (; q < nk; q++) {
        const j = kept[q]!;
        const dj = invD[j]!;
        const fj = j * r;
        for (let a = 0; a < r; a++) {
          const v = f[fj + a]! * dj;
          for (let b = 0; b <= a; b++) cs[a * r + b]! += v * f[fj + b]!;
        }
      }
      setupMultiplyAdds += n * ((r * (r + 1)) / 2);
      for (let a = 0; a < r; a++) cs[a * r + a]! += 1;
      choleskyInPlace(cs, r); // I + (PSD) is positive definite
    },
    apply(slot, res, ro, mask, mo, z) {
      if (r === 0) {
        for (let j = 0; j < n; j++) z[j] = res[ro + j]! * invD[j]!;
        return;
      }
      t.fill(0);
      // t = F_KᵀD̃⁻¹r over the nonzero terms, eight columns at a time in column order, then the last
      // few one by one (t never holds −0, so the skipped zero terms would not have changed it: bit for
      // bit the one-at-a-time sum).
      let nu = 0;
      for (let j = 0; j < n; j++) {
        const u = res[ro + j]! * invD[j]!;
        z[j] = u;
        kept[nu] = j;
        nu += +(u !== 0);
      }
      let q = 0;
      for (; q + 8 <= nu; q += 8) {
        const u0 = z[kept[q]!]!;
        const u1 = z[kept[q + 1]!]!;
        const u2 = z[kept[q + 2]!]!;
        const u3 = z[kept[q + 3]!]!;
        const u4 = z[kept[q + 4]!]!;
        const u5 = z[kept[q + 5]!]!;
        const u6 = z[kept[q + 6]!]!;
        const u7 = z[kept[q + 7]!]!;
        const f0 = kept[q]! * r;
        const f1 = kept[q + 1]! * r;
        const f2 = kept[q + 2]! * r;
        const f3 = kept[q + 3]! * r;
        const f4 = kept[q + 4]! * r;
        const f5 = kept[q + 5]! * r;
        const f6 = kept[q + 6]! * r;
        const f7 = kept[q + 7]! * r;
        for (let a = 0; a < r; a++)
          t[a] =
            t[a]! +
            u0 * f[f0 + a]! +
            u1 * f[f1 + a]! +
            u2 * f[f2 + a]! +
            u3 * f[f3 + a]! +
            u4 * f[f4 + a]! +
            u5 * f[f5 + a]! +
            u6 * f[f6 + a]! +
            u7 * f[f7 + a]!;
      }
      for (; q < nu; q++) {
        const j = kept[q]!;
        const u = z[j]!;
        const fj = j * r;
        for (let a = 0; a < r; a++) t[a]! += u * f[fj + a]!;
      }
      solveWithFactor(c.subarray(slot * rr, slot * rr + rr), r, t);
      const nk = keptColumns(mask, mo, n, kept);
      // Four kept columns per pass: independent dot products (each summed in the same order), then the
      // last few one by one.
      let p = 0;
      for (; p + 4 <= nk; p += 4) {
        const j0 = kept[p]!;
        const j1 = kept[p + 1]!;
        const j2 = kept[p + 2]!;
        const j3 = kept[p + 3]!;
        const f0 = j0 * r;
        const f1 = j1 * r;
        const f2 = j2 * r;
        const f3 = j3 * r;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let a = 0; a < r; a++) {
          const ta = t[a]!;
          s0 += f[f0 + a]! * ta;
          s1 += f[f1 + a]! * ta;
          s2 += f[f2 + a]! * ta;
          s3 += f[f3 + a]! * ta;
        }
        z[j0]! -= invD[j0]! * s0;
        z[j1]! -= invD[j1]! * s1;
        z[j2]! -= invD[j2]! * s2;
        z[j3]! -= invD[j3]! * s3;
      }
      for (; p < nk; p++) {
        const j = kept[p]!;
        const fj = j * r;
        let s = 0;
        for (let a = 0; a < r; a++) s += f[fj + a]! * t[a]!;
        z[j]! -= invD[j]! * s;
      }
    },
    move(from, to) {
      if (r > 0) c.copyWithin(to * rr, from * rr, from * rr + rr);
    },
    parts: { f, invD, factor: (slot) => c.subarray(slot * rr, slot * rr + rr) },
  };
}

/** Modified Gram–Schmidt on the rows of a (r, n); a row that collapses is left as it is. */
function orthonormalRows(a: Float64Array, r: number, n: number): void {
  for (let i = 0; i < r; i++) {
    const ai = i * n;
    for (let k = 0; k < i; k++) {
      const ak = k * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += a[ai + j]! * a[ak + j]!;
      for (let j = 0; j < n; j++) a[ai + j]! -= s * a[ak + j]!;
    }
    let s = 0;
    for (let j = 0; j < n; j++) s += a[ai + j]! ** 2;
    const norm = Math.sqrt(s);
    if (norm > 0) for (let j = 0; j < n; j++) a[ai + j]! /= norm;
  }
}

/** The columns j < n with mask[mo + j] ≠ 0 into `out`, in order, without a branch per column; their count. */
function keptColumns(mask: Uint8Array, mo: number, n: number, out: Int32Array): number {
  let nk = 0;
  for (let j = 0; j < n; j++) {
    out[nk] = j;
    nk += +(mask[mo + j] !== 0);
  }
  return nk;
}

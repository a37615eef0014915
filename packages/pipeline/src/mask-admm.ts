// ---- ALPS-style ADMM mask search (Meng et al. 2024): reconstruction loss + sparse-set projection, ρ growing ----

import { type Matrix, PruneError, type Sparsity, throwIfAborted } from "@mama-prune/core";
import { cholesky, inverseFromCholesky } from "@mama-prune/redistribute";

/** Options of {@link admmMask}. */
export interface AdmmMaskOptions {
  /** Relative damping λ / mean(diag H) of the loss (default 0.01). */
  readonly damping?: number;
  /** Starting penalty ρ₀ / mean(diag H) (default 0.3). */
  readonly rho0?: number;
  /** Growth of ρ per iteration (default 1.05). */
  readonly rhoGrowth?: number;
  /** Iterations (default 300). */
  readonly iterations?: number;
  readonly name?: string;
  readonly signal?: AbortSignal;
}

/**
 * Keep the largest |v| of each row (unstructured: `keep` per row) or of each run of M (N:M: M − N kept
 * per run); ties: lower index. Writes the mask (1 = kept) and zeroes the rest of `v` in `z`.
 */
function project(v: Float64Array, z: Float64Array, mask: Uint8Array, group: number, keep: number): void {
  const idx = new Array<number>(group);
  for (let g0 = 0; g0 < v.length; g0 += group) {
    for (let k = 0; k < group; k++) idx[k] = g0 + k;
    idx.sort((a, b) => Math.abs(v[b]!) - Math.abs(v[a]!) || a - b);
    for (let k = 0; k < group; k++) {
      const at = idx[k]!;
      const on = k < keep ? 1 : 0;
      mask[at] = on;
      z[at] = on === 1 ? v[at]! : 0;
    }
  }
}

/**
 * ALPS-style ADMM on each row's reconstruction loss (w − w⁰)ᵀHd(w − w⁰), Hd = H + λI, subject to the
 * sparsity pattern: W ← (Hd + ρI)⁻¹(Hd·W⁰ + ρ(Z − U)), Z ← Π(W + U) (largest magnitudes per row or per
 * M-run), U ← U + W − Z, with ρ = ρ₀·growth^k so the iterates are driven onto the pattern. Returns the
 * mask of the final Z (the caller refits the kept weights exactly).
 *
 * Cost per linear (rows r, cols c, iterations T): T·(c³/3 for the factorisation of Hd + ρI and its
 * inverse, + r·c² for the update, + r·c·log c for the projection) — O(T·(c³ + r·c²)), gated by width
 * like the swap pass.
 */
export function admmMask(
  weight: Matrix,
  gram: Float64Array,
  sparsity: Sparsity,
  options: AdmmMaskOptions = {},
): Uint8Array {
  const { rows, cols: n } = weight;
  const where = `admmMask(${(options.name ?? "linear").slice(0, 120)})`;
  if (gram.length !== n * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: gram must be cols × cols. Expected length ${n * n}, got ${gram.length}.`,
    );
  }
  let group: number;
  let keep: number;
  if (typeof sparsity === "number") {
    group = n;
    keep = n - Math.floor(sparsity * n);
  } else {
    if (n % sparsity.m !== 0) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: N:M sparsity needs cols divisible by M. Expected a multiple of ${sparsity.m}, got ${n}.`,
      );
    }
    group = sparsity.m;
    keep = sparsity.m - sparsity.n;
  }
  const hd = new Float64Array(gram); // (n, n)
  let mean = 0;
  for (let j = 0; j < n; j++) {
    if (hd[j * n + j] === 0) hd[j * n + j] = 1;
    mean += hd[j * n + j]! / n;
  }
  const lambda = (options.damping ?? 0.01) * mean;
  for (let j = 0; j < n; j++) hd[j * n + j]! += lambda;
  const w0 = weight.data;
  const hw0 = new Float64Array(rows * n); // (rows, n): Hd·w⁰ per row
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += hd[i * n + j]! * w0[r * n + j]!;
      hw0[r * n + i] = s;
    }
  }
  const z = new Float64Array(rows * n);
  const u = new Float64Array(rows * n);
  const w = Float64Array.from(w0);
  const mask = new Uint8Array(rows * n);
  const v = new Float64Array(rows * n);
  const rhs = new Float64Array(n);
  project(w, z, mask, group, keep);
  const iters = options.iterations ?? 300;
  const growth = options.rhoGrowth ?? 1.05;
  let rho = (options.rho0 ?? 0.3) * mean;
  const sys = new Float64Array(n * n);
  for (let it = 0; it < iters; it++) {
    if (it % 16 === 0) throwIfAborted(options.signal, where);
    sys.set(hd);
    for (let j = 0; j < n; j++) sys[j * n + j]! += rho;
    const c = cholesky(sys, n);
    if (!c.ok) break;
    const inv = inverseFromCholesky(c.lower, n); // (n, n)
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      for (let j = 0; j < n; j++) rhs[j] = hw0[o + j]! + rho * (z[o + j]! - u[o + j]!);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += inv[i * n + j]! * rhs[j]!;
        w[o + i] = s;
      }
    }
    for (let k = 0; k < v.length; k++) v[k] = w[k]! + u[k]!;
    project(v, z, mask, group, keep);
    for (let k = 0; k < v.length; k++) u[k]! += w[k]! - z[k]!;
    rho *= growth;
  }
  return mask;
}

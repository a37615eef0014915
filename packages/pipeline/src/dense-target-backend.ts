// ---- MAMA's dense target on a ComputeBackend: V = W + α·(C − H̃)ᵀ-products through (H̃ + λI)⁻¹ as GEMMs ----
//
// The JS path (dense-target.ts) solves (H̃ + λI)·v = (αC + (1 − α)H̃ + λI)·w per row in float64. Here,
// for wide layers, the same V comes from float32 backend GEMMs, written as a correction of W:
//
//   (αC + (1 − α)H̃ + λI) = (H̃ + λI) + α(C − H̃)   ⇒   V = W + α·W·(C − H̃)ᵀ·(H̃ + λI)⁻¹
//
// (H̃ + λI)⁻¹ = UᵀU with U = upperCholeskyOfInverseBlocked's factor, so with D = α(C − H̃) (formed in
// float64, rounded once to float32):  M = W·Dᵀ,  P = M·Uᵀ,  V = W + P·U  — three GEMMs of rows·n².
// The float32 round-off then scales with the correction V − W, not with V (X̃ = X gives V = W exactly).
//
// Memory beyond the caller's gram/crossGram: D (float32 n²) until M is formed, then ONE float64 n²
// working matrix u that the blocked factor overwrites with U; U and Uᵀ are then written as float32 into
// the two halves of u's own buffer, so no further n² array is allocated. With a caller's (shared)
// float64 factor: two float32 n² arrays, U and Uᵀ.

import { type ComputeBackend, type Matrix, matrix, PruneError } from "@mama-prune/core";
import { type SparseGptFactor, upperCholeskyOfInverseBlocked } from "@mama-prune/redistribute";
import type { DenseTargetResult } from "./dense-target.ts";
import { liveDiagonal } from "./gram-diagonal.ts";

/** y = x·wᵀ on the backend, dropping the backend's cached copy of the temporary `w`. */
async function gemm(
  backend: ComputeBackend,
  x: Float32Array,
  w: Float32Array,
  m: number,
  k: number,
  n: number,
): Promise<Float32Array> {
  const y = await backend.matmulTransB(x, w, m, k, n);
  backend.invalidate(w);
  return y;
}

/** Uᵀ of the upper part of `up` into `upT` (its strict upper triangle zero). */
function transposeUpper(up: Float32Array, upT: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) upT[j * n + i] = up[i * n + j]!;
  for (let i = 0; i < n; i++) upT.fill(0, i * n + i + 1, (i + 1) * n);
}

/**
 * The backend path of `denseTargetWeight` (same arguments after validation; `h` is not taken: the
 * diagonal fix of dead inputs, H̃_jj = 0 → 1, is applied on the fly). Same damping-retry semantics and
 * messages as the JS path: λ = rel·mean(diag H̃), rel ×10 (from 1e-8 when 0) up to 6 attempts, a
 * failure being a failing pivot of the blocked factor. With `factor` (SparseGPT's factor of the same
 * damped H̃, `sparseGptFactor`) at relative damping `damping`, that U is used (copied to float32, not
 * modified) instead of factoring: the same kernel on the same matrix, so V is bit-identical.
 *
 * @internal
 */
export async function denseTargetOnBackend(
  weight: Matrix,
  gram: Float64Array,
  crossGram: Float64Array,
  damping: number,
  where: string,
  blend: number,
  backend: ComputeBackend,
  factor?: SparseGptFactor,
): Promise<DenseTargetResult> {
  const { rows, cols: n } = weight;
  const nn = n * n;
  const { diag, meanDiag } = liveDiagonal(gram, n);

  // M = W·Dᵀ with D = α(C − H̃) (dead diagonal fixed), D dropped right after.
  let d: Float32Array = new Float32Array(nn); // (n, n)
  for (let i = 0; i < nn; i++) d[i] = blend * (crossGram[i]! - gram[i]!);
  for (let j = 0; j < n; j++) if (gram[j * n + j] === 0) d[j * n + j] = blend * (crossGram[j * n + j]! - 1);
  const m = await gemm(backend, weight.data, d, rows, n, n); // (rows, n)
  d = new Float32Array(0);

  // (H̃ + λI)⁻¹ = UᵀU: the caller's factor at this damping (shared, read only), or factored here,
  // retried with more damping as the JS path does.
  const warnings: string[] = [];
  let rel = damping;
  let up: Float32Array; // (n, n) U
  let upT: Float32Array; // (n, n) Uᵀ
  if (factor !== undefined && factor.relDamping === damping && factor.upper.length === nn) {
    up = new Float32Array(factor.upper);
    upT = new Float32Array(nn);
    transposeUpper(up, upT, n);
  } else {
    let u: Float64Array | undefined = new Float64Array(nn); // (n, n) the one float64 working matrix
    let ok = false;
    for (let attempt = 0; attempt < 6; attempt++) {
      u.set(gram);
      for (let j = 0; j < n; j++) u[j * n + j] = diag[j]! + rel * meanDiag;
      if ((await upperCholeskyOfInverseBlocked(u, n, backend)) < 0) {
        ok = true;
        break;
      }
      const next = rel > 0 ? rel * 10 : 1e-8;
      warnings.push(
        `${where}: Cholesky of H̃ + λI failed at λ = ${rel}·mean(diag H̃); retrying with ${next}·mean(diag H̃).`,
      );
      rel = next;
    }
    if (!ok) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: Cholesky of the damped Gram matrix H̃ + λI failed. Expected a positive-definite matrix, got failing pivots up to λ = ${rel / 10}·mean(diag H̃).`,
      );
    }
    // U (float32) into the first half of u's buffer (in place, forward: element k of the float32 view
    // overwrites bytes of float64 elements < k only after element k was read), Uᵀ into the second half.
    const buf = u.buffer;
    const f64 = u;
    u = undefined;
    up = new Float32Array(buf, 0, nn);
    for (let k = 0; k < nn; k++) up[k] = f64[k]!;
    upT = new Float32Array(buf, nn * 4, nn);
    transposeUpper(up, upT, n);
  }
  const lambda = rel * meanDiag;
  const p = await gemm(backend, m, up, rows, n, n); // (rows, n) P = M·Uᵀ
  const corr = await gemm(backend, p, upT, rows, n, n); // (rows, n) P·U

  const out = new Float32Array(rows * n); // (rows, n)
  for (let i = 0; i < rows; i++) {
    for (let a = 0; a < n; a++) {
      const k = i * n + a;
      const v = weight.data[k]! + corr[k]!;
      if (!Number.isFinite(v)) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: target row ${i} is not finite. Expected finite values of (H̃ + λI)⁻¹(C + λI)w, got ${v} at column ${a}.`,
        );
      }
      out[k] = v;
    }
  }
  return { target: matrix(rows, n, out), lambda, warnings };
}

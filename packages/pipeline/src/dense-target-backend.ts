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
// Memory beyond the caller's gram/crossGram: ONE float64 n² working matrix u that the blocked factor
// overwrites with U (none with a caller's shared float64 factor), and the rows × n products M, P, P·U.
// With the product statistic M = W·(C − H̃)ᵀ accumulated in the two-stream pass instead of C
// (target-product.ts; wide inputs with one narrow consumer, e.g. down_proj), the first GEMM is skipped:
// W·Dᵀ = α·M, except in the columns of dead inputs (H̃_jj = 0 → 1 puts −α·W[:, j] there).
//
// D, U and Uᵀ enter the GEMMs in float32 blocks of at most DENSE_TARGET_BLOCK_FLOATS values, formed
// from the float64 matrices block by block: no float32 n² array is allocated (the whole float32 D, U
// and Uᵀ were 3 × 256 MiB at n = 8192, and as many in the kernel memory).

import { type ComputeBackend, type Matrix, matrix, PruneError, transposeInto } from "@mama-prune/core";
import {
  pooledFloat32,
  recycleFloats,
  type SparseGptFactor,
  upperCholeskyOfInverseBlocked,
} from "@mama-prune/redistribute";
import type { DenseTargetResult } from "./dense-target.ts";
import { liveDiagonal } from "./gram-diagonal.ts";

/**
 * At most this many float32 values of an n² operand per backend GEMM (32 MiB): the three products
 * take the n × n factor (D, U or Uᵀ) in blocks of its rows, converted from float64 block by block, so
 * no float32 n² array exists, in the JavaScript heap or in the kernel memory (256 MiB each at
 * n = 8192). Column j of x·wᵀ depends on row j of w only, so the blocks give the whole product's
 * values bit for bit.
 */
export const DENSE_TARGET_BLOCK_FLOATS: number = 2 ** 23;

/**
 * y = x·wᵀ on the backend with w (n × k) given by blocks of its rows: `fill(j0, j1, buf)` writes rows
 * j0..j1 of w into buf ((j1 − j0) × k); each block's product lands in y's columns j0..j1.
 */
async function gemmByRowBlocks(
  backend: ComputeBackend,
  x: Float32Array,
  m: number,
  k: number,
  n: number,
  blockFloats: number,
  fill: (j0: number, j1: number, buf: Float32Array) => void,
): Promise<Float32Array> {
  // Rows of w per GEMM: a multiple of 8 (the kernel's column panel), at least 8.
  const nb = Math.min(n, Math.max(8, Math.floor(blockFloats / k / 8) * 8));
  // (m, n) on the pages of a dead rows × cols array when one is pooled; every value is written below
  // (the GEMM's output, or its blocks' columns), so it is not zero-filled first.
  const y = pooledFloat32(m * n, false);
  const wb = new Float32Array(nb * k); // (nb, k) one block of w's rows
  const yb = nb === n ? y : new Float32Array(m * nb); // (m, nb)
  for (let j0 = 0; j0 < n; j0 += nb) {
    const j1 = Math.min(n, j0 + nb);
    const c = j1 - j0;
    const w = wb.subarray(0, c * k);
    fill(j0, j1, w);
    const out = yb.subarray(0, m * c);
    await backend.matmulTransB(x, w, m, k, c, { out });
    backend.invalidate(w);
    if (yb !== y) for (let i = 0; i < m; i++) y.set(out.subarray(i * c, (i + 1) * c), i * n + j0);
  }
  return y;
}

/**
 * A deferred factor written into the Gram's own buffer (`sparseGptFactor`'s `overwriteHessian`): the
 * Gram is gone, so the dense target takes this factor whatever damping it reached (never refactors).
 */
export interface SpentGramFactor extends SparseGptFactor {
  readonly gramSpent: true;
}

/** The dense target's statistic when it is the product M = W·(C − H̃)ᵀ (rows, cols) instead of C. */
export interface TargetProductInput {
  readonly targetProduct: Float64Array;
}

/**
 * W·Dᵀ from the product statistic: α·M with, in the column of each dead input j (H̃_jj = 0, so
 * C[j, :] = H̃[j, :] = 0 and M[:, j] = 0), the −α·W[:, j] that the cross-Gram path's fix H̃_jj → 1
 * puts there; float64, rounded once to float32.
 */
function productCorrection(
  weight: Matrix,
  gram: Float64Array,
  product: Float64Array,
  blend: number,
): Float32Array {
  const { rows, cols: n } = weight;
  const out = pooledFloat32(rows * n); // (rows, n)
  for (let k = 0; k < out.length; k++) out[k] = blend * product[k]!;
  for (let j = 0; j < n; j++) {
    if (gram[j * n + j] !== 0) continue;
    for (let i = 0; i < rows; i++) out[i * n + j] = blend * (product[i * n + j]! - weight.data[i * n + j]!);
  }
  return out;
}

/**
 * The backend path of `denseTargetWeight` (same arguments after validation; `h` is not taken: the
 * diagonal fix of dead inputs, H̃_jj = 0 → 1, is applied on the fly). Same damping-retry semantics and
 * messages as the JS path: λ = rel·mean(diag H̃), rel ×10 (from 1e-8 when 0) up to 6 attempts, a
 * failure being a failing pivot of the blocked factor. With `factor` (SparseGPT's factor of the same
 * damped H̃, `sparseGptFactor`) at relative damping `damping`, that U is used (read in float32 blocks,
 * not modified) instead of factoring: the same kernel on the same matrix, so V is bit-identical.
 * `crossGram` may be the product statistic instead ({@link TargetProductInput}: M = W·(C − H̃)ᵀ, then
 * W·Dᵀ = α·M, no GEMM). `factor` may be deferred (a function): it is then called once, after M = W·Dᵀ
 * is formed, the last read of `crossGram`, so it may write the factor into crossGram's buffer (`sparseGptFactor`'s
 * `into`). `blockFloats` bounds each GEMM's block of an n² operand (the values do not depend on it).
 *
 * @internal
 */
export async function denseTargetOnBackend(
  weight: Matrix,
  gram: Float64Array,
  crossGram: Float64Array | TargetProductInput,
  damping: number,
  where: string,
  blend: number,
  backend: ComputeBackend,
  factor?: SparseGptFactor | (() => Promise<SparseGptFactor>),
  blockFloats: number = DENSE_TARGET_BLOCK_FLOATS,
): Promise<DenseTargetResult> {
  const { rows, cols: n } = weight;
  const nn = n * n;
  const { diag, meanDiag } = liveDiagonal(gram, n);
  const dead = new Uint8Array(n); // (n,) H̃_jj = 0: read here, as a deferred factor may overwrite gram
  for (let j = 0; j < n; j++) dead[j] = gram[j * n + j] === 0 ? 1 : 0;

  // M = W·Dᵀ with D = α(C − H̃) (dead diagonal fixed), D formed block by block of its rows; or, from
  // the product statistic, α·(W·(C − H̃)ᵀ − W[:, dead]) rounded once to float32.
  const m =
    crossGram instanceof Float64Array
      ? await gemmByRowBlocks(backend, weight.data, rows, n, n, blockFloats, (j0, j1, buf) => {
          for (let j = j0; j < j1; j++) {
            const o = j * n;
            const b = (j - j0) * n;
            for (let a = 0; a < n; a++) buf[b + a] = blend * (crossGram[o + a]! - gram[o + a]!);
            if (gram[o + j] === 0) buf[b + j] = blend * (crossGram[o + j]! - 1);
          }
        }) // (rows, n)
      : productCorrection(weight, gram, crossGram.targetProduct, blend); // (rows, n)

  // (H̃ + λI)⁻¹ = UᵀU: the caller's factor at this damping (shared, read only), or factored here,
  // retried with more damping as the JS path does.
  const warnings: string[] = [];
  let rel = damping;
  let upper: Float64Array; // (n, n) U, read by blocks of rows (U) and of columns (Uᵀ) in float32
  // A deferred factor is made only now, after the last read of C (it may be written into C's buffer).
  if (typeof factor === "function") factor = await factor();
  // A factor made in gram's own buffer (`gramSpent`) is taken at whatever damping it reached: the
  // escalation below would have run the same attempts on the same matrices (×10 from `damping`, the
  // same kernel) and ended there, so only its warnings are written, as it would have.
  const spent = (factor as SpentGramFactor | undefined)?.gramSpent === true;
  if (factor !== undefined && (factor.relDamping === damping || spent) && factor.upper.length === nn) {
    for (let attempt = 1; rel !== factor.relDamping; attempt++) {
      const next = rel > 0 ? rel * 10 : 1e-8;
      if (attempt >= 6) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: the shared factor's damping is not on this escalation's path. Expected ${damping}·10^k·mean(diag H̃), k < 6, got ${factor.relDamping}.`,
        );
      }
      warnings.push(
        `${where}: Cholesky of H̃ + λI failed at λ = ${rel}·mean(diag H̃); retrying with ${next}·mean(diag H̃).`,
      );
      rel = next;
    }
    upper = factor.upper;
  } else {
    const u = new Float64Array(nn); // (n, n) the one float64 working matrix
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
    upper = u;
  }
  const lambda = rel * meanDiag;
  // P = M·Uᵀ: w = U, its rows' upper triangle (float32-rounded) and zeros left of the diagonal — the
  // values of a factor zero below its diagonal, also when its buffer keeps H̃ there (`gramSpent`).
  const p = await gemmByRowBlocks(backend, m, rows, n, n, blockFloats, (j0, j1, buf) => {
    for (let j = j0; j < j1; j++) {
      const o = j * n;
      const b = (j - j0) * n;
      buf.fill(0, b, b + j);
      for (let a = j; a < n; a++) buf[b + a] = upper[o + a]!;
    }
  }); // (rows, n)
  // P·U: w = Uᵀ of U's upper triangle, row j = column j of U down to the diagonal, zero beyond it.
  const corr = await gemmByRowBlocks(backend, p, rows, n, n, blockFloats, (j0, j1, buf) => {
    // Columns j0..j1 of U's rows 0..j1, transposed in strips (what lies below U's diagonal there is
    // written too, then zeroed with the rest of the row beyond j).
    transposeInto(upper, j0, n, j1, j1 - j0, buf, { dstStride: n });
    for (let j = j0; j < j1; j++) {
      const b = (j - j0) * n;
      buf.fill(0, b + j + 1, b + n);
    }
  }); // (rows, n)
  recycleFloats(p); // P's last read was the GEMM above

  // V = W + P·U, written over P·U's buffer (each entry read once, just before it is replaced: the same
  // float32 values as a separate array, without a third rows × n array).
  const out = corr; // (rows, n)
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
  // (W − V)·H̃ from what is at hand, no GEMM: (V − W)·(H̃' + λI) = W·Dᵀ (H̃' = H̃ with dead H̃_jj = 1), so
  // (W − V)·H̃ = λ(V − W) − W·Dᵀ in the live columns and 0 in the dead ones (H̃'s column is 0 there).
  // Written over M's buffer, which is not read any more.
  const gradient = m; // (rows, n)
  for (let i = 0; i < rows; i++) {
    for (let a = 0; a < n; a++) {
      const k = i * n + a;
      gradient[k] = dead[a] === 1 ? 0 : lambda * (out[k]! - weight.data[k]!) - m[k]!;
    }
  }
  return { target: matrix(rows, n, out), lambda, warnings, targetGradient: gradient };
}

// ---- A symmetric Gram H kept as the strict lower triangle of a float64 buffer, beside its factor ----
//
// The blocked factorisation of H in H's own buffer (sparseGptFactor's `overwriteHessian` with
// `keepLowerTriangle`) leaves U in the upper triangle and H's strict lower triangle untouched: with
// H's float64 diagonal kept aside, that buffer still holds all of H. The readers here see exactly the
// values of H's float32 rounding (`new Float32Array(H)`), for the PCG polish's GEMMs and the sweep's
// checks, with no float32 copy of H (462 MiB at 11008 columns).

import { PruneError, transposeInto } from "@mama-prune/core";
import type { HessianInfo } from "./common.ts";

/**
 * checkHessian's dead inputs and mean diagonal for a Gram given as the strict lower triangle of `h`
 * (float64, n × n; what is on and above its diagonal is not read) and its float64 diagonal `diag`:
 * every strict-lower entry and its float32 rounding must be finite (the GEMMs read H rounded to
 * float32), every diagonal entry finite, ≥ 0, and 0 exactly where its float32 rounding is.
 */
export function lowerTriangleInfo(
  where: string,
  h: Float64Array | Float32Array,
  diag: Float64Array | undefined,
  n: number,
): { dead: Uint8Array; meanDiag: number } {
  if (!(h instanceof Float64Array) || h.length !== n * n || diag === undefined || diag.length !== n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: option hessianLowerTriangle needs a float64 hessian of ${n}·${n} values and option hessianDiagonal of ${n} values. Expected those, got a ${h.constructor.name} of ${h.length} values and ${diag === undefined ? "no hessianDiagonal" : `${diag.length} diagonal values`}.`,
    );
  }
  for (let i = 1; i < n; i++) {
    const o = i * n;
    for (let j = 0; j < i; j++) {
      if (!Number.isFinite(Math.fround(h[o + j]!))) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `${where}: hessian has an entry that is not finite in float32 at [${i}, ${j}] (lower triangle). Expected finite numbers within float32's range, got ${h[o + j]}.`,
        );
      }
    }
  }
  const dead = new Uint8Array(n); // (n,)
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const d = diag[j]!;
    if (!(d >= 0) || !Number.isFinite(Math.fround(d)) || (d === 0) !== (Math.fround(d) === 0)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: option hessianDiagonal[${j}] is not a usable Gram diagonal. Expected a value ≥ 0, finite in float32, and 0 exactly where its float32 rounding is, got ${d}.`,
      );
    }
    if (d === 0) {
      dead[j] = 1;
      sum += 1;
    } else sum += d;
  }
  return { dead, meanDiag: n === 0 ? 0 : sum / n };
}

/**
 * Rows j0 … j0 + c − 1 of the symmetric H given by the strict lower triangle of `h` (n × n) and its
 * diagonal, rounded to float32, into `out` (c × n): the values `new Float32Array(H)` holds there, bit
 * for bit (an element store rounds as that conversion does). Entries right of the diagonal come from
 * H's column, read row by row of `h` (contiguous runs of c values).
 */
export function fillRowsFromLower(
  h: Float64Array,
  diag: Float64Array,
  n: number,
  j0: number,
  c: number,
  out: Float32Array,
): void {
  for (let r = 0; r < c; r++) {
    const j = j0 + r;
    const o = r * n;
    for (let k = 0; k < j; k++) out[o + k] = h[j * n + k]!; // H[j, k], k < j
    out[o + j] = diag[j]!;
  }
  // H[j, k] = H[k, j] for k > j: row k of h, columns j0 … min(k, j0 + c) − 1. Inside the rows' own
  // square (k < j0 + c) element by element; below it (k ≥ j0 + c) as one tiled transpose of the
  // (n − j0 − c) × c block h[j0 + c:, j0 : j0 + c] into out[:, j0 + c:] (the same stores).
  const kSplit = Math.min(n, j0 + c);
  for (let k = j0 + 1; k < kSplit; k++) {
    const src = k * n;
    for (let j = j0; j < k; j++) out[(j - j0) * n + k] = h[src + j]!;
  }
  transposeInto(h, kSplit * n + j0, n, n - kSplit, c, out, { dstOffset: kSplit, dstStride: n });
}

/**
 * The Hessian facts `sparsegpt` takes from its hessian (`checkHessian`), for H given by its strict
 * lower triangle and float64 diagonal: those of H's float32 rounding (the diagonal's float32 values,
 * dead inputs counted as 1), as the sweep read them from a float32 copy; the checks of
 * {@link lowerTriangleInfo}. H was exactly symmetric (it is read from one triangle).
 */
export function lowerTriangleHessianInfo(
  where: string,
  h: Float64Array | Float32Array,
  diag: Float64Array | undefined,
  n: number,
): HessianInfo {
  const { dead } = lowerTriangleInfo(where, h, diag, n);
  let deadCount = 0;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (dead[j] === 1) {
      deadCount++;
      sum += 1;
    } else sum += Math.fround(diag![j]!);
  }
  return { dead, deadCount, meanDiag: n === 0 ? 0 : sum / n, exactlySymmetric: true };
}

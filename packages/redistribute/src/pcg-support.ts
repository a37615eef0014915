// ---- pcgRefit's helpers: row compaction, warm-start and diagonal checks ----

import { PruneError } from "@mama-prune/core";
import type { Preconditioner } from "./pcg-precond.ts";

/** Number of consecutive iterations whose error decrease enters the stopping test. */
export const PCG_WINDOW = 2;

/** Drop the rows marked done from the compact per-row state; returns the new active count. */
export function compact(
  m: number,
  n: number,
  done: Uint8Array,
  active: Int32Array,
  r: Float64Array,
  p: Float32Array,
  gamma: Float64Array,
  err: Float64Array,
  ring: Float64Array,
  pre: Preconditioner,
): number {
  let w = 0;
  for (let a = 0; a < m; a++) {
    if (done[a] === 1) continue;
    if (w !== a) {
      active[w] = active[a]!;
      r.copyWithin(w * n, a * n, a * n + n);
      p.copyWithin(w * n, a * n, a * n + n);
      gamma[w] = gamma[a]!;
      err[w] = err[a]!;
      ring.copyWithin(w * PCG_WINDOW, a * PCG_WINDOW, a * PCG_WINDOW + PCG_WINDOW);
      pre.move(a, w);
    }
    w++;
  }
  done.fill(0, 0, m);
  return w;
}

/** Check a warm start: a finite Float32Array of rows·cols. */
export function checkInitial(where: string, init: Float32Array, rows: number, n: number): void {
  if (!(init instanceof Float32Array)) throw new TypeError(`${where}: initialWeight must be a Float32Array`);
  if (init.length !== rows * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: initialWeight length does not match the weight. Expected ${rows}·${n} = ${rows * n}, got ${init.length}.`,
    );
  }
  for (let i = 0; i < init.length; i++) {
    if (!Number.isFinite(init[i]!)) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: initialWeight has a non-finite value at [${Math.floor(i / n)}, ${i % n}]. Expected finite numbers, got ${init[i]}.`,
      );
    }
  }
}

/**
 * checkHessian's dead inputs and mean diagonal from the float64 diagonal of the Gram that `h32` rounds
 * (the same formula: dead H_jj = 0 counted as 1); also checks that the rounding kept every dead input
 * dead and no live one (H_jj below float32's range would turn dead).
 */
export function diagonalInfo(
  where: string,
  h32: Float64Array | Float32Array,
  diag: Float64Array,
  n: number,
): { dead: Uint8Array; meanDiag: number } {
  if (!(h32 instanceof Float32Array) || diag.length !== n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: option hessianDiagonal needs a float32 hessian and n values. Expected a Float32Array and ${n} values, got a ${h32.constructor.name} and ${diag.length}.`,
    );
  }
  const dead = new Uint8Array(n); // (n,)
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const d = diag[j]!;
    if (!(d >= 0) || !Number.isFinite(d) || (d === 0) !== (h32[j * n + j] === 0)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: option hessianDiagonal[${j}] does not match the float32 hessian. Expected a finite value ≥ 0 that is 0 exactly where H[${j}, ${j}] is, got ${d} and ${h32[j * n + j]}.`,
      );
    }
    if (d === 0) {
      dead[j] = 1;
      sum += 1;
    } else sum += d;
  }
  return { dead, meanDiag: n === 0 ? 0 : sum / n };
}

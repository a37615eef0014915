// ---- Shared input validation, Hessian preparation and damping escalation ----

import type { Matrix } from "@mama-prune/core";
import { type Logger, PruneError } from "@mama-prune/core";

/** Factor by which the relative damping grows after a failed Cholesky. */
export const DAMPING_GROWTH = 10;
/** Relative damping of the first retry when the caller asked for none (percdamp = 0). */
export const MIN_RETRY_DAMPING = 1e-6;
/** Default number of factorisation attempts (first try included) before NUMERIC_FAILURE. */
export const DEFAULT_MAX_DAMPING_ATTEMPTS = 5;

/** Check a weight Matrix (shape, data length, finiteness). */
export function checkWeight(where: string, weight: Matrix): void {
  if (typeof weight !== "object" || weight === null || !(weight.data instanceof Float32Array)) {
    throw new TypeError(`${where}: weight must be a Matrix { rows, cols, data: Float32Array }`);
  }
  const { rows, cols, data } = weight;
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${where}: weight shape must be non-negative integers, got [${rows}, ${cols}]`);
  }
  if (data.length !== rows * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: weight data length does not match its shape. Expected ${rows}·${cols} = ${rows * cols}, got ${data.length}.`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: weight has a non-finite value at [${Math.floor(i / cols)}, ${i % cols}]. Expected finite numbers, got ${data[i]}.`,
      );
    }
  }
}

/** Check a keep-mask (1 = keep, 0 = prune) of `rows·cols` bytes. */
export function checkMask(where: string, mask: Uint8Array, rows: number, cols: number): void {
  if (!(mask instanceof Uint8Array)) throw new TypeError(`${where}: mask must be a Uint8Array (1 = keep)`);
  if (mask.length !== rows * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: mask length does not match the weight. Expected ${rows}·${cols} = ${rows * cols}, got ${mask.length}.`,
    );
  }
  // Four bytes per step: a word of 0/1 bytes has no bit outside 0x01010101. Only a mask that fails
  // walks the byte loop below, which names the first offending entry.
  const words = mask.byteOffset % 4 === 0 ? mask.length >>> 2 : 0;
  const u32 = new Uint32Array(mask.buffer, words > 0 ? mask.byteOffset : 0, words);
  let stray = 0;
  for (let i = 0; i < words; i++) stray |= u32[i]!;
  for (let i = 4 * words; i < mask.length; i++) stray |= mask[i]!;
  if ((stray & 0xfefefefe) === 0) return;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (v !== 0 && v !== 1) {
      throw new PruneError(
        "MASK_INVALID",
        `${where}: mask entry [${Math.floor(i / cols)}, ${i % cols}] is not 0 or 1. Expected 0 (prune) or 1 (keep), got ${v}.`,
      );
    }
  }
}

/** A validated float64 copy of the Hessian with dead inputs fixed. */
export interface PreparedHessian {
  readonly h: Float64Array; // (n, n), symmetric, dead diagonal entries set to 1
  readonly dead: Uint8Array; // (n,), 1 where the input column was never active (H_jj = 0)
  readonly deadCount: number;
  readonly meanDiag: number; // mean of diag(h) after the dead fix
}

/**
 * Validate a Gram/Hessian matrix and copy it to float64: finite, symmetric (to 1e-6 relative to
 * √(H_ii·H_jj)), non-negative diagonal. Dead inputs (H_jj = 0) get H_jj = 1, as in the anchor.
 */
export function prepareHessian(
  where: string,
  hessian: Float64Array | Float32Array,
  n: number,
): PreparedHessian {
  const info = checkHessian(where, hessian, n);
  const h = new Float64Array(hessian); // (n, n)
  for (let j = 0; j < n; j++) if (info.dead[j] === 1) h[j * n + j] = 1;
  return { h, ...info };
}

/** What {@link checkHessian} found: dead inputs and the mean diagonal after the dead fix. */
export interface HessianInfo {
  readonly dead: Uint8Array; // (n,), 1 where the input column was never active (H_jj = 0)
  readonly deadCount: number;
  readonly meanDiag: number; // mean of diag(H) with dead entries counted as 1
  /** H[i, j] === H[j, i] bit for bit everywhere (a Gram matrix from `gramAccumulate` is). */
  readonly exactlySymmetric: boolean;
}

/**
 * The checks of {@link prepareHessian} without the copy (finite, non-negative diagonal, symmetric to
 * 1e-6 relative), for callers that use the caller's array as it is.
 */
export function checkHessian(where: string, hessian: Float64Array | Float32Array, n: number): HessianInfo {
  if (!(hessian instanceof Float64Array) && !(hessian instanceof Float32Array)) {
    throw new TypeError(`${where}: hessian must be a Float64Array (or Float32Array) of length cols·cols`);
  }
  if (hessian.length !== n * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: hessian length does not match the weight's input size. Expected ${n}·${n} = ${n * n}, got ${hessian.length}.`,
    );
  }
  const h = hessian;
  // One tiled pass settles the usual case (finite and exactly symmetric); any other matrix takes the
  // element loops below, which name the first offending entry.
  const clean = isFiniteAndExactlySymmetric(h, n);
  for (let i = 0; i < h.length && !clean; i++) {
    if (!Number.isFinite(h[i]!)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: hessian has a non-finite entry at [${Math.floor(i / n)}, ${i % n}]. Expected finite numbers, got ${h[i]}.`,
      );
    }
  }
  for (let j = 0; j < n; j++) {
    const d = h[j * n + j]!;
    if (d < 0) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: hessian diagonal entry [${j}, ${j}] is negative, which no Gram matrix XᵀX has. Expected ≥ 0, got ${d}.`,
      );
    }
  }
  // Every entry is finite here, so the tiled pass above failed only on an asymmetry: exact symmetry
  // (the Gram accumulators' usual case) is `clean`; otherwise the row-major loop below checks the
  // tolerance and reports the first offending entry.
  const exactlySymmetric = clean;
  for (let i = 0; i < n && !exactlySymmetric; i++) {
    for (let j = 0; j < i; j++) {
      const a = h[i * n + j]!;
      const b = h[j * n + i]!;
      if (a === b) continue;
      const scale = Math.sqrt(h[i * n + i]! * h[j * n + j]!) + Math.abs(a) + Math.abs(b);
      if (Math.abs(a - b) > 1e-6 * scale) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `${where}: hessian is not symmetric at [${i}, ${j}]. Expected H[${i}, ${j}] = H[${j}, ${i}], got ${a} and ${b}.`,
        );
      }
    }
  }
  const dead = new Uint8Array(n); // (n,)
  let deadCount = 0;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const d = h[j * n + j]!;
    if (d === 0) {
      dead[j] = 1;
      deadCount++;
      sum += 1;
    } else sum += d;
  }
  return { dead, deadCount, meanDiag: n === 0 ? 0 : sum / n, exactlySymmetric };
}

/** Columns of the square tiles of {@link isFiniteAndExactlySymmetric}. */
const SYMMETRY_TILE = 64;

/**
 * Whether every entry is finite and h[i, j] === h[j, i] for all i, j, compared tile by tile below
 * the diagonal (the transposed reads stay in the cache) with the finiteness folded in (x·0 is 0 for
 * finite x, NaN for ±Infinity and NaN), so the matrix is read once.
 */
function isFiniteAndExactlySymmetric(h: Float64Array | Float32Array, n: number): boolean {
  let z = 0;
  for (let j = 0; j < n; j++) z += h[j * n + j]! * 0;
  for (let i0 = 0; i0 < n; i0 += SYMMETRY_TILE) {
    const i1 = Math.min(n, i0 + SYMMETRY_TILE);
    for (let j0 = 0; j0 <= i0; j0 += SYMMETRY_TILE) {
      for (let i = i0; i < i1; i++) {
        const j1 = Math.min(i, j0 + SYMMETRY_TILE);
        const ro = i * n;
        for (let j = j0; j < j1; j++) {
          const a = h[ro + j]!;
          if (a !== h[j * n + i]) return false;
          z += a * 0;
        }
      }
    }
  }
  return z === 0;
}

/** Check a relative damping option (percdamp). */
export function checkDamping(where: string, option: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${where}: ${option} must be a finite number ≥ 0, got ${value}`);
  }
}

/** Check maxDampingAttempts. */
export function checkAttempts(where: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${where}: maxDampingAttempts must be an integer ≥ 1, got ${value}`);
  }
}

/** One factorisation attempt of {@link factorWithDamping}: the factor, or the failing pivot. */
export type DampedAttempt<T> = { ok: true; value: T } | { ok: false; pivot: number };

/** Outcome of {@link factorWithDamping}. */
export interface DampedFactor<T> {
  readonly value: T;
  readonly relDamping: number; // fraction of mean(diag H) finally added
  readonly damping: number; // absolute value finally added to the diagonal
  readonly attempts: number; // 1 = the first try succeeded
}

/**
 * Builds the matrix one attempt of {@link factorWithDamping} factors: H with `damping` added to the
 * diagonal (`attempt` counts from 1).
 */
export type DampedMatrixSource = (damping: number, attempt: number) => Float64Array;

/**
 * The default {@link DampedMatrixSource}: a new float64 copy of `h` per attempt, damping added to its
 * diagonal; with `dead`, the diagonal of a dead input (dead[j] = 1) becomes 1 + damping (the anchor's
 * H_jj = 0 → 1 fix, applied to the copy, so the caller's H needs no fixed copy of its own).
 */
export function dampedCopies(
  h: Float64Array | Float32Array,
  n: number,
  dead?: Uint8Array,
  into?: Float64Array,
): DampedMatrixSource {
  return (damping) => {
    // (n, n) a new copy, or H copied into the caller's spare n² buffer
    let damped: Float64Array;
    if (into === undefined) damped = new Float64Array(h);
    else {
      into.set(h);
      damped = into;
    }
    for (let j = 0; j < n; j++) {
      if (dead !== undefined && dead[j] === 1) damped[j * n + j] = 1 + damping;
      else damped[j * n + j]! += damping;
    }
    return damped;
  };
}

/**
 * The caller's H itself as the matrix of every attempt (no n² copy), for factorisations that write
 * only the upper triangle and the diagonal of H's order (the blocked one, which works on the reversed
 * lower triangle): before a retry the upper triangle is restored from the untouched strict lower one
 * and the diagonal from a saved copy. H must be exactly symmetric; after the call it holds the factor.
 * Each attempt's matrix equals {@link dampedCopies}' bit for bit.
 */
export function dampedInPlace(h: Float64Array, n: number, dead: Uint8Array): DampedMatrixSource {
  const diag = new Float64Array(n); // (n,) diag H with the dead fix
  for (let j = 0; j < n; j++) diag[j] = dead[j] === 1 ? 1 : h[j * n + j]!;
  return (damping, attempt) => {
    if (attempt > 1) {
      h.reverse(); // the blocked factorisation leaves a failed attempt reversed
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) h[i * n + j] = h[j * n + i]!;
    }
    for (let j = 0; j < n; j++) h[j * n + j] = dead[j] === 1 ? 1 + damping : diag[j]! + damping;
    return h;
  };
}

/**
 * Add relDamping·meanDiag to the diagonal of a copy of `h` and call `factor`; when it fails (returns
 * a pivot index), multiply the relative damping by {@link DAMPING_GROWTH}, warn through `log` and in
 * `warnings`, and retry, at most `maxAttempts` times in all; then throw NUMERIC_FAILURE. Never falls
 * back to anything but a larger damping. `factor` may be synchronous (the float64 JS factorisations) or
 * asynchronous (the blocked factorisation on a compute backend). `source`, when given, builds each
 * attempt's damped matrix instead of the plain copy of `h` (see {@link dampedCopies}, {@link dampedInPlace}).
 */
export async function factorWithDamping<T>(
  where: string,
  h: Float64Array | Float32Array,
  n: number,
  meanDiag: number,
  relDamping: number,
  maxAttempts: number,
  log: Logger | undefined,
  warnings: string[],
  factor: (damped: Float64Array) => DampedAttempt<T> | Promise<DampedAttempt<T>>,
  source?: DampedMatrixSource,
): Promise<DampedFactor<T>> {
  let rel = relDamping;
  let lastPivot = -1;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const damping = rel * meanDiag;
    let damped: Float64Array; // (n, n)
    if (source !== undefined) damped = source(damping, attempt);
    else {
      damped = new Float64Array(h);
      for (let j = 0; j < n; j++) damped[j * n + j]! += damping;
    }
    const r = await factor(damped);
    if (r.ok) return { value: r.value, relDamping: rel, damping, attempts: attempt };
    lastPivot = r.pivot;
    if (attempt < maxAttempts) {
      const next = Math.max(rel * DAMPING_GROWTH, MIN_RETRY_DAMPING);
      const msg = `${where}: Cholesky failed at pivot ${r.pivot} with damping ${rel}·mean(diag H); retrying with ${next}·mean(diag H)`;
      warnings.push(msg);
      log?.warn(msg, { pivot: r.pivot, relDamping: rel, nextRelDamping: next, attempt });
      rel = next;
    }
  }
  throw new PruneError(
    "NUMERIC_FAILURE",
    `${where}: Cholesky of the damped Hessian failed at pivot ${lastPivot} after ${maxAttempts} attempts. Expected a positive-definite matrix once damping reaches ${rel}·mean(diag H), got a failing pivot.`,
  );
}

// ---- SparseGPT's U = chol(H⁻¹)ᵀ-upper, blocked, with the big products on a ComputeBackend ----
//
// Same algebra as upperCholeskyOfInverseInPlace (linalg.ts): factor J·A·J = L'·L'ᵀ, invert L', U =
// J·L'⁻¹·J. Here the factor and its inverse come from one recursion on the (reversed) matrix:
//
//   [A  ·]   L = [L11   0 ]    X = L⁻¹ = [X11              0 ]
//   [B  C]       [L21  L22]              [−X22·L21·X11    X22]
//
//   (L11, X11) = rec(A);  L21 = B·X11ᵀ;  C −= L21·L21ᵀ;  (L22, X22) = rec(C);  X21 = −X22·(L21·X11)
//
// Leaves (≤ `leaf` columns) are factored and inverted in float64 JS; every product above is one float32
// backend GEMM (y = x·wᵀ), accumulated into the float64 matrix — what torch does on a GPU for
// SparseGPT. Only X is kept (L is needed inside the recursion only, as L21 = B·X11ᵀ).

import type { ComputeBackend } from "@mama-prune/core";
import { choleskyInPlace, lowerTriangularInverseInPlace } from "./linalg.ts";

/** Columns of the diagonal blocks factored in float64 JS (default of {@link upperCholeskyOfInverseBlocked}). */
export const BLOCKED_LEAF = 128;

/**
 * A pivot d_j of the blocked factor with d_j ≤ BLOCKED_PIVOT_REL_TOL·A_jj (A_jj the diagonal entry of the
 * matrix handed in) counts as a failure: the Schur complements carry float32 round-off of order
 * 1e-7·A_jj, so a smaller pivot is noise and the caller must add damping (as the float64 path does
 * below 1e-12).
 */
export const BLOCKED_PIVOT_REL_TOL = 1e-6;

/** Multiply-adds the GEMMs of one {@link upperCholeskyOfInverseBlocked} call issued (for benchmarks). */
export interface BlockedFactorStats {
  gemmMultiplyAdds: number;
  gemmCalls: number;
}

/**
 * In-place upper Cholesky factor of A⁻¹ (A symmetric positive definite, upper triangle read; A⁻¹ = UᵀU),
 * blocked: leaves in float64 JS, the off-diagonal products as float32 GEMMs on `backend`. Returns -1
 * on success (`a` holds U, zero below the diagonal) or the index (in A's order) of the failing pivot,
 * `a`'s upper triangle (diagonal included) then being garbage while its strict lower triangle is
 * untouched, in reversed order (so a caller can restore A: `dampedInPlace`). Cost ≈ 0.4·n³
 * multiply-adds on the backend (the products with a triangular operand run in up to `parts` = 4 column
 * or row parts, skipping most of its zero half; `parts` = 1 runs them as full GEMMs, ≈ 0.58·n³, with
 * the same result bit for bit) plus n·leaf²/3 in JS; extra memory ≈ 2.5·(n/2)² float32.
 */
export async function upperCholeskyOfInverseBlocked(
  a: Float64Array,
  n: number,
  backend: ComputeBackend,
  leaf: number = BLOCKED_LEAF,
  stats?: BlockedFactorStats,
  parts: number = PARTS_MAX,
): Promise<number> {
  if (!Number.isInteger(leaf) || leaf < 1)
    throw new RangeError(`blocked Cholesky: leaf must be ≥ 1, got ${leaf}`);
  a.reverse(); // J·A·J: A's upper triangle becomes the lower one
  const diag0 = new Float64Array(n); // (n,) diagonal handed in, the scale of the pivot test
  for (let i = 0; i < n; i++) diag0[i] = a[i * n + i]!;
  const ctx: Ctx = { a, n, backend, leaf, diag0, stats, parts };
  const pivot = await factorInvert(ctx, 0, n);
  if (pivot >= 0) return n - 1 - pivot;
  for (let i = 0; i < n; i++) a.fill(0, i * n + i + 1, (i + 1) * n); // lower triangular L'⁻¹
  a.reverse(); // U = J·L'⁻¹·J
  return -1;
}

interface Ctx {
  readonly a: Float64Array; // (n, n) the reversed matrix, lower triangle live
  readonly n: number;
  readonly backend: ComputeBackend;
  readonly leaf: number;
  readonly diag0: Float64Array; // (n,)
  readonly stats: BlockedFactorStats | undefined;
  readonly parts: number; // parts of the triangular operands (1 = full GEMMs)
}

/** y = x·wᵀ on the backend; `w` is a temporary, so its cached panels are dropped right away. */
async function gemm(ctx: Ctx, x: Float32Array, w: Float32Array, m: number, k: number, nOut: number) {
  const y = await ctx.backend.matmulTransB(x, w, m, k, nOut);
  ctx.backend.invalidate(w);
  if (ctx.stats !== undefined) {
    ctx.stats.gemmCalls++;
    ctx.stats.gemmMultiplyAdds += m * k * nOut;
  }
  return y;
}

/** float32 copy of a[r0:r0+h, c0:c0+w] (h, w); `lower` zeroes entries above the diagonal of a square block. */
function copyBlock(ctx: Ctx, r0: number, c0: number, h: number, w: number, lower: boolean): Float32Array {
  const { a, n } = ctx;
  const out = new Float32Array(h * w); // (h, w)
  for (let i = 0; i < h; i++) {
    const src = (r0 + i) * n + c0;
    const len = lower ? i + 1 : w;
    for (let j = 0; j < len; j++) out[i * w + j] = a[src + j]!;
  }
  return out;
}

const EMPTY = new Float32Array(0);

function transpose(x: Float32Array, h: number, w: number): Float32Array {
  const t = new Float32Array(h * w); // (w, h)
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) t[j * h + i] = x[i * w + j]!;
  return t;
}

/**
 * On entry a[o:o+s, o:o+s] (lower) holds an SPD matrix; on exit its lower triangle holds X = L⁻¹ of its
 * Cholesky factor. Returns -1 or the failing pivot (global index in the reversed order).
 */
async function factorInvert(ctx: Ctx, o: number, s: number): Promise<number> {
  if (s <= ctx.leaf) return leafFactorInvert(ctx, o, s);
  const { a, n, leaf } = ctx;
  const n1 = leaf * Math.ceil(s / (2 * leaf)); // leaf-aligned split, so the leaves are full size
  const n2 = s - n1;
  const o2 = o + n1;
  let p = await factorInvert(ctx, o, n1);
  if (p >= 0) return p;
  // Temporaries are dropped as soon as they are used up (B inside timesLowerT, L21 after L21·X11).
  let g = await timesLowerT(ctx, copyBlock(ctx, o2, o, n2, n1, false), n2, o, n1); // (n2, n1) L21 = B·X11ᵀ
  // C −= L21·L21ᵀ, lower triangle only, in row strips (strip rows r0..r1 need columns < r1).
  const strip = Math.max(leaf, Math.ceil(n2 / 4));
  for (let r0 = 0; r0 < n2; r0 += strip) {
    const r1 = Math.min(r0 + strip, n2);
    const y = await gemm(ctx, g.subarray(r0 * n1, r1 * n1), g.subarray(0, r1 * n1), r1 - r0, n1, r1); // (r1−r0, r1)
    for (let i = 0; i < r1 - r0; i++) {
      const dst = (o2 + r0 + i) * n + o2;
      const yo = i * r1;
      for (let j = 0; j <= r0 + i; j++) a[dst + j]! -= y[yo + j]!;
    }
  }
  p = await factorInvert(ctx, o2, n2);
  if (p >= 0) return p;
  let t = await timesLower(ctx, g, n2, o, n1); // (n2, n1) L21·X11
  g = EMPTY;
  const x21 = await lowerTimes(ctx, o2, n2, t, n1); // (n2, n1) X22·L21·X11
  t = EMPTY;
  for (let i = 0; i < n2; i++) {
    const dst = (o2 + i) * n + o;
    for (let j = 0; j < n1; j++) a[dst + j] = -x21[i * n1 + j]!;
  }
  return -1;
}

// ---- Products with the lower triangular X = a[o:o+s, o:o+s], in column/row parts ----
//
// A part skips the zero half of X at the granularity of the parts: the omitted terms are exact zeros
// at the ends of each output's K range, so every output is the same float32 sum as the full product
// (bit for bit), with (q + 1)/(2q) of its multiply-adds for q parts.

/** Parts of a triangular operand of size s: none below 2·PART_MIN, at most PARTS_MAX. */
const PART_MIN = 256;
const PARTS_MAX = 4;

function partBounds(ctx: Ctx, s: number): number[] {
  const q = Math.max(1, Math.min(ctx.parts, Math.floor(s / PART_MIN)));
  const step = Math.ceil(s / q);
  const out: number[] = [];
  for (let c = 0; c < s; c += step) out.push(c);
  out.push(s);
  return out;
}

/** float32 a[r0:r0+h, c0:c0+w] with the entries above the global diagonal (column > row) zeroed. */
function copyLowerPart(ctx: Ctx, r0: number, c0: number, h: number, w: number): Float32Array {
  const { a, n } = ctx;
  const out = new Float32Array(h * w); // (h, w)
  for (let i = 0; i < h; i++) {
    const len = Math.min(w, r0 + i - c0 + 1);
    const src = (r0 + i) * n + c0;
    for (let j = 0; j < len; j++) out[i * w + j] = a[src + j]!;
  }
  return out;
}

/** Columns [c0, c1) of x (h, w), contiguous. */
function columns(x: Float32Array, h: number, w: number, c0: number, c1: number): Float32Array {
  if (c0 === 0 && c1 === w) return x;
  const out = new Float32Array(h * (c1 - c0)); // (h, c1 − c0)
  for (let i = 0; i < h; i++) out.set(x.subarray(i * w + c0, i * w + c1), i * (c1 - c0));
  return out;
}

/** y = x·Xᵀ, x (h, s), X lower at a[o:o+s, o:o+s]: y[:, c0:c1] = x[:, :c1]·X[c0:c1, :c1]ᵀ. */
async function timesLowerT(
  ctx: Ctx,
  x: Float32Array,
  h: number,
  o: number,
  s: number,
): Promise<Float32Array> {
  const y = new Float32Array(h * s); // (h, s)
  const bounds = partBounds(ctx, s);
  for (let p = 0; p + 1 < bounds.length; p++) {
    const c0 = bounds[p]!;
    const c1 = bounds[p + 1]!;
    const w = copyLowerPart(ctx, o + c0, o, c1 - c0, c1); // (c1−c0, c1)
    const part = await gemm(ctx, columns(x, h, s, 0, c1), w, h, c1, c1 - c0); // (h, c1−c0)
    for (let i = 0; i < h; i++) y.set(part.subarray(i * (c1 - c0), (i + 1) * (c1 - c0)), i * s + c0);
  }
  return y;
}

/** y = x·X, x (h, s), X lower at a[o:o+s, o:o+s]: y[:, c0:c1] = x[:, c0:]·X[c0:, c0:c1]. */
async function timesLower(ctx: Ctx, x: Float32Array, h: number, o: number, s: number): Promise<Float32Array> {
  const y = new Float32Array(h * s); // (h, s)
  const bounds = partBounds(ctx, s);
  for (let p = 0; p + 1 < bounds.length; p++) {
    const c0 = bounds[p]!;
    const c1 = bounds[p + 1]!;
    const xt = transpose(copyLowerPart(ctx, o + c0, o + c0, s - c0, c1 - c0), s - c0, c1 - c0); // (c1−c0, s−c0)
    const part = await gemm(ctx, columns(x, h, s, c0, s), xt, h, s - c0, c1 - c0); // (h, c1−c0)
    for (let i = 0; i < h; i++) y.set(part.subarray(i * (c1 - c0), (i + 1) * (c1 - c0)), i * s + c0);
  }
  return y;
}

/** y = X·t, X lower at a[o:o+s, o:o+s], t (s, w): y[r0:r1, :] = X[r0:r1, :r1]·t[:r1, :]. */
async function lowerTimes(ctx: Ctx, o: number, s: number, t: Float32Array, w: number): Promise<Float32Array> {
  const y = new Float32Array(s * w); // (s, w)
  const bounds = partBounds(ctx, s);
  for (let p = 0; p + 1 < bounds.length; p++) {
    const r0 = bounds[p]!;
    const r1 = bounds[p + 1]!;
    const x = copyLowerPart(ctx, o + r0, o, r1 - r0, r1); // (r1−r0, r1)
    const part = await gemm(ctx, x, transpose(t.subarray(0, r1 * w), r1, w), r1 - r0, r1, w); // (r1−r0, w)
    y.set(part, r0 * w);
  }
  return y;
}

/** Float64 JS factor + inverse of the diagonal block a[o:o+s, o:o+s]. */
function leafFactorInvert(ctx: Ctx, o: number, s: number): number {
  const { a, n, diag0 } = ctx;
  const buf = new Float64Array(s * s); // (s, s)
  for (let i = 0; i < s; i++) buf.set(a.subarray((o + i) * n + o, (o + i) * n + o + i + 1), i * s);
  const p = choleskyInPlace(buf, s);
  if (p >= 0) return o + p;
  for (let i = 0; i < s; i++) {
    const d = buf[i * s + i]!;
    if (!(d * d > BLOCKED_PIVOT_REL_TOL * diag0[o + i]!)) return o + i;
  }
  lowerTriangularInverseInPlace(buf, s);
  for (let i = 0; i < s; i++) a.set(buf.subarray(i * s, i * s + i + 1), (o + i) * n + o);
  return -1;
}

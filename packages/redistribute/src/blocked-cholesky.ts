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
//
// Every float32 temporary (operands, GEMM outputs) is a view into one stack of scratch chunks owned by
// the call (see F32Stack): nothing of size n² is allocated and dropped per product, so the call leaves
// no garbage for V8 to collect late (at n = 11008 the dropped temporaries reached ~1.2 GiB).

import { type ComputeBackend, transposeInto } from "@mama-prune/core";
import { WORK_POOL } from "./buffer-pool.ts";
import { F32Stack } from "./f32-stack.ts";
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
  /** Float32 scratch the call held, in floats (all chunks of its stack; set at the end). */
  scratchFloats?: number;
  /** Chunks of that scratch (1 when {@link scratchFloats}' bound held). */
  scratchChunks?: number;
  /** Most scratch floats in use at once. */
  scratchHighWater?: number;
}

/**
 * In-place upper Cholesky factor of A⁻¹ (A symmetric positive definite, upper triangle read; A⁻¹ = UᵀU),
 * blocked: leaves in float64 JS, the off-diagonal products as float32 GEMMs on `backend`. Returns -1
 * on success (`a` holds U, zero below the diagonal) or the index (in A's order) of the failing pivot,
 * `a`'s upper triangle (diagonal included) then being garbage while its strict lower triangle is
 * untouched, in reversed order (so a caller can restore A: `dampedInPlace`). Cost ≈ 0.39·n³
 * multiply-adds on the backend at n = 8192, 0.42·n³ at n = 2048 (the products with a triangular
 * operand run in up to `parts` = 8 column or row parts of at least 256, skipping most of its zero half,
 * so a 1024-wide operand runs in 4; `parts` = 1 runs them as full GEMMs, ≈ 0.58·n³, with the same
 * result bit for bit) plus n·leaf²/3 in JS; extra memory: one float32 scratch stack of
 * {@link scratchFloats}(n) floats (≈ 0.63·n² at n = 4096 and above, 0.75·n² at 2048), taken from and
 * returned to the shared buffer pool.
 *
 * `lower` = `"keep"`: on success the strict lower triangle is left as it was handed in instead of
 * zeroed (the factorisation never writes there), so `a` holds U (upper triangle, diagonal included)
 * beside A's strict lower triangle — for a symmetric A, all of A but its diagonal, e.g. for a caller
 * that needs H after factoring H in place. A reader of U must then read the upper triangle only. U's
 * values are the same bit for bit.
 */
export async function upperCholeskyOfInverseBlocked(
  a: Float64Array,
  n: number,
  backend: ComputeBackend,
  leaf: number = BLOCKED_LEAF,
  stats?: BlockedFactorStats,
  parts: number = PARTS_MAX,
  lower: "zero" | "keep" = "zero",
): Promise<number> {
  if (!Number.isInteger(leaf) || leaf < 1)
    throw new RangeError(`blocked Cholesky: leaf must be ≥ 1, got ${leaf}`);
  a.reverse(); // J·A·J: A's upper triangle becomes the lower one
  const diag0 = new Float64Array(n); // (n,) diagonal handed in, the scale of the pivot test
  for (let i = 0; i < n; i++) diag0[i] = a[i * n + i]!;
  const scratch = new F32Stack(scratchFloats(n, leaf, parts), WORK_POOL);
  const ctx: Ctx = { a, n, backend, leaf, diag0, stats, parts, scratch };
  let pivot: number;
  try {
    pivot = await factorInvert(ctx, 0, n);
  } finally {
    if (stats !== undefined) {
      stats.scratchFloats = scratch.capacity;
      stats.scratchChunks = scratch.chunkCount;
      stats.scratchHighWater = scratch.highWater;
    }
    scratch.dispose();
  }
  if (pivot >= 0) return n - 1 - pivot;
  // Lower triangular L'⁻¹ (its strict upper triangle is A's strict lower one, reversed: kept on ask)
  if (lower !== "keep") for (let i = 0; i < n; i++) a.fill(0, i * n + i + 1, (i + 1) * n);
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
  readonly scratch: F32Stack; // every float32 temporary
}

/**
 * Floats of scratch one factorisation of size n needs (the first chunk of its {@link F32Stack}): per
 * level (size s = n1 + n2), L21 (n2·n1) plus one part's operand copies and output, which stay below
 * n2·n1 + 2·q·(n1 + n2) + n2·n1 for parts of width q; L21 is held while the recursion goes on into C.
 */
export function scratchFloats(n: number, leaf: number, parts: number = PARTS_MAX): number {
  let held = 0;
  let peak = 0;
  let s = n;
  while (s > leaf) {
    const n1 = leaf * Math.ceil(s / (2 * leaf));
    const n2 = s - n1;
    const width = (v: number): number =>
      Math.ceil(v / Math.max(1, Math.min(parts, Math.floor(v / PART_MIN))));
    const q = Math.max(width(n1), width(n2));
    peak = Math.max(peak, held + 2 * n2 * n1 + 2 * q * (n1 + n2));
    held += n2 * n1;
    s = n2;
  }
  return Math.max(peak, held);
}

/**
 * y = x·wᵀ on the backend, y taken from the scratch; `w` is a temporary, so its cached panels are
 * dropped right away.
 */
async function gemm(ctx: Ctx, x: Float32Array, w: Float32Array, m: number, k: number, nOut: number) {
  const y = await ctx.backend.matmulTransB(x, w, m, k, nOut, { out: ctx.scratch.take(m * nOut) });
  ctx.backend.invalidate(w);
  if (ctx.stats !== undefined) {
    ctx.stats.gemmCalls++;
    ctx.stats.gemmMultiplyAdds += m * k * nOut;
  }
  return y;
}

/** float32 copy of a[r0:r0+h, c0:c0+w] (h, w), from the scratch. */
function copyBlock(ctx: Ctx, r0: number, c0: number, h: number, w: number): Float32Array {
  const { a, n } = ctx;
  const out = ctx.scratch.take(h * w); // (h, w)
  for (let i = 0; i < h; i++) {
    const src = (r0 + i) * n + c0;
    out.set(a.subarray(src, src + w), i * w); // float64 → float32, rounded as an element store
  }
  return out;
}

function transpose(ctx: Ctx, x: Float32Array, h: number, w: number): Float32Array {
  const t = ctx.scratch.take(h * w); // (w, h)
  transposeInto(x, 0, w, h, w, t);
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
  // Everything above `base` (L21 and each product's temporaries) goes back to the scratch when used up.
  const sc = ctx.scratch;
  const base = sc.mark();
  const g = sc.take(n2 * n1); // (n2, n1) L21 = B·X11ᵀ, later L21·X11, later X22·L21·X11 (in place)
  await timesLowerT(ctx, o2, n2, o, n1, g); // B = a[o2:, o:o2] read part by part
  const strips = sc.mark();
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
    sc.release(strips);
  }
  p = await factorInvert(ctx, o2, n2);
  if (p < 0) {
    await timesLowerInPlace(ctx, g, n2, o, n1); // g = L21·X11
    await lowerTimesInPlace(ctx, o2, n2, g, n1); // g = X22·L21·X11 = −X21
    for (let i = 0; i < n2; i++) {
      const dst = (o2 + i) * n + o;
      for (let j = 0; j < n1; j++) a[dst + j] = -g[i * n1 + j]!;
    }
  }
  sc.release(base);
  return p;
}

// ---- Products with the lower triangular X = a[o:o+s, o:o+s], in column/row parts ----
//
// A part skips the zero half of X at the granularity of the parts: the omitted terms are exact zeros
// at the ends of each output's K range, so every output is the same float32 sum as the full product
// (bit for bit), with (q + 1)/(2q) of its multiply-adds for q parts.

/** Parts of a triangular operand of size s: none below 2·PART_MIN, at most PARTS_MAX. */
const PART_MIN = 256;
const PARTS_MAX = 8;

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
  const out = ctx.scratch.take(h * w, true); // (h, w)
  for (let i = 0; i < h; i++) {
    const len = Math.min(w, r0 + i - c0 + 1);
    const src = (r0 + i) * n + c0;
    for (let j = 0; j < len; j++) out[i * w + j] = a[src + j]!;
  }
  return out;
}

/** Columns [c0, c1) of x (h, w), contiguous. */
function columns(ctx: Ctx, x: Float32Array, h: number, w: number, c0: number, c1: number): Float32Array {
  if (c0 === 0 && c1 === w) return x;
  const out = ctx.scratch.take(h * (c1 - c0)); // (h, c1 − c0)
  for (let i = 0; i < h; i++) out.set(x.subarray(i * w + c0, i * w + c1), i * (c1 - c0));
  return out;
}

/**
 * y = B·Xᵀ with B = a[r0:r0+h, o:o+s] and X lower at a[o:o+s, o:o+s]: y[:, c0:c1] =
 * B[:, :c1]·X[c0:c1, :c1]ᵀ, written to `y` (h, s). B is copied to float32 once (h, s); the parts run
 * from the last (c1 = s) to the first, each compacting that copy in place to its first c1 columns
 * (row stride c1): the float32 values a copy of B[:, :c1] per part would hold.
 */
async function timesLowerT(
  ctx: Ctx,
  r0: number,
  h: number,
  o: number,
  s: number,
  y: Float32Array,
): Promise<void> {
  const bounds = partBounds(ctx, s);
  const base = ctx.scratch.mark();
  const b = copyBlock(ctx, r0, o, h, s); // (h, s) B, then (h, c1) its first c1 columns
  let ld = s; // row stride of b
  for (let p = bounds.length - 2; p >= 0; p--) {
    const c0 = bounds[p]!;
    const c1 = bounds[p + 1]!;
    ld = compactColumns(b, h, ld, c1);
    const m = ctx.scratch.mark();
    const w = copyLowerPart(ctx, o + c0, o, c1 - c0, c1); // (c1−c0, c1)
    const part = await gemm(ctx, b.subarray(0, h * c1), w, h, c1, c1 - c0); // (h, c1−c0)
    for (let i = 0; i < h; i++) y.set(part.subarray(i * (c1 - c0), (i + 1) * (c1 - c0)), i * s + c0);
    ctx.scratch.release(m);
  }
  ctx.scratch.release(base);
}

/**
 * Keep the first `cols` columns of the row-major x (h rows, row stride ld ≥ cols), in place, as a
 * dense (h, cols) matrix at the start of x. Returns the new row stride (cols).
 */
function compactColumns(x: Float32Array, h: number, ld: number, cols: number): number {
  if (cols === ld) return ld;
  // Row i moves from i·ld to i·cols ≤ i·ld: in increasing i no row overwrites one still to move.
  for (let i = 1; i < h; i++) x.copyWithin(i * cols, i * ld, i * ld + cols);
  return cols;
}

/**
 * x ← x·X, x (h, s), X lower at a[o:o+s, o:o+s]: x[:, c0:c1] = x[:, c0:]·X[c0:, c0:c1]. In place: a
 * part reads columns ≥ c0 and writes columns [c0, c1), which the later parts no longer read.
 */
async function timesLowerInPlace(ctx: Ctx, x: Float32Array, h: number, o: number, s: number): Promise<void> {
  const bounds = partBounds(ctx, s);
  for (let p = 0; p + 1 < bounds.length; p++) {
    const c0 = bounds[p]!;
    const c1 = bounds[p + 1]!;
    const m = ctx.scratch.mark();
    const lowerPart = copyLowerPart(ctx, o + c0, o + c0, s - c0, c1 - c0); // (s−c0, c1−c0)
    const xt = transpose(ctx, lowerPart, s - c0, c1 - c0); // (c1−c0, s−c0)
    const part = await gemm(ctx, columns(ctx, x, h, s, c0, s), xt, h, s - c0, c1 - c0); // (h, c1−c0)
    for (let i = 0; i < h; i++) x.set(part.subarray(i * (c1 - c0), (i + 1) * (c1 - c0)), i * s + c0);
    ctx.scratch.release(m);
  }
}

/**
 * t ← X·t, X lower at a[o:o+s, o:o+s], t (s, w): t[r0:r1, :] = X[r0:r1, :r1]·t[:r1, :]. In place, the
 * parts from the last to the first: a part reads rows < r1 and writes rows [r0, r1), which the parts
 * still to come (rows < r0) no longer read. tᵀ is made once (w, s) and compacted in place to its first
 * r1 columns per part: the values of t[:r1, :]ᵀ when that part runs.
 */
async function lowerTimesInPlace(ctx: Ctx, o: number, s: number, t: Float32Array, w: number): Promise<void> {
  const bounds = partBounds(ctx, s);
  const base = ctx.scratch.mark();
  const tt = transpose(ctx, t.subarray(0, s * w), s, w); // (w, s), then (w, r1)
  let ld = s; // row stride of tt
  for (let p = bounds.length - 2; p >= 0; p--) {
    const r0 = bounds[p]!;
    const r1 = bounds[p + 1]!;
    ld = compactColumns(tt, w, ld, r1);
    const m = ctx.scratch.mark();
    const x = copyLowerPart(ctx, o + r0, o, r1 - r0, r1); // (r1−r0, r1)
    const part = await gemm(ctx, x, tt.subarray(0, w * r1), r1 - r0, r1, w); // (r1−r0, w)
    t.set(part, r0 * w);
    ctx.scratch.release(m);
  }
  ctx.scratch.release(base);
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

/** Columns per strip of {@link transposeInto}: 8 source rows × this many columns stay in the cache. */
const STRIP = 256;

/** Options of {@link transposeInto}: where the transposed block goes, and an optional row scale. */
export interface TransposeOptions {
  /** Index in `dst` of the first element written (default 0). */
  readonly dstOffset?: number;
  /** Row stride of `dst` (default h: a dense w × h result); at least h. */
  readonly dstStride?: number;
  /**
   * A factor per source row: dst = rowScale[i]·src, the product in float64 and then the store's
   * rounding (what `dst[o] = s * src[k]` gives element by element). At least h long.
   */
  readonly rowScale?: Float32Array | Float64Array;
}

/**
 * dst[dstOffset + j·dstStride + i] = src[offset + i·stride + j] for i < h, j < w: the h × w block of a
 * row-major matrix (row stride `stride`, first element at `offset`) written transposed, by default as
 * a dense w × h matrix at the start of `dst` (float64 → float32 rounds as a typed-array store does).
 * Per strip of 256 columns, 8 rows at a time: 8 reads down a column, 8 contiguous writes (about 7× a
 * 32 × 32 tile walked element by element, measured on 2048 × 8192 in Node 20). `options` places the
 * result inside a wider `dst` and scales each source row (see {@link TransposeOptions}).
 *
 * @throws RangeError when the block does not fit in `src`, the result does not fit in `dst`, or
 *   `rowScale` is shorter than h.
 * @example
 * const t = new Float32Array(6);
 * transposeInto(new Float32Array([1, 2, 3, 4, 5, 6]), 0, 3, 2, 3, t); // t = [1, 4, 2, 5, 3, 6]
 */
export function transposeInto(
  src: Float32Array | Float64Array,
  offset: number,
  stride: number,
  h: number,
  w: number,
  dst: Float32Array | Float64Array,
  options: TransposeOptions = {},
): void {
  const dOff = options.dstOffset ?? 0;
  const ds = options.dstStride ?? h;
  for (const [label, v] of [
    ["offset", offset],
    ["stride", stride],
    ["h", h],
    ["w", w],
    ["dstOffset", dOff],
    ["dstStride", ds],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`transposeInto: ${label} must be a non-negative integer, got ${v}`);
  }
  if (h === 0 || w === 0) return;
  if ((h > 1 && stride < w) || offset + (h - 1) * stride + w > src.length) {
    throw new RangeError(
      `transposeInto: a ${h} × ${w} block at offset ${offset}, row stride ${stride} does not fit in a source of ${src.length} elements`,
    );
  }
  if ((w > 1 && ds < h) || dOff + (w - 1) * ds + h > dst.length) {
    throw new RangeError(
      `transposeInto: a ${w} × ${h} result at dstOffset ${dOff}, row stride ${ds} does not fit in a dst of ${dst.length} elements (expected dstStride ≥ h and room for it)`,
    );
  }
  const scale = options.rowScale;
  if (scale !== undefined && scale.length < h)
    throw new RangeError(`transposeInto: rowScale has ${scale.length} elements, expected at least h = ${h}`);
  const h8 = h - (h % 8);
  const s1 = stride;
  for (let j0 = 0; j0 < w; j0 += STRIP) {
    const j1 = Math.min(w, j0 + STRIP);
    if (scale === undefined) {
      for (let i = 0; i < h8; i += 8) {
        const a = offset + i * s1;
        for (let j = j0; j < j1; j++) {
          const o = dOff + j * ds + i;
          const s = a + j;
          dst[o] = src[s]!;
          dst[o + 1] = src[s + s1]!;
          dst[o + 2] = src[s + 2 * s1]!;
          dst[o + 3] = src[s + 3 * s1]!;
          dst[o + 4] = src[s + 4 * s1]!;
          dst[o + 5] = src[s + 5 * s1]!;
          dst[o + 6] = src[s + 6 * s1]!;
          dst[o + 7] = src[s + 7 * s1]!;
        }
      }
      for (let i = h8; i < h; i++) {
        const a = offset + i * s1;
        for (let j = j0; j < j1; j++) dst[dOff + j * ds + i] = src[a + j]!;
      }
      continue;
    }
    for (let i = 0; i < h8; i += 8) {
      const a = offset + i * s1;
      const f0 = scale[i]!;
      const f1 = scale[i + 1]!;
      const f2 = scale[i + 2]!;
      const f3 = scale[i + 3]!;
      const f4 = scale[i + 4]!;
      const f5 = scale[i + 5]!;
      const f6 = scale[i + 6]!;
      const f7 = scale[i + 7]!;
      for (let j = j0; j < j1; j++) {
        const o = dOff + j * ds + i;
        const s = a + j;
        dst[o] = f0 * src[s]!;
        dst[o + 1] = f1 * src[s + s1]!;
        dst[o + 2] = f2 * src[s + 2 * s1]!;
        dst[o + 3] = f3 * src[s + 3 * s1]!;
        dst[o + 4] = f4 * src[s + 4 * s1]!;
        dst[o + 5] = f5 * src[s + 5 * s1]!;
        dst[o + 6] = f6 * src[s + 6 * s1]!;
        dst[o + 7] = f7 * src[s + 7 * s1]!;
      }
    }
    for (let i = h8; i < h; i++) {
      const a = offset + i * s1;
      const f = scale[i]!;
      for (let j = j0; j < j1; j++) dst[dOff + j * ds + i] = f * src[a + j]!;
    }
  }
}

/** Side of the square tiles of {@link mirrorUpperToLower}. */
const MIRROR_TILE = 64;

/**
 * a[j·k + i] = a[i·k + j] for i < j: copy the strict upper triangle of the row-major k × k matrix
 * `a` onto its strict lower triangle (the upper triangle and the diagonal are not written). Walks
 * 64 × 64 tiles, so both the column reads and the row writes stay in the cache. For a Gram matrix
 * accumulated with `{ upperOnly: true }` (see ComputeBackend.gramAccumulate), this restores the
 * lower triangle; on an exactly symmetric matrix it changes nothing.
 *
 * @throws RangeError when k is not a non-negative integer or `a` does not have k·k elements.
 * @example
 * const a = new Float64Array([1, 2, 0, 3]);
 * mirrorUpperToLower(a, 2); // a = [1, 2, 2, 3]
 */
export function mirrorUpperToLower(a: Float32Array | Float64Array, k: number): void {
  if (!Number.isInteger(k) || k < 0)
    throw new RangeError(`mirrorUpperToLower: k must be a non-negative integer, got ${k}`);
  if (a.length !== k * k)
    throw new RangeError(`mirrorUpperToLower: the matrix has ${a.length} elements, expected k·k = ${k * k}`);
  for (let i0 = 0; i0 < k; i0 += MIRROR_TILE) {
    const i1 = Math.min(k, i0 + MIRROR_TILE);
    for (let j0 = i0; j0 < k; j0 += MIRROR_TILE) {
      const j1 = Math.min(k, j0 + MIRROR_TILE);
      // rows j of the lower tile (j0..j1) × columns i (i0..min(i1, j)): a[j, i] = a[i, j]
      for (let j = j0; j < j1; j++) {
        const o = j * k;
        const iEnd = Math.min(i1, j);
        for (let i = i0; i < iEnd; i++) a[o + i] = a[i * k + j]!;
      }
    }
  }
}

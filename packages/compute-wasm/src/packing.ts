/**
 * Packing of operands into the layouts the kernels read (see ./kernels.ts), and folding the Gram
 * scratch back into the caller's accumulator. All zero pad to the kernels' multiples. @internal
 */

/**
 * x [m, k] → 4-row blocks [mPad/4][kPad][4] at f32 index `base`, zero padded. Four source rows are
 * walked together so the destination is written sequentially (≈5× faster than row by row).
 */
export function packRowBlocks(
  f32: Float32Array,
  base: number,
  x: Float32Array,
  m: number,
  k: number,
  mPad: number,
  kPad: number,
): void {
  if (mPad !== m || kPad !== k) f32.fill(0, base, base + mPad * kPad);
  const full = m & ~3;
  for (let i = 0; i < full; i += 4) {
    let d = base + i * kPad;
    const s0 = i * k;
    const s1 = s0 + k;
    const s2 = s1 + k;
    const s3 = s2 + k;
    for (let t = 0; t < k; t++, d += 4) {
      f32[d] = x[s0 + t] as number;
      f32[d + 1] = x[s1 + t] as number;
      f32[d + 2] = x[s2 + t] as number;
      f32[d + 3] = x[s3 + t] as number;
    }
  }
  for (let i = full; i < m; i++) {
    let d = base + full * kPad + (i & 3);
    const s = i * k;
    for (let t = 0; t < k; t++, d += 4) f32[d] = x[s + t] as number;
  }
}

/** w [n, k] → 8-column panels [nPad/8][kPad][8] at f32 index `base`, zero padded. */
export function packPanels(
  f32: Float32Array,
  base: number,
  w: Float32Array,
  n: number,
  k: number,
  nPad: number,
  kPad: number,
): void {
  if (nPad !== n || kPad !== k) f32.fill(0, base, base + nPad * kPad);
  const full = n & ~7;
  for (let j = 0; j < full; j += 8) {
    let d = base + j * kPad;
    const s0 = j * k;
    for (let t = 0; t < k; t++, d += 8) {
      const s = s0 + t;
      f32[d] = w[s] as number;
      f32[d + 1] = w[s + k] as number;
      f32[d + 2] = w[s + 2 * k] as number;
      f32[d + 3] = w[s + 3 * k] as number;
      f32[d + 4] = w[s + 4 * k] as number;
      f32[d + 5] = w[s + 5 * k] as number;
      f32[d + 6] = w[s + 6 * k] as number;
      f32[d + 7] = w[s + 7 * k] as number;
    }
  }
  for (let j = full; j < n; j++) {
    let d = base + full * kPad + (j & 7);
    const s = j * k;
    for (let t = 0; t < k; t++, d += 8) f32[d] = w[s + t] as number;
  }
}

/**
 * Rows [i0, i0 + mc) of x [*, k], seen as xᵀ [k, mc], → blocks of `width` columns of x:
 * [kp/width][mcPad][width] at f32 index `base`, zero padded (width 4: the kernel's x operand,
 * width 8: its weight panels). Each destination block is written sequentially.
 */
export function packColumnBlocks(
  f32: Float32Array,
  base: number,
  x: Float32Array,
  i0: number,
  mc: number,
  mcPad: number,
  k: number,
  kp: number,
  width: number,
): void {
  if (mcPad !== mc || kp !== k) f32.fill(0, base, base + kp * mcPad);
  const fullCols = k - (k % width);
  for (let c0 = 0; c0 < fullCols; c0 += width) {
    let d = base + c0 * mcPad;
    let s = i0 * k + c0;
    if (width === 4) {
      for (let ii = 0; ii < mc; ii++, d += 4, s += k) {
        f32[d] = x[s] as number;
        f32[d + 1] = x[s + 1] as number;
        f32[d + 2] = x[s + 2] as number;
        f32[d + 3] = x[s + 3] as number;
      }
    } else {
      for (let ii = 0; ii < mc; ii++, d += 8, s += k) {
        f32[d] = x[s] as number;
        f32[d + 1] = x[s + 1] as number;
        f32[d + 2] = x[s + 2] as number;
        f32[d + 3] = x[s + 3] as number;
        f32[d + 4] = x[s + 4] as number;
        f32[d + 5] = x[s + 5] as number;
        f32[d + 6] = x[s + 6] as number;
        f32[d + 7] = x[s + 7] as number;
      }
    }
  }
  if (fullCols < k) {
    const d0 = base + fullCols * mcPad;
    for (let ii = 0; ii < mc; ii++) {
      const s = (i0 + ii) * k;
      for (let c = fullCols; c < k; c++) f32[d0 + ii * width + (c - fullCols)] = x[s + c] as number;
    }
  }
}

/** acc[a, b] += s[a, b] (s is complete: the kernels mirrored the upper triangle into the lower). */
export function foldInto(s: Float64Array, kp: number, acc: Float64Array, k: number): void {
  if (kp === k) {
    for (let i = 0; i < k * k; i++) acc[i] = (acc[i] as number) + (s[i] as number);
    return;
  }
  for (let a = 0; a < k; a++) {
    const sRow = a * kp;
    const aRow = a * k;
    for (let b = 0; b < k; b++) acc[aRow + b] = (acc[aRow + b] as number) + (s[sRow + b] as number);
  }
}

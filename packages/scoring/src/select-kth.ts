// Fast order statistics on float32 data. V8's built-in TypedArray#sort costs 150–300 ns per
// element on this project's CPUs (measured), so mask selection uses a quickselect and ranking a
// radix sort instead. Internal module: not exported from the package.

import { radixSelect } from "@mama-prune/core";

/**
 * The k-th smallest value (0-based) of `a`, reordering `a` in place (quickselect, Hoare partition
 * with a median-of-three pivot; falls back to a full sort after too many poor partitions, so it
 * never goes quadratic). `a` must not contain NaN. -0 and +0 compare equal, as in JS.
 */
export function selectKth(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  if (k < 0 || k > hi) throw new RangeError(`selectKth: k=${k} is outside [0, ${hi}]`);
  let budget = 2 * Math.ceil(Math.log2(a.length + 1)) + 16;
  while (hi > lo) {
    if (hi - lo < 24) {
      for (let p = lo + 1; p <= hi; p++) {
        const v = a[p]!;
        let q = p - 1;
        while (q >= lo && a[q]! > v) {
          a[q + 1] = a[q]!;
          q--;
        }
        a[q + 1] = v;
      }
      return a[k]!;
    }
    if (budget-- <= 0) {
      a.subarray(lo, hi + 1).sort();
      return a[k]!;
    }
    const mid = (lo + hi) >>> 1;
    // median of three into a[mid]
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!; // j < k < i: every element there equals the pivot
  }
  return a[k]!;
}

/** Lengths from which {@link selectKthRadix} beats the quickselect (below, it calls it). */
const RADIX_SELECT_MIN = 512;

/**
 * The k-th smallest value (0-based) of `a`, as {@link selectKth} returns it (the same value; of −0
 * and +0 either may come back, and they compare equal): from 512 values by core's `radixSelect` on
 * the float32 bits (counting passes, no data-dependent branches; ≈ 3× faster on 4096–11008 random
 * scores), below by the quickselect. `a`'s contents are destroyed. `a` must not contain NaN.
 */
export function selectKthRadix(a: Float32Array, k: number): number {
  const n = a.length;
  if (k < 0 || k >= n || !Number.isInteger(k))
    throw new RangeError(`selectKth: k=${k} is outside [0, ${n - 1}]`);
  return n < RADIX_SELECT_MIN ? selectKth(a, k) : radixSelect(a, k);
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Monotone uint32 key of a float32 (−0 is mapped to +0's key so that they tie). NaN maps above +∞. */
export function floatKey(x: number): number {
  f32[0] = x === 0 ? 0 : x;
  const b = u32[0]!;
  return (b & 0x80000000) !== 0 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/**
 * Indices 0..n−1 of `keys` in ascending key order (stable), by an LSD radix sort on 8-bit digits;
 * passes whose digit is the same for every key are skipped. On return `keys` holds the sorted keys
 * and `idx` the permutation; `tmpKeys`, `tmpIdx` are scratch. All arrays have length ≥ n.
 */
export function radixArgsort(
  keys: Uint32Array,
  n: number,
  idx: Uint32Array,
  tmpKeys: Uint32Array,
  tmpIdx: Uint32Array,
): void {
  const count = new Uint32Array(256); // (256,)
  for (let p = 0; p < n; p++) idx[p] = p;
  let inTmp = false; // where the current order lives
  for (let shift = 0; shift < 32; shift += 8) {
    const moved = inTmp
      ? radixPass(tmpKeys, tmpIdx, keys, idx, n, shift, count)
      : radixPass(keys, idx, tmpKeys, tmpIdx, n, shift, count);
    if (moved) inTmp = !inTmp;
  }
  if (inTmp) {
    keys.set(tmpKeys.subarray(0, n));
    idx.set(tmpIdx.subarray(0, n));
  }
}

/** One counting-sort pass on the digit at `shift`; returns false (and moves nothing) when every key shares it. */
function radixPass(
  srcK: Uint32Array,
  srcI: Uint32Array,
  dstK: Uint32Array,
  dstI: Uint32Array,
  n: number,
  shift: number,
  count: Uint32Array,
): boolean {
  count.fill(0);
  for (let p = 0; p < n; p++) {
    const d = (srcK[p]! >>> shift) & 255;
    count[d] = count[d]! + 1;
  }
  let sum = 0;
  for (let d = 0; d < 256; d++) {
    const c = count[d]!;
    if (c === n) return false;
    count[d] = sum;
    sum += c;
  }
  for (let p = 0; p < n; p++) {
    const key = srcK[p]!;
    const d = (key >>> shift) & 255;
    const at = count[d]!;
    count[d] = at + 1;
    dstK[at] = key;
    dstI[at] = srcI[p]!;
  }
  return true;
}

import { radixArgsort } from "../select-kth.ts";

/** Reusable buffers for rank normalisation of groups up to `keys.length` elements. */
export interface RankScratch {
  readonly keys: Uint32Array;
  readonly idx: Uint32Array;
  readonly tmpKeys: Uint32Array;
  readonly tmpIdx: Uint32Array;
}

/**
 * Allocate rank scratch for groups of up to `n` elements (16 bytes per element).
 *
 * @example
 * const scratch = createRankScratch(4096);
 */
export function createRankScratch(n: number): RankScratch {
  return {
    keys: new Uint32Array(n),
    idx: new Uint32Array(n),
    tmpKeys: new Uint32Array(n),
    tmpIdx: new Uint32Array(n),
  };
}

/** How a score term is made comparable within a comparison group. */
export type Normalization = "rank" | "zscore";

/**
 * Normalise `values[offset .. offset+length)` into `out` (same positions).
 *
 * - `"rank"`: average (fractional) rank among the group, scaled to [0, 1]: the smallest gets 0, the
 *   largest 1, equal values share their mean rank (so the result does not depend on element order);
 *   a group of one gets 0.5. Values are compared at float32 precision (-0 equals +0).
 * - `"zscore"`: (x − mean) / std with the population std, computed in float64; a constant group gets 0.
 *
 * @throws RangeError for an unknown method or a range outside the arrays.
 * @example
 * const out = new Float64Array(3);
 * normalizeGroup(new Float32Array([5, 1, 5]), 0, 3, "rank", out); // out = [0.75, 0, 0.75]
 */
export function normalizeGroup(
  values: ArrayLike<number>,
  offset: number,
  length: number,
  method: Normalization,
  out: Float64Array,
  scratch?: RankScratch,
): void {
  if (offset < 0 || length < 0 || offset + length > values.length || offset + length > out.length) {
    throw new RangeError(`normalizeGroup: range [${offset}, ${offset + length}) is outside the arrays`);
  }
  if (length === 0) return;
  if (method === "zscore") {
    let sum = 0;
    for (let k = 0; k < length; k++) sum += values[offset + k]!;
    const mean = sum / length;
    let ss = 0;
    for (let k = 0; k < length; k++) {
      const d = values[offset + k]! - mean;
      ss += d * d;
    }
    const std = Math.sqrt(ss / length);
    for (let k = 0; k < length; k++) out[offset + k] = std > 0 ? (values[offset + k]! - mean) / std : 0;
    return;
  }
  if (method !== "rank") throw new RangeError(`normalizeGroup: unknown method ${String(method)}`);
  if (length === 1) {
    const v = values[offset]!;
    out[offset] = Number.isNaN(v) ? Number.NaN : 0.5;
    return;
  }
  // Radix argsort of float32 keys (V8's TypedArray#sort is too slow here), then each run of equal
  // keys gets its mean rank. Values are compared at float32 precision.
  const sc = scratch !== undefined && scratch.keys.length >= length ? scratch : createRankScratch(length);
  // Write the values as float32 into the key buffer, then map their bits to monotone uint32 keys
  // in place (same mapping as floatKey; -0 becomes +0 so that it ties with +0).
  const asFloat = new Float32Array(sc.keys.buffer, sc.keys.byteOffset, length); // (length,)
  for (let k = 0; k < length; k++) {
    const v = values[offset + k]!;
    asFloat[k] = v === 0 ? 0 : v;
  }
  const keys = sc.keys;
  for (let k = 0; k < length; k++) {
    const b = keys[k]!;
    keys[k] = (b & 0x80000000) !== 0 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  }
  radixArgsort(sc.keys, length, sc.idx, sc.tmpKeys, sc.tmpIdx);
  const scale = 1 / (length - 1);
  let start = 0;
  while (start < length) {
    const key = sc.keys[start]!;
    let end = start + 1;
    while (end < length && sc.keys[end] === key) end++;
    const r = ((start + end - 1) / 2) * scale; // mean rank of the tie run [start, end)
    for (let p = start; p < end; p++) {
      const at = offset + sc.idx[p]!;
      out[at] = Number.isNaN(values[at]!) ? Number.NaN : r; // NaN propagates to output validation
    }
    start = end;
  }
}

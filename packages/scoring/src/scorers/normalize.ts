/** How a score term is made comparable within a comparison group. */
export type Normalization = "rank" | "zscore";

/**
 * Normalise `values[offset .. offset+length)` into `out` (same positions).
 *
 * - `"rank"`: average (fractional) rank among the group, scaled to [0, 1]: the smallest gets 0, the
 *   largest 1, equal values share their mean rank (so the result does not depend on element order);
 *   a group of one gets 0.5.
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
  scratch?: { sorted: Float64Array },
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
  // Sort a copy natively (no comparator), then each value's average rank is the midpoint of its
  // run of equals [lower bound, upper bound) in the sorted copy: O(n log n), independent of order.
  const sorted =
    scratch !== undefined && scratch.sorted.length >= length
      ? scratch.sorted.subarray(0, length)
      : new Float64Array(length); // (length,)
  for (let k = 0; k < length; k++) sorted[k] = values[offset + k]!;
  sorted.sort();
  const scale = 1 / (length - 1);
  for (let k = 0; k < length; k++) {
    const v = values[offset + k]!;
    if (Number.isNaN(v)) {
      out[offset + k] = Number.NaN; // propagate, so output validation reports it
      continue;
    }
    let lo = 0;
    let hi = length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    let up = lo;
    let hi2 = length;
    while (up < hi2) {
      const mid = (up + hi2) >>> 1;
      if (sorted[mid]! <= v) up = mid + 1;
      else hi2 = mid;
    }
    out[offset + k] = ((lo + up - 1) / 2) * scale; // mean rank of the tie run [lo, up)
  }
}

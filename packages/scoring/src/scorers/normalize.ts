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
  scratch?: { idx: Uint32Array },
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
    out[offset] = 0.5;
    return;
  }
  const idx =
    scratch !== undefined && scratch.idx.length >= length
      ? scratch.idx.subarray(0, length)
      : new Uint32Array(length); // (length,)
  for (let k = 0; k < length; k++) idx[k] = k;
  idx.sort((p, q) => values[offset + p]! - values[offset + q]!);
  const scale = 1 / (length - 1);
  let start = 0;
  while (start < length) {
    const v = values[offset + idx[start]!]!;
    let end = start + 1;
    while (end < length && values[offset + idx[end]!]! === v) end++;
    const r = ((start + end - 1) / 2) * scale; // mean rank of the tie run [start, end)
    for (let k = start; k < end; k++) out[offset + idx[k]!] = r;
    start = end;
  }
}

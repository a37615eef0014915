import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { normalizeGroup } from "./normalize.ts";

describe("normalizeGroup", () => {
  it("gives average ranks in [0, 1] with shared ranks for ties", () => {
    const out = new Float64Array(5);
    normalizeGroup(new Float32Array([5, 1, 5, 0, 9]), 0, 5, "rank", out);
    // sorted: 0(0) 1(1) 5,5(2,3 → 2.5) 9(4); scaled by 1/4
    expect(Array.from(out)).toEqual([0.625, 0.25, 0.625, 0, 1]);
  });
  it("matches a brute-force average rank on random values with ties", () => {
    const rng = createRng(5);
    const n = 200;
    const v = Float32Array.from({ length: n }, () => rng.int(30) - 15);
    const out = new Float64Array(n);
    normalizeGroup(v, 0, n, "rank", out);
    for (let k = 0; k < n; k++) {
      let less = 0;
      let equal = 0;
      for (let q = 0; q < n; q++) {
        if (v[q]! < v[k]!) less++;
        else if (v[q] === v[k]) equal++;
      }
      expect(out[k]).toBeCloseTo((less + (equal - 1) / 2) / (n - 1), 12);
    }
  });
  it("works on a sub-range and leaves the rest untouched", () => {
    const out = new Float64Array([7, 7, 7, 7]);
    normalizeGroup(new Float32Array([3, 2, 1, 0]), 1, 2, "rank", out);
    expect(Array.from(out)).toEqual([7, 1, 0, 7]);
  });
  it("gives 0.5 for a group of one and 0 z-scores for a constant group", () => {
    const out = new Float64Array(3);
    normalizeGroup(new Float32Array([4]), 0, 1, "rank", out);
    expect(out[0]).toBe(0.5);
    normalizeGroup(new Float32Array([2, 2, 2]), 0, 3, "zscore", out);
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });
  it("z-scores have mean 0 and population std 1", () => {
    const out = new Float64Array(4);
    normalizeGroup(new Float32Array([1, 2, 4, 9]), 0, 4, "zscore", out);
    const mean = out.reduce((a, b) => a + b, 0) / 4;
    const varc = out.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    expect(mean).toBeCloseTo(0, 12);
    expect(varc).toBeCloseTo(1, 12);
  });
  it("rejects an out-of-range group", () => {
    expect(() => normalizeGroup(new Float32Array(2), 1, 2, "rank", new Float64Array(2))).toThrow(RangeError);
  });
});

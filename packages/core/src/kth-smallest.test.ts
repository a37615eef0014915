import { describe, expect, it } from "vitest";
import { kthSmallest } from "./kth-smallest.ts";
import { createRng } from "./rng.ts";

describe("kthSmallest", () => {
  it("the hand-computed cases", () => {
    expect(kthSmallest(Float32Array.of(3, -1, 2, 0), 1)).toBe(0);
    expect(kthSmallest(Float64Array.of(0.5, -2, 7), 2)).toBe(7);
    expect(kthSmallest(Float64Array.of(0.5, -2, 7), 0)).toBe(-2);
  });

  it("equals a sorted copy's k-th entry (−0 === +0) on float32 and float64 data: signs, ties, zeros, ±∞, subnormals, one-bucket keys", () => {
    const rng = createRng(11);
    const gen: Record<string, (i: number) => number> = {
      scores: () => rng.normal() ** 2 * Math.exp(3 * rng.normal()),
      signed: () => rng.normal() * 1e3,
      ties: () => Math.floor(rng.next() * 5) - 2,
      zeros: (i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? -0 : rng.normal()),
      extremes: (i) =>
        [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45, -1e-45, 3.4e38, -3.4e38, 5e-324, -5e-324][
          i % 8
        ]! * (i % 5 === 0 ? 1 : 0.5),
      oneBucket: () => 1 + rng.next() * 1e-12, // float64: one high word; float32: a few neighbours
      descending: (i) => -i,
    };
    for (const n of [1, 2, 3, 100, 2049, 30000]) {
      for (const [name, f] of Object.entries(gen)) {
        const v64 = Float64Array.from({ length: n }, (_, i) => f(i));
        const v32 = Float32Array.from(v64);
        const s64 = new Float64Array(v64).sort();
        const s32 = new Float32Array(v32).sort();
        for (const k of new Set([0, 1, n >> 2, n >> 1, n - 2, n - 1].filter((x) => x >= 0 && x < n))) {
          const g64 = kthSmallest(new Float64Array(v64), k);
          const g32 = kthSmallest(new Float32Array(v32), k);
          expect(g64 === s64[k], `f64 ${name} n=${n} k=${k}: ${g64} vs ${s64[k]}`).toBe(true);
          expect(g32 === s32[k], `f32 ${name} n=${n} k=${k}: ${g32} vs ${s32[k]}`).toBe(true);
        }
      }
    }
  });

  it("works on a view inside a larger buffer and refuses k outside the array", () => {
    const big = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    const view = big.subarray(10, 60); // 90 … 41
    expect(kthSmallest(view, 0)).toBe(41);
    expect(big[5]).toBe(95); // outside the view: untouched
    expect(() => kthSmallest(new Float32Array(3), 3)).toThrow(/k=3 is outside \[0, 2\]/);
    expect(() => kthSmallest(new Float64Array(3), 0.5)).toThrow(/outside/);
  });
});

import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { allocateSparsity, owlOutlierRatio } from "./allocate-sparsity.ts";

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : `${(e as Error).name}`;
  }
  return "no error";
};
const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;

describe("owlOutlierRatio", () => {
  it("counts scores above M × the mean over all linears of the block", () => {
    // mean of [1×9, 100] = 10.9; 5 × 10.9 = 54.5 → only 100 is an outlier
    expect(owlOutlierRatio([new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 100])], 5)).toBe(0.1);
    // concatenated, not per linear: [1, 1] and [1, 40]: mean 10.75, 5× = 53.75 → nothing
    expect(owlOutlierRatio([new Float32Array([1, 1]), new Float32Array([1, 40])], 5)).toBe(0);
    expect(owlOutlierRatio([new Float32Array([1, 1]), new Float32Array([1, 40])], 2)).toBe(0.25);
    expect(owlOutlierRatio([], 5)).toBe(0);
  });
  it("rejects a bad M and non-finite scores", () => {
    expect(() => owlOutlierRatio([new Float32Array(1)], 0)).toThrow(RangeError);
    expect(codeOf(() => owlOutlierRatio([new Float32Array([Number.NaN])]))).toMatch(/^SCORER_OUTPUT_INVALID/);
  });
});

describe("allocateSparsity", () => {
  it("is uniform", () => {
    expect(allocateSparsity({ kind: "uniform" }, { layers: 3, sparsity: 0.5 })).toEqual([0.5, 0.5, 0.5]);
  });

  it("follows OWL's formula on a hand-computed case", () => {
    // D = [0, 0.5, 1] → D' = D·2λ = [0, 0.1, 0.2], mean 0.1 → s − (D' − 0.1)
    const s = allocateSparsity(
      { kind: "owl", lambda: 0.1 },
      { layers: 3, sparsity: 0.5, outlierRatios: [0, 0.5, 1] },
    );
    expect(s[0]).toBeCloseTo(0.6, 14);
    expect(s[1]).toBeCloseTo(0.5, 14);
    expect(s[2]).toBeCloseTo(0.4, 14);
    // min-max normalisation makes the scale of D irrelevant (the anchor's ×100)
    const s100 = allocateSparsity(
      { kind: "owl", lambda: 0.1 },
      { layers: 3, sparsity: 0.5, outlierRatios: [0, 50, 100] },
    );
    for (const [i, v] of s100.entries()) expect(v).toBeCloseTo(s[i]!, 14);
  });

  it("keeps the mean at s, spreads exactly 2λ and prunes outlier-rich blocks less", () => {
    const rng = createRng(11);
    const D = Array.from({ length: 12 }, () => rng.next() * 0.05);
    const out = allocateSparsity({ kind: "owl" }, { layers: 12, sparsity: 0.7, outlierRatios: D });
    expect(Math.abs(mean(out) - 0.7)).toBeLessThan(1e-14);
    for (const v of out) expect(Math.abs(v - 0.7)).toBeLessThanOrEqual(2 * 0.08 + 1e-12);
    expect(Math.max(...out) - Math.min(...out)).toBeCloseTo(0.16, 12);
    const order = (a: number[]): number[] => a.map((_, i) => i).sort((x, y) => a[x]! - a[y]!);
    expect(order(out)).toEqual(order(D).reverse());
  });

  it("computes the outlier ratios from per-block Wanda scores", () => {
    const blocks = [
      [new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 100])], // D = 0.1
      [new Float32Array([1, 1, 1, 1])], // D = 0
    ];
    const out = allocateSparsity(
      { kind: "owl", M: 5, lambda: 0.05 },
      { layers: 2, sparsity: 0.5, blockScores: blocks },
    );
    expect(out[0]).toBeCloseTo(0.45, 14);
    expect(out[1]).toBeCloseTo(0.55, 14);
  });

  it("falls back to uniform when every block has the same outlier ratio", () => {
    expect(
      allocateSparsity({ kind: "owl" }, { layers: 2, sparsity: 0.3, outlierRatios: [0.2, 0.2] }),
    ).toEqual([0.3, 0.3]);
  });

  it("validates an explicit list", () => {
    expect(allocateSparsity({ kind: "explicit", perLayer: [0.1, 0.9] }, { layers: 2 })).toEqual([0.1, 0.9]);
    expect(
      codeOf(() => allocateSparsity({ kind: "explicit", perLayer: [0.1] }, { layers: 2 })),
    ).toMatchInlineSnapshot(
      `"SPARSITY_INVALID: allocateSparsity: option perLayer has the wrong length. Expected 2 (one per layer), got 1."`,
    );
    expect(codeOf(() => allocateSparsity({ kind: "explicit", perLayer: [0.1, 1] }, { layers: 2 }))).toMatch(
      /^SPARSITY_INVALID.*perLayer\[1\].*got 1/,
    );
  });

  it("rejects missing or bad inputs with SPARSITY_INVALID", () => {
    expect(codeOf(() => allocateSparsity({ kind: "uniform" }, { layers: 2 }))).toMatch(
      /^SPARSITY_INVALID.*sparsity/,
    );
    expect(codeOf(() => allocateSparsity({ kind: "owl" }, { layers: 2, sparsity: 0.5 }))).toMatch(
      /^SPARSITY_INVALID.*blockScores or outlierRatios/,
    );
    expect(
      codeOf(() => allocateSparsity({ kind: "owl" }, { layers: 2, sparsity: 0.5, outlierRatios: [1] })),
    ).toMatch(/^SPARSITY_INVALID.*Expected 2/);
    expect(
      codeOf(() =>
        allocateSparsity({ kind: "owl", lambda: -1 }, { layers: 1, sparsity: 0.5, outlierRatios: [0] }),
      ),
    ).toMatch(/lambda/);
    expect(
      codeOf(() => allocateSparsity({ kind: "owl" }, { layers: 2, sparsity: 0.95, outlierRatios: [1, 0] })),
    ).toMatch(/^SPARSITY_INVALID: allocateSparsity: OWL gives layer 1 a sparsity outside \[0, 1\)/);
    expect(codeOf(() => allocateSparsity({ kind: "magic" } as never, { layers: 1, sparsity: 0.5 }))).toMatch(
      /kind/,
    );
    expect(codeOf(() => allocateSparsity({ kind: "uniform" }, { layers: -1, sparsity: 0.5 }))).toBe(
      "RangeError",
    );
  });
});

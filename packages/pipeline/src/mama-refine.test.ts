import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { leastSquaresRefit, sparsegpt } from "@mama-prune/redistribute";
import { describe, expect, it } from "vitest";
import { rng } from "../test/fixtures/mask-problems.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { MAMA_PIPELINE_DEFAULTS } from "./mama-method.ts";

/** Σ_rows (w' − w)ᵀ(H + λ·mean(diag H)·I)(w' − w), computed directly. */
function loss(w: Float32Array, wp: Float32Array, gram: Float64Array, n: number, rel: number): number {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += gram[j * n + j]! / n;
  let total = 0;
  for (let r0 = 0; r0 < w.length; r0 += n) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const h = gram[i * n + j]! + (i === j ? rel * mean : 0);
        total += (wp[r0 + i]! - w[r0 + i]!) * h * (wp[r0 + j]! - w[r0 + j]!);
      }
    }
  }
  return total;
}

describe("MAMA's refine option", () => {
  const n = 16;
  const rows = 12;
  const r = rng(21);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const gram = new Float64Array(n * n);
  for (let t = 0; t < 48; t++) {
    const base = r();
    const x = Array.from({ length: n }, (_, j) => r() + base * (j % 2 === 0 ? 0.9 : -0.4));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j]! += x[i]! * x[j]!;
  }
  const input = (sparsity: number | { n: number; m: number }) => ({
    name: "w",
    weight: w,
    sparsity,
    group: "row" as const,
    stats: { cols: n, tokens: 48, weightSum: 48, gram },
    log: SILENT_LOGGER,
  });
  const defaults = MAMA_PIPELINE_DEFAULTS.scorer;

  it("2:4 with refine swap: keeps 2 of every 4, lowers the reconstruction loss, weights = the exact refit of its mask", async () => {
    const plain = await mamaLinearProcedure(mamaSettings({ refine: "none" }, defaults))(
      input({ n: 2, m: 4 }),
    );
    const swap = await mamaLinearProcedure(mamaSettings({ refine: "swap" }, defaults))(input({ n: 2, m: 4 }));
    for (let g = 0; g < rows * n; g += 4)
      expect(swap.mask.subarray(g, g + 4).reduce((a, b) => a + b, 0)).toBe(2);
    const l0 = loss(w.data, plain.weight, gram, n, 0.01);
    const l1 = loss(w.data, swap.weight, gram, n, 0.01);
    expect(l1).toBeLessThan(l0);
    const ref = await leastSquaresRefit(w, gram, swap.mask, { damping: 0.01 });
    expect(Array.from(swap.weight)).toEqual(Array.from(ref.weight));
  });

  it("levels: unstructured untouched by default ('nm'), refined with refineLevels 'all'; width gate skips wide layers", async () => {
    const plain = await mamaLinearProcedure(mamaSettings({ refine: "none" }, defaults))(input(0.5));
    const nmOnly = await mamaLinearProcedure(mamaSettings({ refine: "swap" }, defaults))(input(0.5));
    expect(Array.from(nmOnly.weight)).toEqual(Array.from(plain.weight));
    const all = await mamaLinearProcedure(mamaSettings({ refine: "swap", refineLevels: "all" }, defaults))(
      input(0.5),
    );
    expect(loss(w.data, all.weight, gram, n, 0.01)).toBeLessThanOrEqual(
      loss(w.data, plain.weight, gram, n, 0.01),
    );
    const gated = await mamaLinearProcedure(mamaSettings({ refine: "swap", refineMaxCols: n - 1 }, defaults))(
      input({ n: 2, m: 4 }),
    );
    const plain24 = await mamaLinearProcedure(mamaSettings({ refine: "none" }, defaults))(
      input({ n: 2, m: 4 }),
    );
    expect(Array.from(gated.weight)).toEqual(Array.from(plain24.weight));
  });

  it("multi-start (steps + sparsegpt): no row's loss above either single start, weights = the exact refit of its mask", async () => {
    const a = await mamaLinearProcedure(mamaSettings({ refine: "swap" }, defaults))(input({ n: 2, m: 4 }));
    const sg = await leastSquaresRefit(
      w,
      gram,
      (await sparsegpt(w, gram, { sparsity: { n: 2, m: 4 } })).mask,
      {
        damping: 0.01,
      },
    );
    const ms = await mamaLinearProcedure(
      mamaSettings({ refine: "swap", refineStarts: ["steps", "sparsegpt"] }, defaults),
    )(input({ n: 2, m: 4 }));
    const one = (x: Float32Array, row: number): number =>
      loss(w.data.subarray(row * n, (row + 1) * n), x.subarray(row * n, (row + 1) * n), gram, n, 0.01);
    let better = 0;
    for (let row = 0; row < rows; row++) {
      const l = one(ms.weight, row);
      expect(l).toBeLessThanOrEqual(one(a.weight, row) * (1 + 1e-6));
      expect(l).toBeLessThanOrEqual(one(sg.weight, row) * (1 + 1e-6));
      if (l < one(a.weight, row) * (1 - 1e-6)) better++;
    }
    expect(better).toBeGreaterThan(0);
    const ref = await leastSquaresRefit(w, gram, ms.mask, { damping: 0.01 });
    expect(Array.from(ms.weight)).toEqual(Array.from(ref.weight));
  });

  it("group moves and the search's own damping: masks keep 2 of 4; refineDamping equal to the run's is the default bit for bit", async () => {
    const base = await mamaLinearProcedure(mamaSettings({ refine: "swap" }, defaults))(input({ n: 2, m: 4 }));
    const same = await mamaLinearProcedure(mamaSettings({ refine: "swap", refineDamping: 0.01 }, defaults))(
      input({ n: 2, m: 4 }),
    );
    expect(Array.from(same.weight)).toEqual(Array.from(base.weight));
    const grp = await mamaLinearProcedure(mamaSettings({ refine: "swap", refineMoves: "group" }, defaults))(
      input({ n: 2, m: 4 }),
    );
    for (let g = 0; g < rows * n; g += 4)
      expect(grp.mask.subarray(g, g + 4).reduce((x, y) => x + y, 0)).toBe(2);
    expect(loss(w.data, grp.weight, gram, n, 0.01)).toBeLessThanOrEqual(
      loss(w.data, base.weight, gram, n, 0.01) * 1.05,
    );
    expect(() => mamaSettings({ refineStarts: [] }, defaults)).toThrow(/refineStarts/);
    expect(() => mamaSettings({ refineDamping: -1 }, defaults)).toThrow(/refineDamping/);
    expect(() => mamaSettings({ refineMoves: "pairs" as "swap" }, defaults)).toThrow(/refineMoves/);
  });

  it("rejects an unknown refine value, naming the option", () => {
    expect(() => mamaSettings({ refine: "alps" as "swap" }, defaults)).toThrowErrorMatchingInlineSnapshot(
      `[RangeError: mama: option refine must be "none" or "swap", got alps]`,
    );
  });
});

import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { leastSquaresRefit } from "@mama-prune/redistribute";
import { selectMask, wanda } from "@mama-prune/scoring";
import { describe, expect, it } from "vitest";
import { bestLoss as bestLossNested, rng } from "../test/fixtures/mask-problems.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import { resolveMethod } from "./methods.ts";

/** Gram XᵀX of random correlated inputs X (tokens, n), with its squared column norms. */
function gramOf(n: number, tokens: number, seed: number): { gram: Float64Array; sqNorm: Float64Array } {
  const r = rng(seed);
  const x = Array.from({ length: tokens }, () => {
    const base = r();
    return Array.from({ length: n }, () => r() + 0.7 * base);
  });
  const gram = new Float64Array(n * n);
  for (const row of x)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j]! += row[i]! * row[j]!;
  const sqNorm = new Float64Array(n);
  for (let j = 0; j < n; j++) sqNorm[j] = gram[j * n + j]!;
  return { gram, sqNorm };
}

/** The fixture's brute-force loss min over w' supported on `keep` of (w − w')ᵀH(w − w') on a flat H. */
function bestLoss(w: number[], h: Float64Array, n: number, keep: number[]): number {
  return bestLossNested(
    w,
    Array.from({ length: n }, (_, i) => Array.from(h.subarray(i * n, (i + 1) * n))),
    keep,
  );
}

describe("MAMA's per-linear procedure", () => {
  const n = 8;
  const rows = 5;
  const r = rng(3);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const { gram, sqNorm } = gramOf(n, 40, 7);

  it("one step, activation term only = Wanda's mask + the exact refit, bit for bit", async () => {
    const proc = mamaLinearProcedure(
      mamaSettings({ steps: 1, obsWeight: 0, activationWeight: 1, magnitudeWeight: 0 }, {}),
    );
    const out = await proc({
      name: "w",
      weight: w,
      sparsity: 0.5,
      group: "row",
      stats: { cols: n, tokens: 40, weightSum: 40, gram, sqNorm },
      log: SILENT_LOGGER,
    });
    const scores = await wanda().score({
      name: "w",
      weight: w,
      activationNorms: Float32Array.from(sqNorm, Math.sqrt),
      log: SILENT_LOGGER,
    });
    const mask = selectMask(scores as Float32Array, rows, n, { sparsity: 0.5, group: "row" });
    const ref = await leastSquaresRefit(w, gram, mask, { damping: 0.01 });
    expect(Array.from(out.mask)).toEqual(Array.from(mask));
    expect(Array.from(out.weight)).toEqual(Array.from(ref.weight));
  });

  it("one weight per step with the OBS term = greedy backward elimination by the exact loss", async () => {
    const pruned = 4;
    const proc = mamaLinearProcedure(
      mamaSettings({ steps: pruned, obsWeight: 1, activationWeight: 0, schedule: "linear" }, {}),
      (W, H, m, o) => leastSquaresRefit(W, H, m, { ...o, damping: 0 }),
    );
    const out = await proc({
      name: "w",
      weight: w,
      sparsity: 0.5,
      group: "row",
      stats: { cols: n, tokens: 40, weightSum: 40, gram, sqNorm },
      damping: 1e-9,
      log: SILENT_LOGGER,
    });
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, i * n + n));
      let keep = row.map((_, j) => j);
      for (let t = 0; t < pruned; t++) {
        const losses = keep.map((j) =>
          bestLoss(
            row,
            gram,
            n,
            keep.filter((q) => q !== j),
          ),
        );
        const best = losses.indexOf(Math.min(...losses));
        keep = keep.filter((_, q) => q !== best);
      }
      const expected = row.map((_, j) => (keep.includes(j) ? 1 : 0));
      expect(Array.from(out.mask.subarray(i * n, i * n + n))).toEqual(expected);
    }
  });

  it("N:M ends with exactly N zeros per run of M; row sparsity floor(s·cols) per row; refit optimal on K", async () => {
    const st = { cols: n, tokens: 40, weightSum: 40, gram, sqNorm };
    const proc = mamaLinearProcedure(mamaSettings(undefined, createMamaMethod().defaultOptions!));
    const nm = await proc({
      name: "w",
      weight: w,
      sparsity: { n: 2, m: 4 },
      group: "n:m",
      stats: st,
      log: SILENT_LOGGER,
    });
    for (let g = 0; g < rows * n; g += 4)
      expect(nm.mask.subarray(g, g + 4).reduce((a, b) => a + b, 0)).toBe(2);
    const un = await proc({
      name: "w",
      weight: w,
      sparsity: 0.7,
      group: "row",
      stats: st,
      damping: 0,
      log: SILENT_LOGGER,
    });
    for (let i = 0; i < rows; i++) {
      const m = un.mask.subarray(i * n, i * n + n);
      expect(n - m.reduce((a, b) => a + b, 0)).toBe(Math.floor(0.7 * n));
      // Gradient of (w − w')ᵀH(w − w') on the kept entries is zero at the refit (damping 0).
      for (let j = 0; j < n; j++) {
        if (m[j] === 0) {
          expect(un.weight[i * n + j]).toBe(0);
          continue;
        }
        let g = 0;
        for (let q = 0; q < n; q++) g += gram[j * n + q]! * (un.weight[i * n + q]! - w.data[i * n + q]!);
        expect(Math.abs(g)).toBeLessThan(1e-3);
      }
    }
  });

  it("rejects bad options and missing inputs, naming them", async () => {
    expect(() => mamaSettings({ steps: 0 }, {})).toThrow(/steps/);
    expect(() => mamaSettings({ obsWeight: -1 }, {})).toThrow(/obsWeight/);
    expect(() => mamaSettings({ activationWeight: 0, obsWeight: 0, magnitudeWeight: 0 }, {})).toThrow(
      /every term/,
    );
    const proc = mamaLinearProcedure(mamaSettings({ useMovement: true, movementWeight: 1 }, {}));
    await expect(
      proc({
        name: "w",
        weight: w,
        sparsity: 0.5,
        group: "row",
        stats: { cols: n, tokens: 40, weightSum: 40, gram, sqNorm },
        log: SILENT_LOGGER,
      }),
    ).rejects.toThrow(/preWeight/);
    // The solver is pluggable: a custom one is called once per step.
    let calls = 0;
    const custom = createMamaMethod({
      refit: async (W, H, m, o) => {
        calls++;
        return leastSquaresRefit(W, H, m, o);
      },
    });
    const res = resolveMethod(custom, { methodOptions: { steps: 3 } });
    await res.linear!({
      name: "w",
      weight: w,
      sparsity: 0.5,
      group: "row",
      stats: { cols: n, tokens: 40, weightSum: 40, gram, sqNorm },
      log: SILENT_LOGGER,
    });
    expect(calls).toBe(3);
  });
});

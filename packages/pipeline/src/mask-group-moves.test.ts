import { matrix, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { all24, bestLoss, damped, gramOf, keptOf, rng } from "../test/fixtures/mask-problems.ts";
import { swapRefineMask } from "./mask-swap.ts";

/** Every mask of one run of m columns keeping n_keep of them. */
function runMasks(m: number, keep: number): number[][] {
  const out: number[][] = [];
  for (let bits = 0; bits < 1 << m; bits++) {
    const v = Array.from({ length: m }, (_, j) => (bits >> j) & 1);
    if (v.reduce((a, b) => a + b, 0) === keep) out.push(v);
  }
  return out;
}

/** Exhaustive check: no other mask of any run (rest of the row fixed) lowers the exact loss. */
function expectGroupOptimal(
  row: number[],
  h: number[][],
  m: ArrayLike<number>,
  mm: number,
  keep: number,
): number {
  const l1 = bestLoss(row, h, keptOf(m));
  for (let g = 0; g < row.length; g += mm) {
    for (const alt of runMasks(mm, keep)) {
      const t = Array.from(m);
      for (let j = 0; j < mm; j++) t[g + j] = alt[j]!;
      expect(bestLoss(row, h, keptOf(t))).toBeGreaterThanOrEqual(l1 * (1 - 1e-9));
    }
  }
  return l1;
}

describe("swapRefineMask, moves: group", () => {
  const n = 12;
  const rows = 8;
  const r = rng(23);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const gram = gramOf(n, 30, 7);
  const h = damped(gram, n, 0.01);
  const masks = all24(n); // 216 masks per row

  it("2:4: ends where no other mask of any run (all 6, the 2-out/2-in complement included) lowers the exact loss; reports the losses exactly", () => {
    const start = new Uint8Array(rows * n);
    for (let i = 0; i < rows; i++) start.set(masks[(i * 53) % masks.length]!, i * n);
    const out = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, moves: "group" });
    let before = 0;
    let after = 0;
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const m = out.mask.subarray(i * n, (i + 1) * n);
      for (let g = 0; g < n; g += 4) expect(m.subarray(g, g + 4).reduce((a, b) => a + b, 0)).toBe(2);
      const l0 = bestLoss(row, h, keptOf(start.subarray(i * n, (i + 1) * n)));
      const l1 = expectGroupOptimal(row, h, m, 4, 2);
      expect(l1).toBeLessThanOrEqual(l0 * (1 + 1e-9));
      before += l0;
      after += l1;
    }
    expect(out.swaps).toBeGreaterThan(0);
    expect(out.lossBefore).toBeCloseTo(before, 8);
    expect(out.lossAfter).toBeCloseTo(after, 8);
  });

  it("2:4: from each row's worst mask, group moves land within 3 % of the exhaustive optimum (a local search), no worse than one-swaps", () => {
    const start = new Uint8Array(rows * n);
    const optimum: number[] = [];
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const losses = masks.map((m) => bestLoss(row, h, keptOf(m)));
      start.set(masks[losses.indexOf(Math.max(...losses))]!, i * n);
      optimum.push(Math.min(...losses));
    }
    const out = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, moves: "group" });
    let got = 0;
    for (let i = 0; i < rows; i++) {
      got += bestLoss(
        Array.from(w.data.subarray(i * n, (i + 1) * n)),
        h,
        keptOf(out.mask.subarray(i * n, (i + 1) * n)),
      );
    }
    const best = optimum.reduce((a, b) => a + b, 0);
    expect(got).toBeGreaterThanOrEqual(best * (1 - 1e-9));
    expect(got).toBeLessThanOrEqual(best * 1.03);
    const swap = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 } });
    expect(out.lossAfter).toBeLessThanOrEqual(swap.lossAfter * (1 + 1e-9));
  });

  it("4:8: every one of the 70 masks of each run is checked; 2-column moves only (maxMoveSize 2) is no better", () => {
    const n8 = 16;
    const r8 = rng(5);
    const w8 = matrix(
      4,
      n8,
      Float32Array.from({ length: 4 * n8 }, () => r8()),
    );
    const g8 = gramOf(n8, 40, 9);
    const h8 = damped(g8, n8, 0.01);
    const start = new Uint8Array(4 * n8);
    for (let k = 0; k < start.length; k++) start[k] = k % 8 < 4 ? 1 : 0;
    const full = swapRefineMask(w8, g8, start, { nm: { n: 4, m: 8 }, moves: "group" });
    const capped = swapRefineMask(w8, g8, start, { nm: { n: 4, m: 8 }, moves: "group", maxMoveSize: 2 });
    let lf = 0;
    let lc = 0;
    for (let i = 0; i < 4; i++) {
      const row = Array.from(w8.data.subarray(i * n8, (i + 1) * n8));
      lf += expectGroupOptimal(row, h8, full.mask.subarray(i * n8, (i + 1) * n8), 8, 4);
      lc += bestLoss(row, h8, keptOf(capped.mask.subarray(i * n8, (i + 1) * n8)));
    }
    expect(lf).toBeLessThan(full.lossBefore);
    expect(full.lossAfter).toBeCloseTo(lf, 8);
    expect(capped.lossAfter).toBeCloseTo(lc, 8);
  });

  it("2:4 iterated local search (kicks): never above the plain descent per row, and closer to the exhaustive optimum", () => {
    const start = new Uint8Array(rows * n);
    const optimum: number[] = [];
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const losses = masks.map((m) => bestLoss(row, h, keptOf(m)));
      start.set(masks[losses.indexOf(Math.max(...losses))]!, i * n);
      optimum.push(Math.min(...losses));
    }
    const plain = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 } });
    const ils = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, kicks: 30 });
    const again = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, kicks: 30 });
    expect(Array.from(again.mask)).toEqual(Array.from(ils.mask)); // deterministic
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const l = bestLoss(row, h, keptOf(ils.mask.subarray(i * n, (i + 1) * n)));
      expect(l).toBeCloseTo(ils.rowLoss[i]!, 8);
      expect(l).toBeLessThanOrEqual(plain.rowLoss[i]! * (1 + 1e-9));
      expect(l).toBeGreaterThanOrEqual(optimum[i]! * (1 - 1e-9));
    }
    const best = optimum.reduce((a, b) => a + b, 0);
    expect(ils.lossAfter).toBeLessThan(plain.lossAfter);
    expect(ils.lossAfter).toBeLessThanOrEqual(best * 1.002);
  });

  it("maxMoveSize 1 is the one-swap search (same masks as moves: swap)", () => {
    const start = new Uint8Array(rows * n);
    for (let i = 0; i < rows; i++) start.set(masks[(i * 31 + 7) % masks.length]!, i * n);
    const a = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 } });
    const b = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, moves: "group", maxMoveSize: 1 });
    expect(Array.from(b.mask)).toEqual(Array.from(a.mask));
    expect(b.lossAfter).toBeCloseTo(a.lossAfter, 10);
    expect(a.swaps).toBeGreaterThan(0);
  });

  it("rejects an unknown move set and a maxMoveSize below 1, naming the option", () => {
    const start = new Uint8Array(rows * n).fill(1);
    expect(() => swapRefineMask(w, gram, start, { moves: "pairs" as "swap" })).toThrow(/option moves/);
    expect(() => swapRefineMask(w, gram, start, { maxMoveSize: 0 })).toThrow(PruneError);
  });
});

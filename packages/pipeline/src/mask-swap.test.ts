import { matrix, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { all24, bestLoss, damped, gramOf, keptOf, rng } from "../test/fixtures/mask-problems.ts";
import { swapRefineMask } from "./mask-swap.ts";

describe("swapRefineMask", () => {
  const n = 12;
  const rows = 6;
  const r = rng(11);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const gram = gramOf(n, 30, 5);
  const h = damped(gram, n, 0.01);

  it("2:4: ends at a swap-local optimum of the exact loss, never above the input mask's loss, reports both losses exactly", () => {
    const masks = all24(n);
    const start = new Uint8Array(rows * n);
    for (let i = 0; i < rows; i++) start.set(masks[(i * 97) % masks.length]!, i * n);
    const out = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 }, damping: 0.01 });
    let before = 0;
    let after = 0;
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const m = out.mask.subarray(i * n, (i + 1) * n);
      for (let g = 0; g < n; g += 4) expect(m.subarray(g, g + 4).reduce((a, b) => a + b, 0)).toBe(2);
      const l0 = bestLoss(row, h, keptOf(start.subarray(i * n, (i + 1) * n)));
      const l1 = bestLoss(row, h, keptOf(m));
      expect(l1).toBeLessThanOrEqual(l0 * (1 + 1e-9));
      before += l0;
      after += l1;
      // No single swap inside a run of 4 lowers the loss (brute force over all of them).
      for (let g = 0; g < n; g += 4) {
        for (let a = g; a < g + 4; a++) {
          for (let b = g; b < g + 4; b++) {
            if (m[a] !== 1 || m[b] !== 0) continue;
            const t = Array.from(m);
            t[a] = 0;
            t[b] = 1;
            expect(bestLoss(row, h, keptOf(t))).toBeGreaterThanOrEqual(l1 * (1 - 1e-9));
          }
        }
      }
    }
    expect(out.swaps).toBeGreaterThan(0);
    expect(after).toBeLessThan(before);
    expect(out.lossBefore).toBeCloseTo(before, 8);
    expect(out.lossAfter).toBeCloseTo(after, 8);
  });

  it("2:4: from the worst mask of each row it lands within 2 % of the exhaustive optimum", () => {
    const masks = all24(n); // 216 masks per row
    const start = new Uint8Array(rows * n);
    const optimum: number[] = [];
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const losses = masks.map((m) => bestLoss(row, h, keptOf(m)));
      start.set(masks[losses.indexOf(Math.max(...losses))]!, i * n);
      optimum.push(Math.min(...losses));
    }
    const out = swapRefineMask(w, gram, start, { nm: { n: 2, m: 4 } });
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
    expect(got).toBeLessThanOrEqual(best * 1.02);
  });

  it("unstructured: keeps each row's count and no kept/pruned swap of the row lowers the loss", () => {
    const start = new Uint8Array(rows * n);
    for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) start[i * n + j] = (i + j) % 3 === 0 ? 0 : 1;
    const out = swapRefineMask(w, gram, start, { damping: 0.01 });
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const m = out.mask.subarray(i * n, (i + 1) * n);
      expect(keptOf(m).length).toBe(keptOf(start.subarray(i * n, (i + 1) * n)).length);
      const l1 = bestLoss(row, h, keptOf(m));
      for (let a = 0; a < n; a++) {
        for (let b = 0; b < n; b++) {
          if (m[a] !== 1 || m[b] !== 0) continue;
          const t = Array.from(m);
          t[a] = 0;
          t[b] = 1;
          expect(bestLoss(row, h, keptOf(t))).toBeGreaterThanOrEqual(l1 * (1 - 1e-9));
        }
      }
    }
    expect(out.lossAfter).toBeLessThan(out.lossBefore);
  });

  it("leaves the input mask untouched and rejects a mask of the wrong length", () => {
    const start = new Uint8Array(rows * n).fill(1);
    for (let k = 0; k < start.length; k += 2) start[k] = 0;
    const copy = new Uint8Array(start);
    swapRefineMask(w, gram, start, { maxSwapsPerRow: 1 });
    expect(Array.from(start)).toEqual(Array.from(copy));
    expect(() => swapRefineMask(w, gram, new Uint8Array(3))).toThrow(PruneError);
  });
});

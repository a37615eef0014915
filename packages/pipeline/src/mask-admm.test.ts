import { matrix, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { all24, bestLoss, damped, gramOf, keptOf, rng } from "../test/fixtures/mask-problems.ts";
import { admmMask } from "./mask-admm.ts";

describe("admmMask (ALPS-style ADMM)", () => {
  const n = 12;
  const rows = 8;
  const r = rng(41);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const gram = gramOf(n, 30, 13);
  const h = damped(gram, n, 0.01);

  it("2:4: keeps 2 of every 4, and its exact loss beats the magnitude mask's and lands within 10 % of the exhaustive optimum", () => {
    const mask = admmMask(w, gram, { n: 2, m: 4 });
    const masks = all24(n);
    let got = 0;
    let mag = 0;
    let best = 0;
    for (let i = 0; i < rows; i++) {
      const row = Array.from(w.data.subarray(i * n, (i + 1) * n));
      const m = mask.subarray(i * n, (i + 1) * n);
      for (let g = 0; g < n; g += 4) expect(m.subarray(g, g + 4).reduce((a, b) => a + b, 0)).toBe(2);
      got += bestLoss(row, h, keptOf(m));
      const mm: number[] = [];
      for (let g = 0; g < n; g += 4) {
        const o = [0, 1, 2, 3].sort((a, b) => Math.abs(row[g + b]!) - Math.abs(row[g + a]!) || a - b);
        for (let j = 0; j < 4; j++) mm.push(o.indexOf(j) < 2 ? 1 : 0);
      }
      mag += bestLoss(row, h, keptOf(mm));
      best += Math.min(...masks.map((x) => bestLoss(row, h, keptOf(x))));
    }
    expect(got).toBeGreaterThanOrEqual(best * (1 - 1e-9));
    expect(got).toBeLessThan(mag);
    expect(got).toBeLessThanOrEqual(best * 1.1);
  });

  it("unstructured 50 %: the same count per row; rejects a wrong-size gram naming it", () => {
    const mask = admmMask(w, gram, 0.5);
    for (let i = 0; i < rows; i++) expect(keptOf(mask.subarray(i * n, (i + 1) * n)).length).toBe(6);
    expect(() => admmMask(w, new Float64Array(3), 0.5)).toThrow(PruneError);
    expect(() => admmMask(w, new Float64Array(3), 0.5)).toThrow(/gram/);
  });
});

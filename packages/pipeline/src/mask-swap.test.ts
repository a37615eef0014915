import { matrix, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { swapRefineMask } from "./mask-swap.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Gram XᵀX of random correlated inputs X (tokens, n). */
function gramOf(n: number, tokens: number, seed: number): Float64Array {
  const r = rng(seed);
  const gram = new Float64Array(n * n);
  for (let t = 0; t < tokens; t++) {
    const base = r();
    const x = Array.from({ length: n }, (_, j) => r() + 0.8 * base * (j % 3 === 0 ? 1 : -0.5));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j]! += x[i]! * x[j]!;
  }
  return gram;
}

/** H + λ·mean(diag H)·I, the loss's matrix (independent of the code under test). */
function damped(gram: Float64Array, n: number, rel: number): number[][] {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += gram[j * n + j]! / n;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => gram[i * n + j]! + (i === j ? rel * mean : 0)),
  );
}

/** min over w' supported on `keep` of (w' − w)ᵀH(w' − w), by Gaussian elimination. */
function bestLoss(w: number[], h: number[][], keep: number[]): number {
  const n = w.length;
  const k = keep.length;
  const drop = w.map((_, j) => j).filter((j) => !keep.includes(j));
  const a = keep.map((i) => [...keep.map((j) => h[i]![j]!), drop.reduce((s, p) => s + h[i]![p]! * w[p]!, 0)]);
  for (let c = 0; c < k; c++) {
    for (let r2 = c + 1; r2 < k; r2++) {
      const f = a[r2]![c]! / a[c]![c]!;
      for (let q = c; q <= k; q++) a[r2]![q]! -= f * a[c]![q]!;
    }
  }
  const d = new Array<number>(k).fill(0);
  for (let c = k - 1; c >= 0; c--) {
    let s = a[c]![k]!;
    for (let q = c + 1; q < k; q++) s -= a[c]![q]! * d[q]!;
    d[c] = s / a[c]![c]!;
  }
  const diff = new Array<number>(n).fill(0); // w − w'
  keep.forEach((j, i) => {
    diff[j] = -d[i]!;
  });
  for (const p of drop) diff[p] = w[p]!;
  let loss = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) loss += diff[i]! * h[i]![j]! * diff[j]!;
  return loss;
}

const keptOf = (m: ArrayLike<number>): number[] => Array.from(m).flatMap((v, j) => (v === 1 ? [j] : []));

/** Every 2:4 mask of a row of n columns (6^(n/4) of them). */
function all24(n: number): number[][] {
  const pairs = [
    [1, 1, 0, 0],
    [1, 0, 1, 0],
    [1, 0, 0, 1],
    [0, 1, 1, 0],
    [0, 1, 0, 1],
    [0, 0, 1, 1],
  ];
  let out: number[][] = [[]];
  for (let g = 0; g < n / 4; g++) out = out.flatMap((m) => pairs.map((p) => [...m, ...p]));
  return out;
}

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

import { matrix, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { admmMask } from "./mask-admm.ts";

// Helpers as in mask-swap.test.ts: an independent Gaussian-elimination loss and exhaustive masks.
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

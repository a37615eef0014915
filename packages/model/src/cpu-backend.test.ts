import { randomNormal } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { createCpuBackend } from "./cpu-backend.ts";

// Naive references: textbook loops, float64 accumulation.
function naiveMatmulTransB(x: Float32Array, w: Float32Array, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n); // (m, n)
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[i * k + p]! * w[j * k + p]!;
      y[i * n + j] = s;
    }
  return y;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

describe("createCpuBackend", () => {
  const be = createCpuBackend();
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 4, 4],
    [5, 257, 66], // crosses the K block (256) and N block (64) boundaries
    [9, 300, 131],
    [13, 17, 3],
    [2, 513, 5],
  ];

  it("matches a naive triple loop on ragged shapes", async () => {
    let seed = 1;
    for (const [m, k, n] of shapes) {
      const x = randomNormal(m * k, seed++); // (m, k)
      const w = randomNormal(n * k, seed++); // (n, k)
      const y = await be.matmulTransB(x, w, m, k, n);
      expect(y.length).toBe(m * n);
      expect(maxRelErr(y, naiveMatmulTransB(x, w, m, k, n))).toBeLessThan(1e-6);
    }
  });

  it("adds the bias and writes into the given output buffer", async () => {
    const [m, k, n] = [6, 10, 7];
    const x = randomNormal(m * k, 11); // (m, k)
    const w = randomNormal(n * k, 12); // (n, k)
    const bias = randomNormal(n, 13); // (n,)
    const out = new Float32Array(m * n).fill(123); // stale content must be overwritten
    const y = await be.matmulTransB(x, w, m, k, n, { bias, out });
    expect(y).toBe(out);
    const ref = naiveMatmulTransB(x, w, m, k, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) ref[i * n + j] = ref[i * n + j]! + bias[j]!;
    expect(maxRelErr(y, ref)).toBeLessThan(1e-6);
  });

  it("computes a hand-checked 2×2 product", async () => {
    // x = [[1,2],[3,4]], w = [[5,6],[7,8]] → x·wᵀ = [[17,23],[39,53]]
    const y = await be.matmulTransB(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 2, 2, 2);
    expect(Array.from(y)).toEqual([17, 23, 39, 53]);
  });

  it("handles k = 0 and m = 0", async () => {
    expect(Array.from(await be.matmulTransB(new Float32Array(0), new Float32Array(0), 2, 0, 2))).toEqual([
      0, 0, 0, 0,
    ]);
    expect((await be.matmulTransB(new Float32Array(0), new Float32Array(6), 0, 3, 2)).length).toBe(0);
  });

  it("rejects operands whose length does not match the shape", async () => {
    await expect(be.matmulTransB(new Float32Array(5), new Float32Array(6), 2, 3, 2)).rejects.toThrow(
      RangeError,
    );
    await expect(be.gramAccumulate(new Float32Array(6), 2, 3, new Float64Array(8))).rejects.toThrow(/acc/);
    await expect(be.colSqNormAccumulate(new Float32Array(6), 2, 4, new Float64Array(4))).rejects.toThrow(
      /x has/,
    );
  });

  it("accumulates xᵀx in float64 on top of the existing contents", async () => {
    for (const [m, k] of [
      [1, 1],
      [7, 5],
      [9, 13],
      [4, 3],
      [16, 5], // from 16 rows on: upper triangle + mirror
      [21, 13],
      [66, 37],
    ] as const) {
      const x = randomNormal(m * k, 100 + m * k); // (m, k)
      const acc64 = Float64Array.from(randomNormal(k * k, 7)); // (k, k), non-symmetric start
      const ref = Float64Array.from(acc64);
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += x[i * k + a]! * x[i * k + b]!;
          ref[a * k + b] = ref[a * k + b]! + s;
        }
      await be.gramAccumulate(x, m, k, acc64);
      for (let i = 0; i < k * k; i++) expect(acc64[i]).toBeCloseTo(ref[i]!, 11);
    }
  });

  it("keeps a symmetric accumulator exactly symmetric", async () => {
    const [m, k] = [40, 19];
    const acc = new Float64Array(k * k);
    await be.gramAccumulate(randomNormal(m * k, 5), m, k, acc);
    await be.gramAccumulate(randomNormal(m * k, 6), m, k, acc);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) expect(acc[a * k + b]).toBe(acc[b * k + a]);
  });

  it("accumulates squared column norms", async () => {
    // x = [[1,-2],[3,4],[0,0.5]] → [1+9+0, 4+16+0.25] = [10, 20.25], plus the initial [1, 2]
    const acc = new Float64Array([1, 2]);
    await be.colSqNormAccumulate(new Float32Array([1, -2, 3, 4, 0, 0.5]), 3, 2, acc);
    expect(Array.from(acc)).toEqual([11, 22.25]);
  });
});

import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { colSqNormRef, denseMatmulRef, gramRef, sparseMatmulRef } from "./reference.ts";
import { sparseFromDense } from "./sparse-weight.ts";

describe("denseMatmulRef", () => {
  it("computes a hand-checked 2×3 · (2×3)ᵀ with bias", () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]); // (2, 3)
    const w = new Float32Array([1, 0, -1, 2, 1, 0]); // (2, 3)
    expect(Array.from(denseMatmulRef(x, w, 2, 3, 2, new Float32Array([10, 20])))).toEqual([8, 24, 8, 33]);
  });
});

describe("sparseMatmulRef", () => {
  it("equals the dense reference on the densified weight for every format", () => {
    const rng = createRng(1);
    const m = 3;
    const k = 12;
    const n = 5;
    const x = Float32Array.from({ length: m * k }, () => rng.normal());
    const w = new Float32Array(n * k); // (n, k), 2:4 so every format applies
    for (let i = 0; i < w.length; i += 4) w[i + 1 + rng.int(3)] = rng.normal();
    const ref = denseMatmulRef(x, w, m, k, n);
    for (const f of ["csr", "sparse-bitmask", "sparse-24-bitmask"] as const) {
      const y = sparseMatmulRef(x, sparseFromDense(w, n, k, f), m);
      for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(ref[i]!, 5);
    }
  });
});

describe("gramRef and colSqNormRef", () => {
  it("accumulate hand-checked values", () => {
    const x = new Float32Array([1, 2, 3, 4]); // (2, 2)
    const g = new Float64Array(4).fill(1);
    gramRef(x, 2, 2, g);
    expect(Array.from(g)).toEqual([11, 15, 15, 21]);
    const s = new Float64Array(2);
    colSqNormRef(x, 2, 2, s);
    expect(Array.from(s)).toEqual([10, 20]);
    expect(() => gramRef(x, 2, 2, new Float64Array(3))).toThrow(RangeError);
  });
});

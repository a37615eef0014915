import { createRng, isPruneError } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { columnMeans, columnNorms, createStatsAccumulator } from "./stats.ts";

describe("createStatsAccumulator", () => {
  it("accumulates weighted Σx², Σx and XᵀX over batches like a brute-force sum", async () => {
    const rng = createRng(3);
    const rows = 7;
    const cols = 5;
    const x = Float32Array.from({ length: rows * cols }, () => rng.normal()); // (rows, cols)
    const w = Float32Array.from({ length: rows }, () => rng.next() * 2); // (rows,)
    const acc = createStatsAccumulator(
      cols,
      { sqNorm: true, weightedSqNorm: true, sum: true, gram: true },
      createCpuBackend(),
    );
    await acc.add(x.subarray(0, 3 * cols), 3, w.subarray(0, 3));
    await acc.add(x.subarray(3 * cols), 4, w.subarray(3));
    const r = acc.result();
    expect(r.tokens).toBe(7);
    expect(r.weightSum).toBeCloseTo(
      w.reduce((a, b) => a + b, 0),
      5,
    );
    for (let j = 0; j < cols; j++) {
      let sq = 0;
      let wsq = 0;
      let s = 0;
      for (let t = 0; t < rows; t++) {
        const v = x[t * cols + j]!;
        sq += v * v;
        wsq += w[t]! * v * v;
        s += w[t]! * v;
      }
      expect(r.sqNorm![j]).toBeCloseTo(sq, 5);
      expect(r.weightedSqNorm![j]).toBeCloseTo(wsq, 5);
      expect(r.sum![j]).toBeCloseTo(s, 5);
      for (let k = 0; k < cols; k++) {
        let g = 0;
        for (let t = 0; t < rows; t++) g += w[t]! * x[t * cols + j]! * x[t * cols + k]!;
        expect(r.gram![j * cols + k]).toBeCloseTo(g, 5);
      }
    }
    expect(columnNorms(new Float64Array([9, 16]))).toEqual(new Float32Array([3, 4]));
    expect(columnMeans(new Float64Array([2, 4]), 2)).toEqual(new Float32Array([1, 2]));
  });

  it("collects only what is asked and rejects negative sample weights", async () => {
    const acc = createStatsAccumulator(2, { sqNorm: true }, createCpuBackend());
    await acc.add(new Float32Array([1, 2, 3, 4]), 2);
    const r = acc.result();
    expect(r.gram).toBeUndefined();
    expect(r.sum).toBeUndefined();
    expect(Array.from(r.sqNorm!)).toEqual([10, 20]);
    let err: unknown;
    try {
      await acc.add(new Float32Array([1, 2]), 1, new Float32Array([-1]));
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "CALIBRATION_INVALID")).toBe(true);
  });
});

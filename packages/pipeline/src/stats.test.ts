import { type ComputeBackend, createRng, type GramOptions, isPruneError } from "@mama-prune/core";
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

  it("asks a gramUpperOnly backend for the upper triangle only and mirrors it at result() (= the full Gram bit for bit)", async () => {
    const rng = createRng(4);
    const [rows, cols] = [9, 6];
    const x = Float32Array.from({ length: rows * cols }, () => rng.normal()); // (rows, cols)
    const cpu = createCpuBackend();
    const seen: (GramOptions | undefined)[] = [];
    // The CPU backend's Gram with the lower triangle of every increment dropped, as onnxruntime's is.
    const upperOnlyBackend: ComputeBackend = {
      ...cpu,
      gramUpperOnly: true,
      async gramAccumulate(xb, m, k, acc, options) {
        seen.push(options);
        const next = acc.slice();
        await cpu.gramAccumulate(xb, m, k, next);
        for (let a = 0; a < k; a++) for (let c = a; c < k; c++) acc[a * k + c] = next[a * k + c]!;
      },
    };
    const full = createStatsAccumulator(cols, { gram: true }, cpu);
    const upper = createStatsAccumulator(cols, { gram: true }, upperOnlyBackend);
    for (const [r0, r1] of [
      [0, 4],
      [4, 9],
    ] as const) {
      await full.add(x.subarray(r0 * cols, r1 * cols), r1 - r0);
      await upper.add(x.subarray(r0 * cols, r1 * cols), r1 - r0);
    }
    expect(seen).toEqual([{ upperOnly: true }, { upperOnly: true }]);
    const g = upper.result().gram!;
    expect(g[cols]).not.toBe(0); // the mirrored lower triangle is filled
    expect(g).toEqual(full.result().gram);
    expect(upper.result().gram).toEqual(full.result().gram); // a second result() changes nothing
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

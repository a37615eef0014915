import { createWasmBackend } from "@mama-prune/compute-wasm";
import { type ComputeBackend, createRng, matrix, SILENT_LOGGER } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { leastSquaresRefit, reconstructionError } from "@mama-prune/redistribute";
import { describe, expect, it } from "vitest";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import { REFIT_MIN_BLOCK_ROWS, refitKept } from "./refit-kept.ts";

// A small layer with correlated inputs (a few strong shared directions + noise, like activations).
function layer(rows: number, cols: number, seed: number) {
  const rng = createRng(seed);
  const tokens = 4 * cols;
  const basis = Array.from({ length: 3 }, () => Float64Array.from({ length: cols }, () => rng.normal()));
  const x = new Float64Array(tokens * cols); // (tokens, cols)
  for (let t = 0; t < tokens; t++) {
    const c = [rng.normal() * 3, rng.normal() * 2, rng.normal()];
    for (let j = 0; j < cols; j++)
      x[t * cols + j] =
        c[0]! * basis[0]![j]! + c[1]! * basis[1]![j]! + c[2]! * basis[2]![j]! + 0.3 * rng.normal();
  }
  const h = new Float64Array(cols * cols); // (cols, cols) = XᵀX
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < cols; i++) {
      const xi = x[t * cols + i]!;
      for (let j = 0; j < cols; j++) h[i * cols + j]! += xi * x[t * cols + j]!;
    }
  const w = matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.1),
  );
  const mask = new Uint8Array(rows * cols); // keep the larger half of each row by |w|
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => j).sort(
      (a, b) => Math.abs(w.data[r * cols + b]!) - Math.abs(w.data[r * cols + a]!),
    );
    for (const j of row.slice(0, cols / 2)) mask[r * cols + j] = 1;
  }
  return { w, h, mask };
}

describe("refitKept", () => {
  it("runs the direct solve on small layers and says so", async () => {
    const { w, h, mask } = layer(8, 24, 1);
    const r = await refitKept(w, h, mask, { name: "small", backend: createCpuBackend() });
    expect(r.solver).toBe("direct");
    expect(r.reason).toMatch(/^direct solve/);
    const d = await leastSquaresRefit(w, h, mask, { name: "small" });
    expect(Array.from(r.weight)).toEqual(Array.from(d.weight)); // the same function, bit for bit
  });

  it("runs batched PCG on the backend above the direct budget, to the direct solve's error within 1e-6", async () => {
    const { w, h, mask } = layer(12, 32, 2);
    const r = await refitKept(w, h, mask, {
      name: "wide",
      backend: createCpuBackend(),
      maxDirectMultiplyAdds: 0, // every layer is "too wide" for the direct solve
      log: SILENT_LOGGER,
    });
    expect(r.solver).toBe("pcg");
    expect(r.reason).toMatch(/^PCG on the backend/);
    const d = await leastSquaresRefit(w, h, mask, { name: "wide" });
    const eP = reconstructionError(w, r.weight, h);
    const eD = reconstructionError(w, d.weight, h);
    expect(Math.abs(eP - eD) / eD).toBeLessThan(1e-6);
    for (let k = 0; k < mask.length; k++) if (mask[k] === 0) expect(r.weight[k]).toBe(0);
  });

  it("with an iteration budget runs PCG where the budgeted PCG costs less than the direct solve", async () => {
    const backend = createCpuBackend();
    // 8 × 48, half of each row pruned: direct ≈ 48³/6 + 8·24³/6 ≈ 3.7·10⁴ < PCG(3) ≈ (5·8 + 48)·48² ≈ 2.0·10⁵
    const small = layer(8, 48, 5);
    const s3 = await refitKept(small.w, small.h, small.mask, { name: "s", backend, maxIterations: 3 });
    expect(s3.solver).toBe("direct");
    const d = await leastSquaresRefit(small.w, small.h, small.mask, { name: "s" });
    expect(Array.from(s3.weight)).toEqual(Array.from(d.weight));
    // 8 × 256: direct ≈ 256³/6 + 8·128³/6 + 8·128² ≈ 5.7·10⁶ > PCG(1) ≈ (3·8 + 48)·256² ≈ 4.7·10⁶
    const { w, h, mask } = layer(8, 256, 6);
    expect((await refitKept(w, h, mask, { name: "b", backend })).solver).toBe("direct"); // no budget
    expect((await refitKept(w, h, mask, { name: "b", maxIterations: 1 })).solver).toBe("direct"); // no backend
    const r = await refitKept(w, h, mask, { name: "b", backend, maxIterations: 1 });
    expect(r.solver).toBe("pcg");
    expect(r.reason).toMatch(
      /budget of 1 iterations: ≈ 4\.72e\+6 multiply-adds, below the direct solve's 5\.72e\+6/,
    );
    for (let k = 0; k < mask.length; k++) if (mask[k] === 0) expect(r.weight[k]).toBe(0);
    // One warm-started iteration from W ⊙ mask: better than no refit, not better than the exact solve.
    const masked = Float32Array.from(w.data, (v, k) => (mask[k] === 1 ? v : 0));
    const eExact = reconstructionError(w, (await leastSquaresRefit(w, h, mask, { name: "b" })).weight, h);
    const eOne = reconstructionError(w, r.weight, h);
    expect(eOne).toBeLessThan(reconstructionError(w, masked, h));
    expect(eOne).toBeGreaterThanOrEqual(eExact * (1 - 1e-9));
  });

  it("without a backend falls back to the direct solve, never to another method, and names why", async () => {
    const { w, h, mask } = layer(6, 16, 3);
    const r = await refitKept(w, h, mask, { name: "nobackend", maxDirectMultiplyAdds: 0 });
    expect(r.solver).toBe("direct");
    expect(r.reason).toContain("no backend given");
  });

  it("is MAMA's default solver, and the linear reports it", async () => {
    const { w, h } = layer(8, 24, 4);
    const sq = new Float64Array(24);
    for (let j = 0; j < 24; j++) sq[j] = h[j * 24 + j]!;
    const proc = mamaLinearProcedure(mamaSettings(undefined, createMamaMethod().defaultOptions!));
    const r = await proc({
      name: "mama",
      weight: w,
      sparsity: 0.5,
      group: "row",
      stats: { cols: 24, tokens: 96, weightSum: 96, sqNorm: sq, gram: h },
      log: SILENT_LOGGER,
      backend: createCpuBackend(),
    });
    expect(r.redistribution).toBe("refit");
    expect(r.refitSolver).toBe("direct");
  });
});

describe("refitKept: a one-iteration PCG polish in blocks of rows", () => {
  it("gives the whole call's weights and hDelta bit for bit, in more GEMM calls (wasm, warm start)", async () => {
    const rows = 2 * REFIT_MIN_BLOCK_ROWS + 52; // two blocks of ≥ REFIT_MIN_BLOCK_ROWS rows
    const cols = 96;
    const { w, h, mask } = layer(rows, cols, 41);
    mask.fill(0, 0, cols); // row 0 all pruned (only the first GEMM), row 1 none (no solve)
    mask.fill(1, cols, 2 * cols);
    const rng = createRng(42);
    const init = Float32Array.from(w.data, (v, k) => (mask[k] === 1 ? v + 0.05 * rng.normal() : 0));
    const wasm = await createWasmBackend();
    let calls = 0;
    const counted = new Proxy(wasm, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown;
        if (key === "matmulTransB") {
          return (...a: Parameters<ComputeBackend["matmulTransB"]>) => {
            calls++;
            return target.matmulTransB(...a);
          };
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    try {
      const run = async (
        rowBlockFloats: number,
        warm = init,
        overwriteInitialWeight = false,
        hDeltaSink?: (offset: number, weight: Float32Array, hDelta: Float32Array) => void,
      ) => {
        calls = 0;
        const r = await refitKept(w, h, mask, {
          backend: counted,
          name: "polish",
          maxIterations: 1,
          initialWeight: warm,
          hDelta: true,
          maxDirectMultiplyAdds: 0, // PCG, as on a wide layer
          rowBlockFloats,
          overwriteInitialWeight,
          ...(hDeltaSink !== undefined ? { hDeltaSink } : {}),
        });
        return { r, calls };
      };
      const whole = await run(Number.POSITIVE_INFINITY);
      const blocked = await run(REFIT_MIN_BLOCK_ROWS * cols); // floor(2100 / 1024) = 2 blocks
      expect(whole.r.solver).toBe("pcg");
      expect(blocked.calls).toBeGreaterThan(whole.calls);
      expect(Array.from(blocked.r.weight)).toEqual(Array.from(whole.r.weight));
      expect(Array.from(blocked.r.hDelta!)).toEqual(Array.from(whole.r.hDelta!));
      expect(blocked.r.dampingUsed).toBe(whole.r.dampingUsed);
      // The warm start given up: the result is written into its array, the same values.
      const spent = new Float32Array(init);
      const inPlace = await run(REFIT_MIN_BLOCK_ROWS * cols, spent, true);
      expect(inPlace.r.weight).toBe(spent);
      expect(Array.from(inPlace.r.weight)).toEqual(Array.from(whole.r.weight));
      expect(Array.from(inPlace.r.hDelta!)).toEqual(Array.from(whole.r.hDelta!));
      // hDelta to a sink, block by block in row order (and whole without blocks): the same rows,
      // weights and values, no hDelta array returned.
      for (const rowBlockFloats of [REFIT_MIN_BLOCK_ROWS * cols, Number.POSITIVE_INFINITY]) {
        const seen: { offset: number; weight: number[]; hDelta: number[] }[] = [];
        const sunk = await run(rowBlockFloats, new Float32Array(init), true, (offset, bw, hd) => {
          seen.push({ offset, weight: Array.from(bw), hDelta: Array.from(hd) });
        });
        expect(sunk.r.hDelta).toBeUndefined();
        expect(sunk.r.hDeltaSunk).toBe(true);
        expect(Array.from(sunk.r.weight)).toEqual(Array.from(whole.r.weight));
        expect(seen.length).toBe(Number.isFinite(rowBlockFloats) ? 2 : 1);
        let at = 0;
        for (const b of seen) {
          expect(b.offset).toBe(at);
          expect(b.hDelta).toEqual(Array.from(whole.r.hDelta!.subarray(at, at + b.hDelta.length)));
          expect(b.weight).toEqual(Array.from(whole.r.weight.subarray(at, at + b.weight.length)));
          at += b.hDelta.length;
        }
        expect(at).toBe(rows * cols);
      }
      // The polish moved the kept weights (the test compares work done, not two no-ops).
      let moved = 0;
      for (let k = 0; k < init.length; k++) if (whole.r.weight[k] !== init[k]) moved++;
      expect(moved).toBeGreaterThan(rows * cols * 0.4);
    } finally {
      await wasm.dispose?.();
    }
  });
});

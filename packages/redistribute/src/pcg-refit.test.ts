import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createMemoryLogger, isPruneError, type Matrix, matrix } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { activationLikeHessian, naiveBackend, nmMask, randomMask, randomWeight } from "../test/helpers.ts";
import { pcgRefit } from "./pcg-refit.ts";
import { reconstructionError } from "./reconstruction-error.ts";
import { leastSquaresRefit } from "./refit.ts";
import { sparsegpt } from "./sparsegpt.ts";

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isPruneError(e), String(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

/** Mask with extra special rows: row 0 all pruned, row 1 none pruned. */
function withSpecialRows(mask: Uint8Array, cols: number): Uint8Array {
  const m = new Uint8Array(mask);
  m.fill(0, 0, cols);
  m.fill(1, cols, 2 * cols);
  return m;
}

/** (error(pcg) − error(direct)) / error(direct), both measured by the independent reconstructionError. */
async function compareWithDirect(
  w: Matrix,
  h: Float64Array,
  mask: Uint8Array,
  damping: number,
): Promise<{ rel: number; pcg: Awaited<ReturnType<typeof pcgRefit>>; direct: Float32Array }> {
  const direct = await leastSquaresRefit(w, h, mask, { damping });
  const pcg = await pcgRefit(w, h, mask, { backend: naiveBackend(), damping });
  const eDirect = reconstructionError(w, direct.weight, h);
  const ePcg = reconstructionError(w, pcg.weight, h);
  return { rel: (ePcg - eDirect) / eDirect, pcg, direct: direct.weight };
}

describe("pcgRefit", () => {
  it("hand-computed 2×2: two identical inputs, w = (1, 1), w₂ pruned → w₁' = 2", async () => {
    const w = matrix(1, 2, new Float32Array([1, 1]));
    const h = new Float64Array([1, 1, 1, 1]); // x₁ = x₂
    const r = await pcgRefit(w, h, new Uint8Array([1, 0]), { backend: naiveBackend(), damping: 0 });
    expect(Array.from(r.weight)).toEqual([2, 0]);
    // One kept coordinate: exact after one step; the stopping window (2 decreases) sees it two steps later.
    expect(r.iterations).toBeLessThanOrEqual(3);
    expect(r.reconstructionError).toBe(0);
    expect(r.startError).toBe(1); // (0, −1)·H·(0, −1)ᵀ
    expect(r.convergedRows).toBe(1);
  });

  const shapes: [number, number][] = [
    [64, 172],
    [172, 64],
  ];
  for (const [rows, cols] of shapes) {
    for (const kind of ["unstructured 50 %", "2:4"] as const) {
      it(`equals the direct solve (relative error within 1e-6) on ${rows}×${cols}, ${kind}, dead inputs, all-/none-pruned rows`, async () => {
        const w = randomWeight(rows, cols, rows + cols);
        const h = activationLikeHessian(512, cols, 7 + cols, { dead: [3, cols - 2] });
        const base = kind === "2:4" ? nmMask(w, 2, 4) : randomMask(rows, cols, 0.5, 11);
        const mask = withSpecialRows(base, cols);
        const { rel, pcg, direct } = await compareWithDirect(w, h, mask, 0.01);
        expect(Math.abs(rel)).toBeLessThan(1e-6);
        expect(pcg.warnings).toEqual([]);
        expect(pcg.solvedRows).toBe(rows - 2);
        expect(pcg.convergedRows).toBe(rows - 2);
        // Special rows: all-pruned → 0; none-pruned → unchanged.
        expect(Array.from(pcg.weight.subarray(0, cols)).every((v) => v === 0)).toBe(true);
        expect(pcg.weight.subarray(cols, 2 * cols)).toEqual(w.data.subarray(cols, 2 * cols));
        for (let i = 0; i < mask.length; i++) if (mask[i] === 0) expect(pcg.weight[i]).toBe(0);
        // Weights agree too (to the accuracy the error criterion implies).
        let num = 0;
        let den = 0;
        for (let i = 0; i < direct.length; i++) {
          num += (pcg.weight[i]! - direct[i]!) ** 2;
          den += direct[i]! ** 2;
        }
        expect(Math.sqrt(num / den)).toBeLessThan(1e-3);
        // The reported error is the independent one (float32 GEMM vs float64 definition).
        const independent = reconstructionError(w, pcg.weight, h);
        expect(Math.abs(pcg.reconstructionError - independent) / independent).toBeLessThan(1e-4);
        const masked = w.data.map((v, i) => (mask[i] === 1 ? v : 0));
        const start = reconstructionError(w, masked, h);
        expect(Math.abs(pcg.startError - start) / start).toBeLessThan(1e-4);
        expect(pcg.reconstructionError).toBeLessThan(pcg.startError);
        expect(pcg.maxResidual).toBeLessThan(1e-3);
      });
    }
  }

  it("damping 0 on a full-rank H equals the exact least squares", async () => {
    const w = randomWeight(24, 48, 3);
    const h = activationLikeHessian(400, 48, 4);
    const { rel } = await compareWithDirect(w, h, randomMask(24, 48, 0.5, 5), 0);
    expect(Math.abs(rel)).toBeLessThan(1e-6);
  });

  it("warm start from SparseGPT with the same mask: same answer, fewer iterations", async () => {
    const w = randomWeight(64, 172, 21);
    const h = activationLikeHessian(512, 172, 22);
    const mask = randomMask(64, 172, 0.5, 23);
    const obs = await sparsegpt(w, h, { mask });
    const cold = await pcgRefit(w, h, mask, { backend: naiveBackend() });
    const warm = await pcgRefit(w, h, mask, { backend: naiveBackend(), initialWeight: obs.weight });
    expect(Math.abs(warm.startError - reconstructionError(w, obs.weight, h)) / warm.startError).toBeLessThan(
      1e-4,
    );
    expect(warm.startError).toBeLessThan(cold.startError);
    const eCold = reconstructionError(w, cold.weight, h);
    const eWarm = reconstructionError(w, warm.weight, h);
    expect(Math.abs(eWarm - eCold) / eCold).toBeLessThan(1e-6);
    expect(warm.iterations).toBeLessThanOrEqual(cold.iterations);
  });

  it("wasm backend gives the same weights to float32 tolerance", async () => {
    const w = randomWeight(64, 172, 31);
    const h = activationLikeHessian(512, 172, 32, { dead: [10] });
    const mask = nmMask(w, 2, 4);
    const backend = await createWasmBackend();
    try {
      const js = await pcgRefit(w, h, mask, { backend: naiveBackend() });
      const wasm = await pcgRefit(w, h, mask, { backend });
      const eJs = reconstructionError(w, js.weight, h);
      const eWasm = reconstructionError(w, wasm.weight, h);
      expect(Math.abs(eWasm - eJs) / eJs).toBeLessThan(1e-6);
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < js.weight.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(js.weight[i]! - wasm.weight[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(js.weight[i]!));
      }
      expect(maxDiff / maxAbs).toBeLessThan(1e-3);
    } finally {
      await backend.dispose?.();
    }
  });

  it("names non-convergence with the row count, and never ends worse than the start", async () => {
    const w = randomWeight(16, 64, 41);
    const h = activationLikeHessian(256, 64, 42);
    const log = createMemoryLogger();
    const r = await pcgRefit(w, h, randomMask(16, 64, 0.5, 43), {
      backend: naiveBackend(),
      maxIterations: 2,
      name: "layers.0.mlp.down_proj",
      log,
    });
    expect(r.iterations).toBe(2);
    expect(r.convergedRows).toBeLessThan(16);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain("layers.0.mlp.down_proj");
    expect(r.warnings[0]).toContain(`${16 - r.convergedRows} of 16 rows`);
    expect(log.records.some((x) => x.level === "warn")).toBe(true);
    expect(r.reconstructionError).toBeLessThan(r.startError);
  });

  it("one GEMM per iteration over the active rows only", async () => {
    const w = randomWeight(20, 32, 51);
    const h = activationLikeHessian(128, 32, 52);
    const backend = naiveBackend();
    const r = await pcgRefit(w, h, randomMask(20, 32, 0.5, 53), { backend });
    // 3 Nyström probes (16 rows each) + initial residual + iterations + final check
    expect(backend.calls).toBe(3 + r.iterations + 2);
    expect(r.gemmCalls).toBe(backend.calls);
    const rowSum = r.rowIterations.reduce((s, v) => s + v, 0);
    expect(r.gemmMultiplyAdds).toBe((3 * 16 + 2 * 20 + rowSum) * 32 * 32);
    const jacobi = naiveBackend();
    const rj = await pcgRefit(w, h, randomMask(20, 32, 0.5, 53), { backend: jacobi, preconditionerRank: 0 });
    expect(jacobi.calls).toBe(rj.iterations + 2);
    expect(rowSum).toBeLessThan(20 * r.iterations + 1); // rows stop at different times
  });

  it("validates inputs and honours the abort signal", async () => {
    const w = randomWeight(4, 8, 61);
    const h = activationLikeHessian(64, 8, 62);
    const mask = randomMask(4, 8, 0.5, 63);
    const backend = naiveBackend();
    await expectCode(pcgRefit(w, h, mask, { backend, initialWeight: new Float32Array(3) }), "SHAPE_MISMATCH");
    await expectCode(pcgRefit(w, h, new Uint8Array(31), { backend }), "SHAPE_MISMATCH");
    await expectCode(pcgRefit(w, h.subarray(0, 63), mask, { backend }), "SHAPE_MISMATCH");
    await expect(pcgRefit(w, h, mask, { backend, tolerance: 0 })).rejects.toThrow(RangeError);
    await expect(pcgRefit(w, h, mask, { backend, maxIterations: -1 })).rejects.toThrow(RangeError);
    const ac = new AbortController();
    ac.abort();
    await expectCode(pcgRefit(w, h, mask, { backend, signal: ac.signal }), "ABORTED");
  });
});

describe("pcgRefit measure: false", () => {
  it("gives the same weights bit for bit with one GEMM less and the measurements NaN", async () => {
    const rows = 20;
    const cols = 48;
    const w = randomWeight(rows, cols, 71);
    const h = activationLikeHessian(200, cols, 72);
    const mask = withSpecialRows(randomMask(rows, cols, 0.5, 73), cols);
    const init = (await sparsegpt(w, h, { mask })).weight;
    for (const maxIterations of [0, 3, 500]) {
      const o = { backend: naiveBackend(), initialWeight: init, maxIterations };
      const ref = await pcgRefit(w, h, mask, o);
      const r = await pcgRefit(w, h, mask, { ...o, measure: false });
      expect(Array.from(r.weight)).toEqual(Array.from(ref.weight));
      expect(r.iterations).toBe(ref.iterations);
      expect(r.startError).toBe(ref.startError);
      expect(r.gemmCalls).toBe(ref.gemmCalls - 1);
      expect(ref.measured).toBe(true);
      expect(r.measured).toBe(false);
      expect(Number.isNaN(r.reconstructionError) && Number.isNaN(r.maxResidual)).toBe(true);
      const exact = reconstructionError(w, ref.weight, h); // float64, independent
      expect(Math.abs(ref.reconstructionError - exact) / exact).toBeLessThan(1e-6);
    }
  });
});

describe("pcgRefit hBlockFloats", () => {
  it("H in float32 blocks of rows gives the one-copy weights bit for bit (wasm, ragged last block, warm start)", async () => {
    const rows = 40;
    const cols = 172; // 172 = 8·21 + 4: blocks of 24 rows, the last of 4
    const w = randomWeight(rows, cols, 81);
    const h = activationLikeHessian(400, cols, 82, { dead: [7] });
    const mask = withSpecialRows(randomMask(rows, cols, 0.5, 83), cols);
    const init = (await sparsegpt(w, h, { mask })).weight;
    const backend = await createWasmBackend();
    try {
      for (const initialWeight of [undefined, init]) {
        const o = { backend, maxIterations: 6, ...(initialWeight !== undefined ? { initialWeight } : {}) };
        const whole = await pcgRefit(w, h, mask, o);
        const blocked = await pcgRefit(w, h, mask, { ...o, hBlockFloats: 24 * cols });
        expect(Array.from(blocked.weight)).toEqual(Array.from(whole.weight));
        expect(blocked.iterations).toBe(whole.iterations);
        expect(blocked.reconstructionError).toBe(whole.reconstructionError);
        // And the refit moved the weights toward the least squares: its error is below the masked start's.
        expect(blocked.reconstructionError).toBeLessThan(blocked.startError);
      }
    } finally {
      await backend.dispose?.();
    }
  });
});

describe("pcgRefit hDelta", () => {
  it("tracks (W' − W)·H along the solve: a fresh float64 product agrees to round-off, weights unchanged", async () => {
    const rows = 30;
    const cols = 96;
    const w = randomWeight(rows, cols, 91);
    const h = activationLikeHessian(300, cols, 92, { dead: [5] });
    const mask = withSpecialRows(randomMask(rows, cols, 0.5, 93), cols);
    const init = (await sparsegpt(w, h, { mask })).weight;
    const backend = await createWasmBackend();
    try {
      for (const maxIterations of [1, 8]) {
        const o = { backend, maxIterations, initialWeight: init, measure: false };
        const plain = await pcgRefit(w, h, mask, o);
        const r = await pcgRefit(w, h, mask, { ...o, hDelta: true });
        expect(plain.hDelta).toBeUndefined();
        expect(Array.from(r.weight)).toEqual(Array.from(plain.weight));
        const g = r.hDelta!;
        let err = 0;
        let scale = 0;
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            let s = 0;
            for (let k = 0; k < cols; k++)
              s += (r.weight[i * cols + k]! - w.data[i * cols + k]!) * h[k * cols + j]!;
            err = Math.max(err, Math.abs(g[i * cols + j]! - s));
            scale = Math.max(scale, Math.abs(s));
          }
        }
        expect(err / scale).toBeLessThan(1e-5);
        // Row 1 prunes nothing: W' = W there, and its gradient is 0.
        expect(g.subarray(cols, 2 * cols).every((v) => v === 0)).toBe(true);
      }
    } finally {
      await backend.dispose?.();
    }
  });
});

import { createWasmBackend } from "@mama-prune/compute-wasm";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, randomWeight } from "../test/helpers.ts";
import { reconstructionError } from "./reconstruction-error.ts";
import { type SparseGptMaskScore, sparsegpt } from "./sparsegpt.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

const rows = 24;
const cols = 96;
const w = randomWeight(rows, cols, 21);
const h = activationLikeHessian(400, cols, 22, { dead: [5] });

/** SparseGPT's own score w²/U_jj², written from the region (an independent restatement). */
const obsScore: SparseGptMaskScore = (g, out) => {
  const bw = g.col1 - g.col0;
  for (let r = g.row0; r < g.row1; r++)
    for (let j = g.col0; j < g.col1; j++) {
      const v = g.weight[r * g.cols + j]!;
      out[(r - g.row0) * bw + j - g.col0] = (v * v) / g.obsDenominator[j]!;
    }
};

/** |w| of the current working weights (a magnitude score chosen inside the sweep). */
const magnitude: SparseGptMaskScore = (g, out) => {
  const bw = g.col1 - g.col0;
  for (let r = g.row0; r < g.row1; r++)
    for (let j = g.col0; j < g.col1; j++)
      out[(r - g.row0) * bw + j - g.col0] = Math.abs(g.weight[r * g.cols + j]!);
};

describe("sparsegpt maskScore", () => {
  it.each([
    { label: "50 %", sparsity: 0.5, backend: false },
    { label: "2:4", sparsity: { n: 2, m: 4 }, backend: false },
    { label: "70 %, backend", sparsity: 0.7, backend: true },
    { label: "2:4, backend", sparsity: { n: 2, m: 4 }, backend: true },
  ])(
    "w²/U_jj² given as maskScore reproduces SparseGPT's own selection ($label)",
    async ({ sparsity, backend }) => {
      const be = backend ? { backend: wasm, backendMinCols: 0 } : {};
      const ref = await sparsegpt(w, h, { sparsity, blockSize: 32, ...be });
      const r = await sparsegpt(w, h, { sparsity, blockSize: 32, maskScore: obsScore, ...be });
      // w·w/d vs w·w·(1/d): equal masks unless a near-tie flips; then the weights follow the mask.
      expect(Array.from(r.mask)).toEqual(Array.from(ref.mask));
      let maxDiff = 0;
      for (let i = 0; i < w.data.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(r.weight[i]! - ref.weight[i]!));
      expect(maxDiff).toBeLessThanOrEqual(1e-6);
    },
  );

  it("another score changes the mask, keeps SparseGPT's counts and N:M groups, and the OBS error is the sweep's", async () => {
    const ref = await sparsegpt(w, h, { sparsity: 0.5, blockSize: 32 });
    const r = await sparsegpt(w, h, { sparsity: 0.5, blockSize: 32, maskScore: magnitude });
    expect(r.diagnostics.prunedCount).toBe(ref.diagnostics.prunedCount);
    let differ = 0;
    for (let i = 0; i < r.mask.length; i++) if (r.mask[i] !== ref.mask[i]) differ++;
    expect(differ).toBeGreaterThan(0);
    // The sweep's own bookkeeping still holds for the new mask (trace(ΔW·H·ΔWᵀ) from its errors).
    const e = reconstructionError(w, r.weight, h);
    expect(Math.abs(r.diagnostics.reconstructionError - e) / e).toBeLessThan(1e-5);
    // SparseGPT's OBS score is the better one for its own loss: magnitude selection costs more.
    expect(e).toBeGreaterThan(reconstructionError(w, ref.weight, h));
    const nm = await sparsegpt(w, h, { sparsity: { n: 2, m: 4 }, maskScore: magnitude });
    for (let r0 = 0; r0 < rows; r0++)
      for (let g = 0; g < cols; g += 4) {
        let zeros = 0;
        for (let t = 0; t < 4; t++) zeros += nm.mask[r0 * cols + g + t] === 0 ? 1 : 0;
        expect(zeros).toBe(2);
      }
  });

  it("unstructuredGroup row: every row prunes floor(s·i2) − floor(s·i1) of each block, floor(s·cols) in all", async () => {
    for (const be of [{}, { backend: wasm, backendMinCols: 0 }]) {
      const r = await sparsegpt(w, h, { sparsity: 0.7, blockSize: 32, unstructuredGroup: "row", ...be });
      const block = await sparsegpt(w, h, { sparsity: 0.7, blockSize: 32, ...be });
      let rowsDiffer = 0;
      for (let r0 = 0; r0 < rows; r0++) {
        let inRow = 0;
        let inBlockRow = 0;
        for (let i1 = 0; i1 < cols; i1 += 32) {
          let zeros = 0;
          for (let j = i1; j < i1 + 32; j++) zeros += r.mask[r0 * cols + j] === 0 ? 1 : 0;
          expect(zeros).toBe(Math.floor(0.7 * (i1 + 32)) - Math.floor(0.7 * i1));
          inRow += zeros;
        }
        for (let j = 0; j < cols; j++) inBlockRow += block.mask[r0 * cols + j] === 0 ? 1 : 0;
        expect(inRow).toBe(Math.floor(0.7 * cols));
        if (inBlockRow !== inRow) rowsDiffer++;
      }
      expect(rowsDiffer).toBeGreaterThan(0); // SparseGPT's own group lets rows differ
      const e = reconstructionError(w, r.weight, h);
      expect(Math.abs(r.diagnostics.reconstructionError - e) / e).toBeLessThan(1e-5);
    }
    await expect(sparsegpt(w, h, { sparsity: 0.5, unstructuredGroup: "col" as "row" })).rejects.toThrow(
      'option unstructuredGroup must be "block" or "row", got col',
    );
  });

  it("option errors name maskScore", async () => {
    await expect(
      sparsegpt(w, h, { mask: new Uint8Array(rows * cols).fill(1), maskScore: magnitude }),
    ).rejects.toThrow(/option maskScore must be a function and excludes option mask/);
    await expect(
      sparsegpt(w, h, { sparsity: 0.5, maskScore: (_g, out) => out.fill(Number.NaN) }),
    ).rejects.toThrow(/option maskScore returned NaN/);
  });
});

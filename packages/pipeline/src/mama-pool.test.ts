// MAMA's wide sweep path reuses the pages of its dead rows × cols arrays (the dense target's P, the
// gradients, the sweep's warm start, V) for the next ones (redistribute's `pooledFloat32` /
// `recycleFloats`): the weights, the mask, the damping and the reconstruction error stay bit for bit
// what the code gave before the pool (pinned digests, computed with the pre-pool code: main at 21830d2,
// recomputed at 615579b once SparseGPT's lazy super-blocks changed the sweep's float32 sums), also when the
// pool holds stale NaN-filled buffers of every size the procedure asks for. The arrays here are
// ≥ 1 MiB (the pool's minimum), so every pooled path runs.
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { matrix, SILENT_LOGGER, type Sparsity } from "@mama-prune/core";
import { recycleFloats } from "@mama-prune/redistribute";
import { afterAll, describe, expect, it } from "vitest";
import { driftedStreams, rng } from "../test/fixtures/mask-problems.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import type { LinearProcedureResult } from "./method.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

const rows = 520; // rows × n floats ≥ 1 MiB: pooled
const n = 512; // SparseGPT's backend threshold: the dense target's GEMMs, the shared factor
const tokens = 700;
const r = rng(23);
const w = matrix(
  rows,
  n,
  Float32Array.from({ length: rows * n }, () => r()),
);
const { gram, cross } = driftedStreams(r, n, tokens);
// The product statistic M = W·(C − H̃)ᵀ (down_proj's form of the dense target's statistic).
const product = new Float64Array(rows * n);
for (let i = 0; i < rows; i++) {
  for (let a = 0; a < n; a++) {
    let s = 0;
    for (let b = 0; b < n; b++) s += w.data[i * n + b]! * (cross[a * n + b]! - gram[a * n + b]!);
    product[i * n + a] = s;
  }
}
const sqNorm = Float64Array.from({ length: n }, (_, j) => gram[j * n + j]!);
const base = { cols: n, tokens, weightSum: tokens, gram, sqNorm };
const defaults = createMamaMethod().defaultOptions!;

/** FNV-1a over the weights' and the mask's bytes, then the damping and the error (float64 bits). */
function digest(res: LinearProcedureResult): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  };
  mix(new Uint8Array(res.weight.buffer, res.weight.byteOffset, res.weight.byteLength));
  mix(res.mask);
  mix(
    new Uint8Array(
      Float64Array.of(res.dampingUsed ?? Number.NaN, res.reconstructionError ?? Number.NaN).buffer,
    ),
  );
  return h.toString(16);
}

/** Fill the pool with stale NaN buffers of every size the procedure takes (float32 and float64 rows × n, n², …). */
function poison(): void {
  for (const floats of [rows * n, rows * n, rows * n, 2 * rows * n, 2 * rows * n, n * n, 2 * n * n]) {
    recycleFloats(new Float32Array(floats).fill(Number.NaN));
  }
}

const cases: { label: string; sparsity: Sparsity; stat: "crossGram" | "targetProduct"; pinned: string }[] = [
  { label: "0.5, cross-Gram", sparsity: 0.5, stat: "crossGram", pinned: "83553a4c" },
  { label: "2:4, cross-Gram", sparsity: { n: 2, m: 4 }, stat: "crossGram", pinned: "4772e4d1" },
  { label: "0.5, product statistic", sparsity: 0.5, stat: "targetProduct", pinned: "d27c5acf" },
];

describe("MAMA's wide sweep path with pooled rows × cols arrays", () => {
  it.each(cases)(
    "gives the pre-pool weights, mask, damping and error bit for bit, stale pool or not ($label)",
    async ({ sparsity, stat, pinned }) => {
      const settings = mamaSettings({ path: "wide", wide: { solver: "sweep" } }, defaults);
      const stats =
        stat === "crossGram" ? { ...base, crossGram: cross } : { ...base, targetProduct: product };
      const run = (): Promise<LinearProcedureResult> =>
        mamaLinearProcedure(settings)({
          name: "l0",
          weight: w,
          sparsity,
          group: typeof sparsity === "number" ? "row" : "n:m",
          stats,
          backend: wasm,
          log: SILENT_LOGGER,
        });
      const first = await run();
      if (stat === "targetProduct") {
        // The last linear of its input: the product statistic's buffer goes to the refit once read.
        const spent = new Float64Array(product);
        const disposable = await mamaLinearProcedure(settings)({
          name: "l0",
          weight: w,
          sparsity,
          group: "row",
          stats: { ...base, targetProduct: spent },
          gramDisposable: true,
          backend: wasm,
          log: SILENT_LOGGER,
        });
        expect(digest(disposable)).toBe(pinned);
      }
      expect(first.refitSolver).toBe("sweep");
      expect(first.denseTarget).toBe(stat === "crossGram" ? "cross-gram" : "product");
      expect(first.reconstructionError).toBeGreaterThan(0);
      expect(digest(first)).toBe(pinned);
      poison();
      const again = await run(); // takes the stale buffers (and the first run's recycled ones)
      expect(digest(again)).toBe(pinned);
      expect(Array.from(again.weight)).toEqual(Array.from(first.weight));
    },
  );
});

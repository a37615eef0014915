import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng, matrix } from "@mama-prune/core";
import { reconstructionError } from "@mama-prune/redistribute";
import { afterAll, describe, expect, it } from "vitest";
import { resolveMethod } from "./methods.ts";
import { pruneLinear } from "./prune-linear.ts";
import { createStatsAccumulator } from "./stats.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

// A wide linear (cols ≥ 512: SparseGPT's backend path) with a Gram matrix from the backend.
const rows = 24;
const cols = 520;
const rng = createRng(31);
const W = matrix(
  rows,
  cols,
  Float32Array.from({ length: rows * cols }, () => 0.02 * rng.normal()),
);
const x = Float32Array.from({ length: 700 * cols }, (_, i) => rng.normal() * (1 + (i % cols) / 100));

async function gramOf(): Promise<Float64Array> {
  const acc = createStatsAccumulator(cols, { gram: true }, wasm);
  await acc.add(x, 700);
  return acc.result().gram!;
}

describe("pruneLinear on a wide layer (SparseGPT on the backend)", () => {
  it.each([
    { label: "sparsegpt 50 %", method: "sparsegpt", sparsity: 0.5 },
    { label: "sparsegpt 2:4", method: "sparsegpt", sparsity: { n: 2, m: 4 } },
    {
      label: "wanda + sparsegpt redistribution",
      method: resolveMethod("wanda", { redistribution: "sparsegpt" }),
    },
  ] as const)(
    "gramDisposable: same weights bit for bit, the Gram factored in place; reconstruction error from the sweep within 1e-4 of the float64 reference ($label)",
    async ({ method, ...rest }) => {
      const sparsity = "sparsity" in rest ? rest.sparsity : 0.5;
      const gram = await gramOf();
      const stats = { cols, tokens: 700, weightSum: 700, gram, sqNorm: new Float64Array(cols).fill(700) };
      const keep = await pruneLinear({ name: "w", weight: W, method, sparsity, stats, backend: wasm });
      expect(Array.from(gram)).toEqual(Array.from(await gramOf())); // untouched without gramDisposable
      const want = reconstructionError(W, keep.weight, gram);
      expect(Math.abs(keep.reconstructionError! - want) / want).toBeLessThan(1e-4);
      const mine = await gramOf();
      const gone = await pruneLinear({
        name: "w",
        weight: W,
        method,
        sparsity,
        stats: { ...stats, gram: mine },
        backend: wasm,
        gramDisposable: true,
      });
      expect(Array.from(gone.weight)).toEqual(Array.from(keep.weight));
      expect(gone.reconstructionError).toBe(keep.reconstructionError);
      expect(mine[1]).not.toBe(gram[1]); // factored in place
    },
  );
});

// down_proj's case: the last linear of an input whose dense target comes from the product statistic,
// wide enough that the polish is PCG (cols³/6 > the direct solve's budget). MAMA then factors the Gram
// in its own buffer, keeping the Gram's strict lower triangle below the factor, and runs the sweep's
// checks and the PCG polish on that triangle (rounded to float32 as read) with the float64 diagonal:
// the same weights, mask, damping and error bit for bit as keeping the Gram.
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { matrix, SILENT_LOGGER, type Sparsity } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { rng } from "../test/fixtures/mask-problems.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import type { LinearProcedureResult } from "./method.ts";
import { targetProductAccumulate } from "./target-product.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

const rows = 24;
const n = 4000; // 4000³/6 > 1e10: the polish is PCG for every mask with pruned and kept entries per row
const tokens = 600;
const r = rng(31);
const scale = Float32Array.from({ length: n }, () => 0.3 + 2 * (r() + 0.5));
const xp = new Float32Array(tokens * n); // (tokens, n) the pruned stream's input X̃
const xd = new Float32Array(tokens * n); // (tokens, n) the dense stream's X
for (let t = 0; t < tokens; t++) {
  const base = r();
  for (let j = 0; j < n; j++) {
    const v = scale[j]! * (r() + 0.7 * base);
    xp[t * n + j] = j === 9 ? 0 : v; // input 9 never seen: a dead input
    xd[t * n + j] = j === 9 ? 0 : v + 0.3 * r();
  }
}
const gram = new Float64Array(n * n);
await wasm.gramAccumulate(xp, tokens, n, gram);
for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) gram[i * n + j] = gram[j * n + i]!; // full, exactly symmetric
const w = matrix(
  rows,
  n,
  Float32Array.from({ length: rows * n }, () => r()),
);
const product = new Float64Array(rows * n);
await targetProductAccumulate(wasm, xp, xd, w.data, tokens, n, rows, product);
const sqNorm = Float64Array.from({ length: n }, (_, j) => gram[j * n + j]!);
const defaults = createMamaMethod().defaultOptions!;

function same(a: LinearProcedureResult, b: LinearProcedureResult): void {
  expect(Array.from(a.mask)).toEqual(Array.from(b.mask));
  expect(Array.from(a.weight)).toEqual(Array.from(b.weight));
  expect(a.dampingUsed).toBe(b.dampingUsed);
  expect(a.reconstructionError).toBe(b.reconstructionError);
  expect(a.warnings).toEqual(b.warnings);
}

describe("MAMA on the last linear of a product-statistic input: the Gram factored in place", () => {
  it.each([
    { sparsity: 0.5 as Sparsity, damping: 0.01 },
    { sparsity: { n: 2, m: 4 } as Sparsity, damping: 0.01 },
    // H̃ has rank ≤ 600 < 4000: at 1e-8·mean diag the factor fails and the damping escalates.
    { sparsity: 0.5 as Sparsity, damping: 1e-8 },
  ])(
    "gives the kept Gram's weights, mask, damping, error and warnings bit for bit ($sparsity, damping $damping)",
    async ({ sparsity, damping }) => {
      const settings = mamaSettings({ path: "wide", wide: { solver: "sweep" } }, defaults);
      const run = (g: Float64Array, gramDisposable: boolean): Promise<LinearProcedureResult> =>
        mamaLinearProcedure(settings)({
          name: "down",
          weight: w,
          sparsity,
          group: typeof sparsity === "number" ? "row" : "n:m",
          stats: {
            cols: n,
            tokens,
            weightSum: tokens,
            gram: g,
            sqNorm,
            targetProduct: new Float64Array(product),
          },
          ...(gramDisposable ? { gramDisposable: true } : {}),
          damping,
          backend: wasm,
          log: SILENT_LOGGER,
        });
      const kept = new Float64Array(gram);
      const ref = await run(kept, false);
      expect(Array.from(kept.subarray(0, 4 * n))).toEqual(Array.from(gram.subarray(0, 4 * n))); // left alone
      expect(ref.refitSolver).toBe("sweep");
      expect(ref.denseTarget).toBe("product");
      expect(ref.reconstructionError).toBeGreaterThan(0);
      if (damping < 0.01) expect(ref.warnings?.length ?? 0).toBeGreaterThan(1); // SparseGPT's and the target's
      const spent = new Float64Array(gram);
      const got = await run(spent, true);
      same(got, ref);
      // The spent run factored in the Gram's own buffer: its upper triangle is no longer H̃'s (U is
      // there), its strict lower triangle still is (what the polish read H̃ from), bit for bit.
      let changed = 0;
      let lowerKept = 0;
      for (let i = 1; i < 64; i++) {
        for (let j = 0; j < i; j++) {
          if (spent[j * n + i] !== gram[j * n + i]) changed++;
          if (Object.is(spent[i * n + j], gram[i * n + j])) lowerKept++;
        }
      }
      expect(changed).toBeGreaterThan((63 * 64) / 4);
      expect(lowerKept).toBe((63 * 64) / 2);
    },
    120_000,
  );
});

// MAMA's sweep solver on the backend shares ONE factorisation of the damped H̃ (SparseGPT's) between
// the dense target's V, every gradual sweep and the linears of one input: bit-identical to factoring
// each time (the pre-sharing code path: denseTargetWeight and mamaSweep without a factor).
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { type ComputeBackend, matrix, SILENT_LOGGER, type Sparsity } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { driftedStreams, rng } from "../test/fixtures/mask-problems.ts";
import { denseTargetWeight } from "./dense-target.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import { mamaSweep } from "./mama-sweep.ts";
import { refitKept } from "./refit-kept.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});
let gemms = 0;
// The wasm backend with its matmulTransB calls counted (a Proxy: its methods live on the prototype).
const counted = new Proxy(wasm, {
  get(target, key, receiver) {
    const v = Reflect.get(target, key, receiver) as unknown;
    if (key === "matmulTransB") {
      return (...a: Parameters<ComputeBackend["matmulTransB"]>) => {
        gemms++;
        return target.matmulTransB(...a);
      };
    }
    return typeof v === "function" ? v.bind(target) : v;
  },
});

const rows = 12;
const n = 512; // SparseGPT's backend threshold: the blocked factorisation and the shared factor
const tokens = 700;
const r = rng(11);
const weights = [0, 1, 2].map(() =>
  matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  ),
);
const { gram, cross } = driftedStreams(r, n, tokens);
const sqNorm = Float64Array.from({ length: n }, (_, j) => gram[j * n + j]!);
const stats = { cols: n, tokens, weightSum: tokens, gram, sqNorm, crossGram: cross };
const defaults = createMamaMethod().defaultOptions!;

describe("MAMA's sweep solver: one shared factorisation per input", () => {
  it.each([
    { sparsity: 0.5 as Sparsity, sweeps: 2 },
    { sparsity: { n: 2, m: 4 } as Sparsity, sweeps: 1 },
  ])(
    "is bit-identical to factoring for V, each sweep and each linear ($sparsity, sweeps $sweeps)",
    async ({ sparsity, sweeps }) => {
      const settings = mamaSettings({ path: "wide", wide: { solver: "sweep", sweeps } }, defaults);
      expect(settings.target).toBe("dense");
      const proc = mamaLinearProcedure(settings); // one procedure: q, k, v of one input in turn
      const calls: number[] = [];
      for (const [i, w] of weights.entries()) {
        const name = `l${i}`;
        gemms = 0;
        const got = await proc({
          name,
          weight: w,
          sparsity,
          group: typeof sparsity === "number" ? "row" : "n:m",
          stats,
          backend: counted,
          log: SILENT_LOGGER,
        });
        calls.push(gemms);
        expect(got.refitSolver).toBe("sweep");
        // The unshared computation: V factored on its own, every sweep factoring again.
        const { target } = await denseTargetWeight(w, gram, cross, 0.01, name, settings.targetBlend, wasm);
        const ref = await mamaSweep(
          {
            settings,
            target,
            dense: w,
            gram,
            sparsity,
            norms: undefined,
            pre: undefined,
            damping: 0.01,
            name,
            log: SILENT_LOGGER,
            backend: wasm,
          },
          refitKept,
        );
        expect(Array.from(got.mask)).toEqual(Array.from(ref.mask));
        expect(Array.from(got.weight)).toEqual(Array.from(ref.weight));
        expect(got.dampingUsed).toBe(ref.dampingUsed);
      }
      // The first linear factors once (not 1 + sweeps times); the others reuse it: fewer GEMMs.
      expect(calls[1]).toBeLessThan(calls[0]!);
      expect(calls[2]).toBe(calls[1]);
    },
  );

  it.each([{ sparsity: 0.5 as Sparsity }, { sparsity: { n: 2, m: 4 } as Sparsity }])(
    "gramDisposable: factoring into the cross-Gram's buffer after V gives the same weights bit for bit ($sparsity)",
    async ({ sparsity }) => {
      const settings = mamaSettings({ path: "wide", wide: { solver: "sweep" } }, defaults);
      const w = weights[0]!;
      const group = typeof sparsity === "number" ? ("row" as const) : ("n:m" as const);
      const base = { name: "l0", weight: w, sparsity, group, backend: wasm, log: SILENT_LOGGER };
      const ref = await mamaLinearProcedure(settings)({ ...base, stats });
      const spent = new Float64Array(cross); // the caller's C, given up to the procedure
      const got = await mamaLinearProcedure(settings)({
        ...base,
        stats: { ...stats, crossGram: spent },
        gramDisposable: true,
      });
      expect(Array.from(got.mask)).toEqual(Array.from(ref.mask));
      expect(Array.from(got.weight)).toEqual(Array.from(ref.weight));
      expect(got.dampingUsed).toBe(ref.dampingUsed);
      // C's buffer now holds the factor U (upper triangular: zero below the diagonal, as the factor's).
      let changed = 0;
      for (let k = 0; k < spent.length; k++) if (spent[k] !== cross[k]) changed++;
      expect(changed).toBeGreaterThan(spent.length / 2);
      expect(gram[5 * n + 3]).not.toBe(0); // and H̃ itself is untouched (it is read after)
    },
  );
});

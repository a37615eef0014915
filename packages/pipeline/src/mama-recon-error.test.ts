import { createWasmBackend } from "@mama-prune/compute-wasm";
import { type ComputeBackend, createRng, matrix } from "@mama-prune/core";
import { reconstructionError, reconstructionErrorOnBackend } from "@mama-prune/redistribute";
import { afterAll, describe, expect, it } from "vitest";
import { crossGramAccumulate } from "./dense-stream.ts";
import { addErrorFromGradients, errorFromGradients } from "./mama-recon-error.ts";
import { resolveMethod } from "./methods.ts";
import { pruneLinear } from "./prune-linear.ts";
import type { LinearInputStats } from "./stats.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

/** Counts the backend's matmulTransB calls of rows·cols² (the measuring GEMM's shape: m × n × n). */
function counting(
  b: ComputeBackend,
  rows: number,
  cols: number,
): { backend: ComputeBackend; full: () => number } {
  let full = 0;
  const backend = new Proxy(b, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (prop !== "matmulTransB") return typeof v === "function" ? v.bind(target) : v;
      return (x: Float32Array, w: Float32Array, m: number, k: number, n: number, o?: object) => {
        if (m === rows && k === cols && n === cols) full++;
        return (v as ComputeBackend["matmulTransB"]).call(target, x, w, m, k, n, o);
      };
    },
  });
  return { backend, full: () => full };
}

/** A 520-wide input seen by the pruned (X̃) and the dense (X) model, one dead column, and its statistics. */
function inputs(tokens: number, cols: number, seed: number): LinearInputStats {
  const rng = createRng(seed);
  const scale = Float32Array.from({ length: cols }, () => 0.3 + rng.next());
  const xd = Float32Array.from({ length: tokens * cols }, (_, k) => scale[k % cols]! * rng.normal());
  const xp = Float32Array.from(xd, (v) => v + 0.3 * rng.normal());
  for (let t = 0; t < tokens; t++) xp[t * cols + 7] = 0;
  const gram = new Float64Array(cols * cols);
  for (let t = 0; t < tokens; t++)
    for (let a = 0; a < cols; a++) {
      const xa = xp[t * cols + a]!;
      if (xa !== 0) for (let b = 0; b < cols; b++) gram[a * cols + b]! += xa * xp[t * cols + b]!;
    }
  const crossGram = new Float64Array(cols * cols);
  crossGramAccumulate(xp, xd, tokens, cols, crossGram);
  return { cols, tokens, weightSum: tokens, gram, crossGram };
}

describe("MAMA's per-linear reconstruction error from its own products (sweep path, ≥ 512 columns)", () => {
  it("equals the measured trace((W − W')·H·(W − W')ᵀ) to round-off, dense and layer targets, without the rows·cols² GEMM", async () => {
    const rows = 48;
    const cols = 520;
    const stats = inputs(900, cols, 3);
    const rng = createRng(4);
    const W = matrix(
      rows,
      cols,
      Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols)),
    );
    for (const target of ["dense", "layer"] as const) {
      for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
        const method = resolveMethod("mama", { methodOptions: { path: "wide", target, targetBlend: 0.35 } });
        const { backend, full } = counting(wasm, rows, cols);
        const r = await pruneLinear({ name: "w", weight: W, method, sparsity, stats, backend });
        const got = r.reconstructionError!;
        const f64 = reconstructionError(W, r.weight, stats.gram!); // independent, float64
        const gemm = await reconstructionErrorOnBackend(W, r.weight, stats.gram!, { backend: wasm });
        expect(got).toBeGreaterThan(0);
        expect(Math.abs(got - f64) / f64, `${target} ${JSON.stringify(sparsity)}`).toBeLessThan(1e-6); // measured ≤ 1.3e-8
        expect(Math.abs(got - gemm) / gemm).toBeLessThan(1e-6); // measured ≤ 1.3e-8
        // No measuring product: as many rows·cols² GEMMs as a run that reports no error (the old
        // measurement was one more), and the same weights bit for bit.
        const quiet = counting(wasm, rows, cols);
        const off = await pruneLinear({
          name: "w",
          weight: W,
          method,
          sparsity,
          stats,
          backend: quiet.backend,
          reconstructionError: false,
        });
        expect(off.reconstructionError).toBeUndefined();
        expect(full()).toBe(quiet.full());
        expect(Array.from(off.weight)).toEqual(Array.from(r.weight));
      }
    }
  });
});

describe("addErrorFromGradients", () => {
  it("summed over row blocks in order gives errorFromGradients' value bit for bit (with and without a target gradient)", () => {
    const rng = createRng(91);
    const n = 3 * 1000 + 7;
    const f = (): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const dense = f();
    const pruned = f();
    const hDelta = f();
    const targetGradient = f();
    for (const tg of [targetGradient, undefined]) {
      const whole = errorFromGradients(dense, pruned, hDelta, tg);
      let e = 0;
      for (const [lo, hi] of [
        [0, 1000],
        [1000, 2500],
        [2500, n],
      ] as const) {
        e = addErrorFromGradients(e, dense, lo, pruned.subarray(lo, hi), hDelta.subarray(lo, hi), tg);
      }
      expect(e).toBe(whole);
      expect(Math.abs(whole)).toBeGreaterThan(0);
    }
  });
});

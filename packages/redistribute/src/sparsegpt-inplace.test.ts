import { createWasmBackend } from "@mama-prune/compute-wasm";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, randomWeight } from "../test/helpers.ts";
import { reconstructionError } from "./reconstruction-error.ts";
import { sparsegpt } from "./sparsegpt.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

const rows = 40;
const cols = 300;
const w = randomWeight(rows, cols, 21);
const h = activationLikeHessian(900, cols, 22, { dead: [3, 200] });
const onWasm = { backend: wasm, backendMinCols: 0, blockSize: 32 } as const;

describe("sparsegpt overwriteHessian", () => {
  it.each([
    { label: "50 %", sparsity: 0.5 as const, percdamp: 0.01, tokens: 900 },
    { label: "2:4", sparsity: { n: 2, m: 4 }, percdamp: 0.01, tokens: 900 },
    // rank 20 < 300 and no damping: the first attempts fail, the retries restore H from its lower half
    { label: "damping escalation", sparsity: 0.5 as const, percdamp: 0, tokens: 20 },
  ])("on the backend: bit-identical to the copying path ($label)", async ({ sparsity, percdamp, tokens }) => {
    const hh = tokens === 900 ? h : activationLikeHessian(tokens, cols, 23);
    const ref = await sparsegpt(w, hh, { sparsity, percdamp, ...onWasm });
    const mine = Float64Array.from(hh);
    const r = await sparsegpt(w, mine, { sparsity, percdamp, ...onWasm, overwriteHessian: true });
    expect(r.diagnostics.hessianOverwritten).toBe(true);
    expect(ref.diagnostics.hessianOverwritten).toBe(false);
    expect(r.diagnostics.dampingAttempts).toBe(ref.diagnostics.dampingAttempts);
    if (tokens === 20) expect(r.diagnostics.dampingAttempts).toBeGreaterThan(1);
    expect(Array.from(r.weight)).toEqual(Array.from(ref.weight));
    expect(Array.from(r.mask)).toEqual(Array.from(ref.mask));
    expect(r.diagnostics.obsError).toBe(ref.diagnostics.obsError);
    expect(mine[1]).not.toBe(hh[1]); // the caller's array now holds the factor
  });

  it("is ignored on the float64 JS path and for a not exactly symmetric hessian", async () => {
    const mine = Float64Array.from(h);
    const js = await sparsegpt(w, mine, { sparsity: 0.5, blockSize: 32, overwriteHessian: true });
    expect(js.diagnostics.hessianOverwritten).toBe(false);
    expect(Array.from(mine)).toEqual(Array.from(h));
    const skew = Float64Array.from(h);
    skew[1 * cols + 2] = skew[1 * cols + 2]! * (1 + 1e-12); // within the symmetry check, not exact
    const kept = Float64Array.from(skew);
    const r = await sparsegpt(w, skew, { sparsity: 0.5, ...onWasm, overwriteHessian: true });
    expect(r.diagnostics.hessianOverwritten).toBe(false);
    expect(Array.from(skew)).toEqual(Array.from(kept));
  });
});

describe("sparsegpt diagnostics.reconstructionError", () => {
  it.each([
    { label: "float64 JS", opts: { blockSize: 32 }, tol: 1e-6 }, // the result is rounded to float32
    { label: "backend", opts: onWasm, tol: 1e-4 },
  ])(
    "equals trace(ΔW·H·ΔWᵀ) of the float64 reference ($label, dead inputs included)",
    async ({ opts, tol }) => {
      for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
        const r = await sparsegpt(w, h, { sparsity, ...opts });
        const want = reconstructionError(w, r.weight, h);
        expect(Math.abs(r.diagnostics.reconstructionError - want) / want).toBeLessThan(tol);
        // the damping correction matters at this scale: obsError alone would fail the tolerance
        expect(Math.abs(r.diagnostics.obsError - want) / want).toBeGreaterThan(1e-3);
      }
    },
  );
});

describe("sparsegpt on the backend with 128-column blocks (32-column sub-blocks, small in-block GEMMs)", () => {
  it.each([
    { label: "50 %", sparsity: 0.5 as const },
    { label: "2:4", sparsity: { n: 2, m: 4 } },
  ])(
    "agrees with the float64 JS path: masks but for near-ties, error within 1e-4 ($label)",
    async ({ sparsity }) => {
      const js = await sparsegpt(w, h, { sparsity, blockSize: 128 });
      const be = await sparsegpt(w, h, { sparsity, backend: wasm, backendMinCols: 0, blockSize: 128 });
      expect(be.diagnostics.onBackend).toBe(true);
      let differ = 0;
      for (let i = 0; i < js.mask.length; i++) if (js.mask[i] !== be.mask[i]) differ++;
      expect(differ / js.mask.length).toBeLessThan(0.002);
      expect(be.diagnostics.prunedCount).toBe(js.diagnostics.prunedCount);
      const eJs = reconstructionError(w, js.weight, h);
      const eBe = reconstructionError(w, be.weight, h);
      expect(Math.abs(eBe - eJs) / eJs).toBeLessThan(1e-4);
      // and it is the float32 path, not a copy of the float64 one
      expect(Array.from(be.weight)).not.toEqual(Array.from(js.weight));
    },
  );
});

import { createWasmBackend } from "@mama-prune/compute-wasm";
import { PruneError } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, randomWeight } from "../test/helpers.ts";
import { sparseGptFactor, sparsegpt } from "./sparsegpt.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

const rows = 24;
const cols = 160;
const w = randomWeight(rows, cols, 31);
const h = activationLikeHessian(600, cols, 32, { dead: [5, 90] });

describe("sparsegpt with a shared factor (sparseGptFactor)", () => {
  it.each([
    { label: "JS 50 %", sparsity: 0.5 as const, percdamp: 0.01, onBackend: false, tokens: 600 },
    { label: "backend 50 % per row", sparsity: 0.5 as const, percdamp: 0.01, onBackend: true, tokens: 600 },
    { label: "backend 2:4", sparsity: { n: 2, m: 4 }, percdamp: 0.01, onBackend: true, tokens: 600 },
    // rank 20 < 160 and no damping: the factor escalates, and the shared one carries the escalation
    { label: "JS damping escalation", sparsity: 0.5 as const, percdamp: 0, onBackend: false, tokens: 20 },
  ])("is bit-identical to factoring inside ($label)", async ({ sparsity, percdamp, onBackend, tokens }) => {
    const hh = tokens === 600 ? h : activationLikeHessian(tokens, cols, 33);
    const be = onBackend ? { backend: wasm, backendMinCols: 0, blockSize: 32 } : { blockSize: 32 };
    const group = onBackend && typeof sparsity === "number" ? { unstructuredGroup: "row" as const } : {};
    const ref = await sparsegpt(w, hh, { sparsity, percdamp, ...be, ...group });
    const f = await sparseGptFactor(hh, cols, { percdamp, ...be });
    expect(f.relDamping).toBe(ref.diagnostics.percdampUsed);
    expect(f.warnings.length).toBe(ref.diagnostics.dampingAttempts - 1);
    if (tokens === 20) expect(f.relDamping).toBeGreaterThan(0);
    const before = Float64Array.from(f.upper);
    // two sweeps on one factor (as gradual sweeps or linears sharing an input do)
    for (let k = 0; k < 2; k++) {
      const r = await sparsegpt(w, hh, { sparsity, percdamp, ...be, ...group, factor: f });
      expect(Array.from(r.weight)).toEqual(Array.from(ref.weight));
      expect(Array.from(r.mask)).toEqual(Array.from(ref.mask));
      expect(r.diagnostics.obsError).toBe(ref.diagnostics.obsError);
      expect(r.dampingUsed).toBe(ref.dampingUsed);
    }
    expect(Array.from(f.upper)).toEqual(Array.from(before)); // read only
  });

  it("refuses a factor of the wrong size, naming the option", async () => {
    const bad = { upper: new Float64Array(cols * cols - 1), relDamping: 0.01 };
    await expect(sparsegpt(w, h, { sparsity: 0.5, factor: bad })).rejects.toThrow(PruneError);
    await expect(sparsegpt(w, h, { sparsity: 0.5, factor: bad })).rejects.toThrow(
      /option factor\.upper.*Expected 160·160 = 25600, got 25599/,
    );
  });

  it("into: the factor written into the caller's buffer equals the new one bit for bit (also after an escalation)", async () => {
    for (const [hh, percdamp] of [
      [h, 0.01],
      [activationLikeHessian(20, cols, 33), 0],
    ] as const) {
      for (const be of [{}, { backend: wasm, backendMinCols: 0 }]) {
        const ref = await sparseGptFactor(hh, cols, { percdamp, ...be });
        const buf = new Float64Array(cols * cols).fill(7);
        const f = await sparseGptFactor(hh, cols, { percdamp, ...be, into: buf });
        expect(f.upper).toBe(buf);
        expect(Array.from(f.upper)).toEqual(Array.from(ref.upper));
        expect(f.relDamping).toBe(ref.relDamping);
      }
    }
    await expect(sparseGptFactor(h, cols, { into: new Float64Array(4) })).rejects.toThrow(
      /option into must be a separate float64 buffer of cols² values\. Expected 25600 values apart from the Hessian, got 4 values/,
    );
  });
});

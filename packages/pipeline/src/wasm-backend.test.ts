// The pipeline with @mama-prune/compute-wasm's backend. Its packed-weight cache is keyed by array identity;
// prune edits weights in place and calls backend.invalidate after each one (the backend also fingerprints
// sampled values, so this test passes even without that call: it checks agreement, not the call itself).
import { createWasmBackend, isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { createCpuBackend, LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { prune } from "./prune.ts";

const SHAPE = { hidden: 16, intermediate: 32, layers: 3, heads: 4, kvHeads: 2, vocab: 40 };

describe.skipIf(!isWasmSimdSupported())("prune with the compute-wasm backend", () => {
  it("gives the CPU backend's pruned model, and its forward pass sees the pruned weights", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(3, 12, SHAPE.vocab);
    const backend = await createWasmBackend();
    try {
      const wasm = await prune({ checkpoint, backend, method: "wanda", sparsity: 0.5, calibration: cal });
      const cpu = await prune({
        checkpoint,
        backend: createCpuBackend(),
        method: "wanda",
        sparsity: 0.5,
        calibration: cal,
      });
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const a = wasm.model.getLinearWeight(l, name);
          const b = cpu.model.getLinearWeight(l, name);
          for (let k = 0; k < a.length; k++) expect(a[k] === 0).toBe(b[k] === 0);
        }
      }
      // The forward pass must run the pruned weights: compare logits with a fresh CPU model holding them.
      const ref = await loadLlama(checkpoint);
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) ref.setLinearWeight(l, name, wasm.model.getLinearWeight(l, name));
      }
      const tokens = cal.tokens.subarray(0, 12);
      const x = await wasm.model.forward(tokens, 1, 12);
      const y = await ref.forward(tokens, 1, 12);
      let maxDiff = 0;
      for (let k = 0; k < x.length; k++) maxDiff = Math.max(maxDiff, Math.abs(x[k]! - y[k]!));
      expect(maxDiff).toBeLessThan(1e-3);
    } finally {
      await backend.dispose();
    }
  });
});

// The WebGPU backend under @mama-prune/model on the bundled stories260K model: an in-place edit through
// LlamaModel.setLinearWeight (which calls ComputeBackend.invalidate) is seen by the next forward pass,
// with dense cached weights and with sparse layouts built automatically from a weight's zeros.
import { readFile } from "node:fs/promises";
import type { ComputeBackend } from "@mama-prune/core";
import { type LinearName, type LlamaModel, loadLlama } from "@mama-prune/model";
import { readLlama2c } from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { createWebGpuBackend, type WebGpuBackendOptions } from "../src/backend.ts";
import { tryNodeGpu } from "./gpu.ts";

const gpu = await tryNodeGpu();
afterAll(async () => {
  await gpu?.dispose();
});

const SEQ = 32;
const TOKENS = Int32Array.from({ length: SEQ }, (_, i) => (i * 37 + 11) % 512);

/** One element of q_proj nudged; down_proj of block 3 pruned to half its entries (2:4-compatible). */
function edits(model: LlamaModel): [number, LinearName, Float32Array][] {
  const q = model.getLinearWeight(0, "q_proj").slice(); // (out, in)
  q[5] = q[5]! + 0.75;
  const down = model.getLinearWeight(3, "down_proj").slice(); // (out, in)
  for (let i = 0; i < down.length; i += 2) down[i] = 0;
  return [
    [0, "q_proj", q],
    [3, "down_proj", down],
  ];
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

describe.skipIf(!gpu)(
  "the WebGPU backend sees weights edited through LlamaModel.setLinearWeight",
  async () => {
    const bin = new Uint8Array(
      await readFile(new URL("../../../data/stories260K/stories260K.bin", import.meta.url)),
    );
    const load = async (backend: ComputeBackend): Promise<LlamaModel> =>
      loadLlama(await readLlama2c(bin, "stories260K.bin"), { backend });

    const cases: [string, WebGpuBackendOptions][] = [
      ["dense cached weights", {}],
      ["sparse layouts built from zeros", { autoSparse: { format: "sparse-bitmask", minSparsity: 0.4 } }],
    ];
    for (const [label, options] of cases) {
      it(`gives a fresh model's logits after an in-place edit (${label})`, async () => {
        const backend = createWebGpuBackend(gpu!.device, options);
        try {
          const model = await load(backend);
          const before = await model.forward(TOKENS, 1, SEQ); // (SEQ, vocab); uploads every weight
          const changes = edits(model);
          for (const [l, name, w] of changes) model.setLinearWeight(l, name, w);
          const after = await model.forward(TOKENS, 1, SEQ);
          const fresh = await load(backend);
          for (const [l, name, w] of changes) fresh.setLinearWeight(l, name, w);
          expect(after).toEqual(await fresh.forward(TOKENS, 1, SEQ));
          expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-3);
        } finally {
          await backend.dispose();
        }
      });
    }

    it("would not see the edit without invalidate (the check above can fail)", async () => {
      const backend = createWebGpuBackend(gpu!.device);
      try {
        const model = await load(backend);
        const before = await model.forward(TOKENS, 1, SEQ);
        const live = model.getLinearWeight(0, "q_proj");
        live[5] = live[5]! + 0.75; // behind the model's back: no invalidate
        expect(await model.forward(TOKENS, 1, SEQ)).toEqual(before);
        backend.invalidate(live);
        expect(maxAbsDiff(await model.forward(TOKENS, 1, SEQ), before)).toBeGreaterThan(1e-3);
      } finally {
        await backend.dispose();
      }
    });
  },
);

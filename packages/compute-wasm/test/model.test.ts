// The wasm backend under @mama-prune/model on the bundled stories260K model: an in-place edit through
// LlamaModel.setLinearWeight (which calls ComputeBackend.invalidate) is seen by the next forward pass,
// on one thread and on two (256 tokens, so the matmuls run on the workers).
import { readFile } from "node:fs/promises";
import type { ComputeBackend } from "@mama-prune/core";
import { type LinearName, type LlamaModel, loadLlama } from "@mama-prune/model";
import { readLlama2c } from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { createWasmBackend, type WasmBackend } from "../src/backend.ts";
import { createWasmBackendNode } from "../src/node/node-backend.ts";

const bin = new Uint8Array(
  await readFile(new URL("../../../data/stories260K/stories260K.bin", import.meta.url)),
);
const SEQ = 256;
const TOKENS = Int32Array.from({ length: SEQ }, (_, i) => (i * 37 + 11) % 512);

const load = async (backend: ComputeBackend): Promise<LlamaModel> =>
  // attention "js": backend attention packs its K/Vᵀ temporaries too, which would blur the pack count
  loadLlama(await readLlama2c(bin, "stories260K.bin"), { backend, attention: "js" });

/**
 * The edits: one element of q_proj nudged (index 5 is not among the samples of the cache's
 * fingerprint, so only invalidate can reveal it) and down_proj of block 3 pruned to half its entries.
 */
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

describe("the wasm backend sees weights edited through LlamaModel.setLinearWeight", () => {
  const backends: WasmBackend[] = [];
  afterAll(async () => {
    for (const b of backends) await b.dispose();
  });

  for (const threads of [1, 2]) {
    it(`gives a fresh model's logits after an in-place edit (x${threads})`, async () => {
      const backend = threads === 1 ? await createWasmBackend() : await createWasmBackendNode({ threads });
      backends.push(backend);
      expect(backend.threads).toBe(threads);
      const model = await load(backend);
      const before = await model.forward(TOKENS, 1, SEQ); // (SEQ, vocab); packs every weight
      const packed = backend.stats().packCount;
      const changes = edits(model);
      for (const [l, name, w] of changes) model.setLinearWeight(l, name, w);
      const after = await model.forward(TOKENS, 1, SEQ);
      expect(backend.stats().packCount).toBe(packed + changes.length); // exactly the edited ones repacked
      const fresh = await load(backend);
      for (const [l, name, w] of changes) fresh.setLinearWeight(l, name, w);
      expect(after).toEqual(await fresh.forward(TOKENS, 1, SEQ));
      expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-3);
    });
  }

  it("would not see the single-element edit without invalidate (the check above can fail)", async () => {
    const backend = await createWasmBackend();
    backends.push(backend);
    const model = await load(backend);
    const before = await model.forward(TOKENS, 1, SEQ);
    const live = model.getLinearWeight(0, "q_proj");
    live[5] = live[5]! + 0.75; // behind the model's back: no invalidate
    expect(await model.forward(TOKENS, 1, SEQ)).toEqual(before);
    backend.invalidate(live);
    expect(maxAbsDiff(await model.forward(TOKENS, 1, SEQ), before)).toBeGreaterThan(1e-3);
  });
});

// setLinearWeight edits the live weight array in place and tells the backend (ComputeBackend.invalidate),
// so a backend that caches what it derives from a weight by array identity sees the edit on the next
// forward pass. Checked on the plain-JS backend and on a caching stand-in that would go stale without
// the call.
import type { ComputeBackend, MatmulOptions } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { randomLlamaCheckpoint } from "../test/fixtures/memory-checkpoint.ts";
import { createCpuBackend } from "./cpu-backend.ts";
import { type LinearName, type LlamaModel, loadLlama } from "./llama.ts";

const SHAPE = { hidden: 32, intermediate: 48, layers: 2, heads: 4, kvHeads: 2, vocab: 40, seed: 7 };
const TOKENS = Int32Array.from({ length: 12 }, (_, i) => (i * 7 + 3) % 40);

/** A backend that keeps a copy of every weight it sees, keyed by identity, until `invalidate`. */
function copyingBackend(): ComputeBackend & { invalidated: Float32Array[] } {
  const inner = createCpuBackend();
  const copies = new WeakMap<Float32Array, Float32Array>();
  const invalidated: Float32Array[] = [];
  return {
    name: "copying",
    invalidated,
    matmulTransB(x: Float32Array, w: Float32Array, m: number, k: number, n: number, o?: MatmulOptions) {
      let c = copies.get(w);
      if (c === undefined) {
        c = w.slice();
        copies.set(w, c);
      }
      return inner.matmulTransB(x, c, m, k, n, o);
    },
    gramAccumulate: (x, m, k, acc) => inner.gramAccumulate(x, m, k, acc),
    colSqNormAccumulate: (x, m, k, acc) => inner.colSqNormAccumulate(x, m, k, acc),
    invalidate(w: Float32Array): void {
      invalidated.push(w);
      copies.delete(w);
    },
  };
}

/** The edits: one weight nudged at a single element, one pruned to half its entries. */
function edits(model: LlamaModel): [number, LinearName, Float32Array][] {
  const q = model.getLinearWeight(0, "q_proj").slice(); // (out, in)
  q[5] = q[5]! + 0.75;
  const down = model.getLinearWeight(1, "down_proj").slice(); // (out, in)
  for (let i = 0; i < down.length; i += 2) down[i] = 0;
  return [
    [0, "q_proj", q],
    [1, "down_proj", down],
  ];
}

async function expectEditSeen(backend: ComputeBackend): Promise<void> {
  const model = await loadLlama(randomLlamaCheckpoint(SHAPE), { backend });
  const before = await model.forward(TOKENS, 1, TOKENS.length); // (12, vocab); fills any cache
  const changes = edits(model);
  for (const [l, name, w] of changes) model.setLinearWeight(l, name, w);
  const after = await model.forward(TOKENS, 1, TOKENS.length);
  const fresh = await loadLlama(randomLlamaCheckpoint(SHAPE), { backend });
  for (const [l, name, w] of changes) fresh.setLinearWeight(l, name, w);
  const expected = await fresh.forward(TOKENS, 1, TOKENS.length);
  expect(after).toEqual(expected);
  let diff = 0;
  for (let i = 0; i < after.length; i++) diff = Math.max(diff, Math.abs(after[i]! - before[i]!));
  expect(diff).toBeGreaterThan(1e-3);
}

describe("LlamaModel.setLinearWeight and ComputeBackend.invalidate", () => {
  it("invalidates the live array once per successful edit, never on a rejected one", async () => {
    const backend = copyingBackend();
    const model = await loadLlama(randomLlamaCheckpoint(SHAPE), { backend });
    const live = model.getLinearWeight(1, "up_proj");
    const w = live.slice();
    w[0] = 1;
    model.setLinearWeight(1, "up_proj", w);
    expect(backend.invalidated).toHaveLength(1);
    expect(backend.invalidated[0]).toBe(live);
    expect(model.getLinearWeight(1, "up_proj")).toBe(live);
    w[1] = Number.NaN;
    expect(() => model.setLinearWeight(1, "up_proj", w)).toThrow(/non-finite/);
    expect(backend.invalidated).toHaveLength(1);
  });

  it("an in-place edit is seen by the next forward on a backend that caches weight copies", async () => {
    await expectEditSeen(copyingBackend());
  });

  it("the stand-in would go stale without invalidate (the check above can fail)", async () => {
    const backend = copyingBackend();
    const model = await loadLlama(randomLlamaCheckpoint(SHAPE), { backend });
    const before = await model.forward(TOKENS, 1, TOKENS.length);
    model.getLinearWeight(1, "down_proj").fill(0); // in place, behind the model's back
    expect(await model.forward(TOKENS, 1, TOKENS.length)).toEqual(before);
  });

  it("an in-place edit is seen by the next forward on the plain-JS backend", async () => {
    await expectEditSeen(createCpuBackend());
  });
});

// The two-stream pass defers an input's statistics when both streams' inputs are smaller than them
// (a 7B down_proj with few tokens): accumulated later from the kept inputs, they are the pass's own
// statistics bit for bit (the same calls on the same rows in the same order).
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng } from "@mama-prune/core";
import { loadLlama } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { collectBlockStatsTwoStreams } from "./dense-stream.ts";
import { nodeGarbageCollector } from "./node/garbage-collector.ts";
import type { LinearInputStats } from "./stats.ts";

const asArray = (a: Float64Array | undefined): number[] | undefined =>
  a === undefined ? undefined : Array.from(a);

function expectSameStats(got: LinearInputStats | undefined, want: LinearInputStats | undefined): void {
  expect(got).toBeDefined();
  expect(want).toBeDefined();
  expect(got!.tokens).toBe(want!.tokens);
  expect(got!.weightSum).toBe(want!.weightSum);
  for (const key of ["gram", "sqNorm", "weightedSqNorm", "sum", "crossGram", "targetProduct"] as const) {
    expect(asArray(got![key]), key).toEqual(asArray(want![key]));
  }
}

describe("collectBlockStatsTwoStreams: deferred statistics", () => {
  it("defers down_proj's product-statistic input when its inputs are smaller, and gives the pass's statistics bit for bit (batches, sample weights)", {
    timeout: 60_000,
  }, async () => {
    // down_proj: 32 × 520 (product statistic: cols ≥ 512, 2·out < cols); 3 × 24 = 72 tokens < 520 + 32.
    const shape = { hidden: 32, intermediate: 520, layers: 1, heads: 4, kvHeads: 2, vocab: 40 };
    const { checkpoint } = await randomModel({ ...shape, seed: 51 });
    const backend = await createWasmBackend();
    try {
      const model = await loadLlama(checkpoint, { backend });
      const cal = randomWindows(3, 24, shape.vocab, 52);
      const rng = createRng(53);
      const rows = cal.nsamples * cal.seqlen;
      const hidden = Float32Array.from({ length: rows * shape.hidden }, () => rng.normal());
      const denseHidden = Float32Array.from(hidden, (v) => v + 0.1 * rng.normal());
      const rowWeights = Float32Array.from({ length: rows }, (_, t) => 0.5 + Math.floor(t / cal.seqlen));
      const needs = { gram: true, sqNorm: true, weightedSqNorm: true, crossGram: true, targetProduct: true };
      const run = (deferStatistics: boolean) =>
        collectBlockStatsTwoStreams({
          model,
          local: 0,
          hidden,
          denseHidden: new Float32Array(denseHidden),
          calibration: cal,
          batchSize: 2, // two batches, the last one shorter
          rowWeights,
          needs,
          backend,
          signal: undefined,
          deferStatistics,
        });
      const inPass = await run(false);
      const later = await run(true);
      expect(Object.keys(inPass.deferred)).toEqual([]);
      expect(Object.keys(later.deferred)).toEqual(["down"]);
      expect(later.stats.down).toBeUndefined();
      expect(Array.from(later.denseOutput)).toEqual(Array.from(inPass.denseOutput));
      for (const k of ["attn", "o", "mlp"] as const) expectSameStats(later.stats[k], inPass.stats[k]);
      const down = await later.deferred.down!();
      expect(down.targetProduct!.length).toBe(32 * 520);
      expect(down.crossGram).toBeUndefined();
      expectSameStats(down, inPass.stats.down);
      // Not a vacuous comparison: the statistics are nonzero and the weights took effect.
      expect(down.gram!.some((v) => v !== 0)).toBe(true);
      expect(down.targetProduct!.some((v) => v !== 0)).toBe(true);
      expect(down.weightSum).toBe(24 * (0.5 + 1.5 + 2.5));

      // The deferred call holds its own inputs only: the other inputs' statistics, dropped by the
      // caller (as prune drops them after their last linear), are collectable while it waits.
      const gc = nodeGarbageCollector();
      const fresh = await run(true);
      const refs = (["attn", "o", "mlp"] as const).flatMap((k) => [
        new WeakRef(fresh.stats[k]!.gram!),
        new WeakRef(fresh.stats[k]!.crossGram!),
      ]);
      for (const k of ["attn", "o", "mlp"] as const) delete fresh.stats[k];
      await new Promise((r) => setTimeout(r, 0)); // WeakRef targets are kept until the job ends
      gc();
      expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
      expectSameStats(await fresh.deferred.down!(), inPass.stats.down);
    } finally {
      await backend.dispose?.();
    }
  });
});

// PruneOptions.collectGarbage: called at the run's memory boundaries (each calibration batch of the
// two-stream pass, each linear's start, after a deferred input's statistics, MAMA before its sweep
// and its polish), never changing a result; and
// Node's hook (nodeGarbageCollector) really collects, also in a process started without --expose-gc.
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { LINEAR_NAMES } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { collectGarbageNow } from "./collect-garbage.ts";
import { nodeGarbageCollector } from "./node/garbage-collector.ts";
import { prune } from "./prune.ts";

describe("nodeGarbageCollector", () => {
  it("returns a gc that clears a WeakRef to a dropped ArrayBuffer", async () => {
    const gc = nodeGarbageCollector();
    const ref = ((): WeakRef<ArrayBuffer> => new WeakRef(new ArrayBuffer(4 << 20)))();
    await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the job ends
    expect(gc()).toBeUndefined();
    expect(ref.deref()).toBeUndefined();
  });
});

describe("PruneOptions.collectGarbage", () => {
  it("is called at each linear's start and inside MAMA's sweep path, and the weights stay bit for bit", {
    timeout: 120_000,
  }, async () => {
    // down_proj 32 × 520: the product statistic, deferred (3 × 24 tokens < 552), MAMA's sweep path.
    const shape = { hidden: 32, intermediate: 520, layers: 1, heads: 4, kvHeads: 2, vocab: 40 };
    const { checkpoint } = await randomModel({ ...shape, seed: 61 });
    const cal = randomWindows(3, 24, shape.vocab, 62);
    const backend = await createWasmBackend();
    try {
      let calls = 0;
      const run = (hook: boolean) =>
        prune({
          checkpoint,
          backend,
          method: "mama",
          sparsity: 0.5,
          calibration: cal,
          batchSize: 2,
          methodOptions: { path: "wide" },
          ...(hook ? { collectGarbage: () => void calls++ } : {}),
        });
      const plain = await run(false);
      expect(calls).toBe(0);
      const hooked = await run(true);
      const sweepPath = hooked.report.linears.filter((r) => r.refitSolver === "sweep").length;
      expect(sweepPath).toBeGreaterThan(0);
      // 2 calibration batches + 7 linear starts + 1 after down_proj's deferred statistics + 2 per
      // sweep-path linear.
      expect(calls).toBe(2 + LINEAR_NAMES.length + 1 + 2 * sweepPath);
      for (const name of LINEAR_NAMES) {
        expect(Array.from(hooked.model.getLinearWeight(0, name)), name).toEqual(
          Array.from(plain.model.getLinearWeight(0, name)),
        );
      }
    } finally {
      await backend.dispose?.();
    }
  });
});

describe("collectGarbageNow", () => {
  it("runs the hook after the current job, when a pool's WeakRef made in it no longer keeps its buffer", async () => {
    const gc = nodeGarbageCollector();
    const sameJob = new WeakRef(new ArrayBuffer(4 << 20));
    gc();
    expect(sameJob.deref()).toBeDefined(); // KeepDuringJob: a collection in this job cannot free it
    const pooled = new WeakRef(new ArrayBuffer(4 << 20)); // as BufferPool.give, in this job
    let ran = 0;
    await collectGarbageNow(() => {
      ran++;
      gc();
    });
    expect(ran).toBe(1);
    expect(pooled.deref()).toBeUndefined();
    await collectGarbageNow(undefined); // no hook: nothing to run
  });
});

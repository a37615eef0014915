import { distill, initLlamaParams, paramsCheckpoint, sparsityOf, withLinearsFrom } from "@mama-prune/distill";
import { prune } from "@mama-prune/pipeline";
import { describe, expect, it } from "vitest";
import { paragraphsWith } from "./common.ts";

describe("examples/distill", () => {
  it("prunes a tiny generated model with the pipeline, then distills it without losing sparsity", async () => {
    const dense = initLlamaParams({
      hiddenSize: 16,
      intermediateSize: 32,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      vocabSize: 32,
      maxPositionEmbeddings: 64,
      std: 0.3,
      seed: 2,
    });
    const { model } = await prune({
      checkpoint: paramsCheckpoint(dense),
      method: "magnitude",
      sparsity: 0.5,
    });
    const student = withLinearsFrom(dense, model);
    const s0 = sparsityOf(student);
    expect(s0).toBeCloseTo(0.5, 2);
    const tokens = Int32Array.from({ length: 2000 }, (_, i) => (i * 7) % 32);
    const report = await distill({
      student,
      teacher: dense,
      tokens,
      steps: 15,
      lr: 5e-3,
      seqLen: 16,
      batch: 2,
      temperature: 2,
    });
    expect(sparsityOf(student)).toBe(s0);
    expect(report.losses.at(-1)!).toBeLessThan(report.losses[0]!);
  });

  it("selects the paragraphs that use a word", () => {
    expect(paragraphsWith("A park.\n\nNo.\n\nThe Park is big.\n\nparking", "park")).toEqual([
      "A park.",
      "The Park is big.",
    ]);
  });
});

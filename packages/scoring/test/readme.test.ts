// Keeps the README quick start honest: the same code, with the output asserted.
import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { runScorer, selectMask, wanda } from "../src/index.ts";

describe("README quick start", () => {
  it("prints the mask shown in the README", async () => {
    const weight = matrix(2, 4, new Float32Array([1, -2, 3, -4, 0.5, 0.1, -0.2, 8]));
    const activationNorms = new Float32Array([4, 1, 1, 0.1]);
    const scores = await runScorer(wanda(), {
      name: "mlp.up_proj.weight",
      weight,
      activationNorms,
      log: SILENT_LOGGER,
    });
    expect(Array.from(selectMask(scores, 2, 4, { sparsity: 0.5, group: "row" }))).toEqual([
      1, 0, 1, 0, 1, 0, 0, 1,
    ]);
  });
});

import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { expectClose as close, ctxOf, m } from "../../test/helpers.ts";
import { wanda } from "./wanda.ts";

describe("wanda", () => {
  const w = m([
    [1, -2],
    [3, 4],
  ]);
  it("scores |W_ij|·‖X_j‖₂ by default (alpha = 1)", async () => {
    close(await wanda().score(ctxOf(w, { activationNorms: new Float32Array([2, 0.5]) })), [2, 1, 6, 2]);
  });
  it("raises the norm to alpha", async () => {
    close(
      await wanda({ alpha: 2 }).score(ctxOf(w, { activationNorms: new Float32Array([2, 0.5]) })),
      [4, 0.5, 12, 1],
    );
    close(
      await wanda({ alpha: 0 }).score(ctxOf(w, { activationNorms: new Float32Array([2, 0.5]) })),
      [1, 2, 3, 4],
    );
  });
  it("uses the reward-weighted norms when asked", async () => {
    const p = wanda({ activations: "sample-weighted" });
    expect(p.requires).toEqual(["sample-weighted-activation-norms"]);
    const s = await p.score(ctxOf(w, { sampleWeightedActivationNorms: new Float32Array([1, 10]) }));
    close(s, [1, 20, 3, 40]);
  });
  it("rejects bad options and a missing input", async () => {
    expect(() => wanda({ alpha: -1 })).toThrow(RangeError);
    expect(() => wanda({ alpha: Number.NaN })).toThrow(RangeError);
    await expect(async () => wanda().score(ctxOf(w))).rejects.toSatisfy((e) =>
      isPruneError(e, "SCORER_INPUT_MISSING"),
    );
  });
});

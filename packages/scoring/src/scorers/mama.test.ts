import { describe, expect, it } from "vitest";
import { expectClose as close, ctxOf, m } from "../../test/helpers.ts";
import { mama } from "./mama.ts";

describe("mama", () => {
  const w = m([[1, -2, 3]]);
  const norms = new Float32Array([3, 1, 0.5]); // activation term |W|·‖X‖ = [3, 2, 1.5]
  it("is the per-row rank of |W| with only the magnitude term", async () => {
    close(await mama({ useActivations: false }).score(ctxOf(w)), [0, 0.5, 1]);
  });
  it("averages the rank-normalised magnitude and activation terms", async () => {
    const p = mama();
    expect(p.requires).toEqual(["weights", "activation-norms"]);
    close(await p.score(ctxOf(w, { activationNorms: norms })), [0.5, 0.5, 0.5]);
    const weighted = mama({ magnitudeWeight: 3, activationWeight: 1 });
    close(await weighted.score(ctxOf(w, { activationNorms: norms })), [0.25, 0.5, 0.75]);
  });
  it("adds the movement term W¹(W¹ − W⁰) when declared", async () => {
    const p = mama({ useActivations: false, useMovement: true });
    expect(p.requires).toEqual(["weights", "pre-weights"]);
    // movement = [1·1, −2·0, 3·(−1)] = [1, 0, −3] → ranks [1, 0.5, 0]; magnitude ranks [0, 0.5, 1]
    close(await p.score(ctxOf(w, { preWeight: m([[0, -2, 4]]) })), [0.5, 0.5, 0.5]);
    const movOnly = mama({ useActivations: false, useMovement: true, magnitudeWeight: 0 });
    close(await movOnly.score(ctxOf(w, { preWeight: m([[0, -2, 4]]) })), [1, 0.5, 0]);
  });
  it("drops a term whose weight is 0 from requires and renormalises the rest", async () => {
    const p = mama({ activationWeight: 0, useMovement: true, movementWeight: 2, magnitudeWeight: 2 });
    expect(p.requires).toEqual(["weights", "pre-weights"]);
    close(await p.score(ctxOf(w, { preWeight: m([[0, -2, 4]]) })), [0.5, 0.5, 0.5]);
  });
  it("normalises by z-score within the group", async () => {
    const k = Math.sqrt(1.5); // (x − 2)/sqrt(2/3) for x = 1, 2, 3
    close(await mama({ useActivations: false, normalize: "zscore" }).score(ctxOf(w)), [-k, 0, k], 1e-5);
  });
  it("normalises per row or over the whole matrix", async () => {
    const w2 = m([
      [1, 2],
      [10, 20],
    ]);
    close(await mama({ useActivations: false }).score(ctxOf(w2)), [0, 1, 0, 1]);
    close(await mama({ useActivations: false, group: "matrix" }).score(ctxOf(w2)), [0, 1 / 3, 2 / 3, 1]);
  });
  it("uses reward-weighted norms with useSampleWeights", async () => {
    const p = mama({ useSampleWeights: true, magnitudeWeight: 0 });
    expect(p.requires).toEqual(["weights", "sample-weighted-activation-norms"]);
    close(await p.score(ctxOf(w, { sampleWeightedActivationNorms: norms })), [1, 0.5, 0]);
  });
  it("rejects invalid coefficients", () => {
    expect(() => mama({ magnitudeWeight: -1 })).toThrow(RangeError);
    expect(() => mama({ magnitudeWeight: 0, useActivations: false })).toThrow(RangeError);
    expect(() => mama({ normalize: "minmax" as "rank" })).toThrow(RangeError);
    expect(() => mama({ group: "block" as "row" })).toThrow(RangeError);
  });
});

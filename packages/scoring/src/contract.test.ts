import { describe, expect, it } from "vitest";
import { SCORER_INPUTS, validateScorerMetadata } from "./contract.ts";
import { magnitude } from "./scorers/magnitude.ts";

describe("validateScorerMetadata", () => {
  it("accepts kebab-case and scope/name, rejects the rest", () => {
    const ok = (name: string): boolean => validateScorerMetadata({ ...magnitude(), name }).length === 0;
    expect(["wanda", "negative-magnitude", "acme/taylor-score", "@acme/taylor", "a2"].every(ok)).toBe(true);
    expect(["", "Wanda", "a--b", "-a", "a/b/c", "a_b", "a b"].some(ok)).toBe(false);
    expect(validateScorerMetadata({ ...magnitude(), requires: ["weights", "weights"] })).toEqual([
      'requires lists "weights" twice.',
    ]);
    expect(validateScorerMetadata(null)).toEqual(["plugin must be an object"]);
  });
});

describe("SCORER_INPUTS", () => {
  it("lists the six inputs of API version 1", () => {
    expect(SCORER_INPUTS).toEqual([
      "weights",
      "activation-norms",
      "activation-mean",
      "pre-weights",
      "gradients",
      "sample-weighted-activation-norms",
    ]);
  });
});

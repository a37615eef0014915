import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { methodConformance } from "@mama-prune/pipeline/conformance";
import { runScorer, wanda } from "@mama-prune/scoring";
import { scorerConformance } from "@mama-prune/scoring/conformance";
import { describe, expect, it } from "vitest";
import { activationPower, method } from "./plugin.ts";

describe("acme/activation-power conformance", () => {
  for (const c of scorerConformance(activationPower())) it(c.name, c.run);
});

describe("acme/power-refit method conformance", () => {
  for (const c of methodConformance(method())) it(c.name, c.run);
});

describe("method", () => {
  it("is the plugin's scorer in the row group with the refit, labelled with its power", () => {
    const m = method({ power: 1 });
    expect([m.name, m.label, m.group, m.redistribution, m.apiVersion]).toEqual([
      "acme/power-refit",
      "acme p=1 + refit",
      "row",
      "refit",
      1,
    ]);
    expect(() => method({ power: -1 })).toThrow(RangeError);
  });
});

describe("activationPower", () => {
  const weight = matrix(2, 3, new Float32Array([1, -2, 3, -4, 5, -6]));
  const activationNorms = new Float32Array([4, 1, 9]);
  const ctx = { name: "w", weight, activationNorms, log: SILENT_LOGGER };

  it("scores |W_ij| · ‖X_j‖^p (hand-computed for p = 0.5)", async () => {
    expect(Array.from(await runScorer(activationPower(), ctx))).toEqual([2, 2, 9, 8, 5, 18]);
  });

  it("equals Wanda at p = 1 and magnitude at p = 0", async () => {
    expect(Array.from(await runScorer(activationPower({ power: 1 }), ctx))).toEqual(
      Array.from(await runScorer(wanda(), ctx)),
    );
    expect(Array.from(await runScorer(activationPower({ power: 0 }), ctx))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("refuses a negative power", () => {
    expect(() => activationPower({ power: -1 })).toThrow(RangeError);
  });
});

import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { ctxOf } from "../../test/helpers.ts";
import { scorerConformance } from "../conformance/index.ts";
import type { ScorerPlugin } from "../contract.ts";
import { runScorer } from "../run-scorer.ts";
import { magnitude, negativeMagnitude } from "./magnitude.ts";
import { mama } from "./mama.ts";
import { movement } from "./movement.ts";
import { ria } from "./ria.ts";
import { wanda } from "./wanda.ts";

const VARIANTS: ScorerPlugin[] = [
  magnitude(),
  negativeMagnitude(),
  wanda(),
  wanda({ alpha: 0.5, activations: "sample-weighted" }),
  movement(),
  movement({ source: "gradients" }),
  ria(),
  ria({ useActivations: false }),
  mama(),
  mama({ useMovement: true, normalize: "zscore" }),
  mama({ useMovement: true, useSampleWeights: true, group: "matrix" }),
];

describe("built-in scorers", () => {
  for (const [v, p] of VARIANTS.entries()) {
    describe(`variant ${v}: ${p.name} requiring ${p.requires.join(", ")}`, () => {
      for (const c of scorerConformance(p)) it(c.name, c.run);
    });
  }
  it("all pass through runScorer on a realistic-shape tensor", async () => {
    const rng = createRng(1);
    const [r, c] = [96, 80];
    const weight = { rows: r, cols: c, data: Float32Array.from({ length: r * c }, () => rng.normal()) };
    const ctx = ctxOf(weight, {
      activationNorms: Float32Array.from({ length: c }, () => Math.abs(rng.normal())),
      sampleWeightedActivationNorms: Float32Array.from({ length: c }, () => Math.abs(rng.normal())),
      preWeight: { rows: r, cols: c, data: weight.data.map((x) => x + rng.normal() * 0.1) },
      gradients: { rows: r, cols: c, data: weight.data.map(() => rng.normal()) },
    });
    for (const p of VARIANTS) expect((await runScorer(p, ctx)).length).toBe(r * c);
  });
});

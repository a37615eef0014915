import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { ctxOf, m } from "../../test/helpers.ts";
import { scorerConformance } from "../conformance/index.ts";
import type { ScorerPlugin } from "../contract.ts";
import { runScorer } from "../run-scorer.ts";
import { magnitude, negativeMagnitude } from "./magnitude.ts";
import { mama } from "./mama.ts";
import { movement } from "./movement.ts";
import { ria } from "./ria.ts";
import { wanda } from "./wanda.ts";

const close = (a: Float32Array, b: number[], tol = 1e-6): void => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(tol);
  });
};

describe("magnitude", () => {
  it("scores |W|", async () => {
    close(
      await magnitude().score(
        ctxOf(
          m([
            [-2, 0.5],
            [0, 3],
          ]),
        ),
      ),
      [2, 0.5, 0, 3],
    );
  });
});

describe("negativeMagnitude", () => {
  it("scores −|W| so the largest weights are pruned first, with +0 for zero weights", async () => {
    const s = await negativeMagnitude().score(
      ctxOf(
        m([
          [-2, 0.5],
          [0, 3],
        ]),
      ),
    );
    close(s, [-2, -0.5, 0, -3]);
    expect(Object.is(s[2], 0)).toBe(true);
  });
});

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

describe("movement", () => {
  const post = m([
    [2, 0.5],
    [-1, -3],
  ]);
  const pre = m([
    [1, 1],
    [-2, -1],
  ]);
  it("scores W¹·(W¹ − W⁰), sign-aware", async () => {
    // grew (2), shrank toward 0 (−0.25), shrank toward 0 from below (−1), grew more negative (6)
    close(await movement().score(ctxOf(post, { preWeight: pre })), [2, -0.25, -1, 6]);
  });
  it("scores −W·∂L/∂W from gradients", async () => {
    const g = m([
      [1, -2],
      [0.5, 0],
    ]);
    const p = movement({ source: "gradients" });
    expect(p.requires).toEqual(["gradients"]);
    const s = await p.score(ctxOf(post, { gradients: g }));
    close(s, [-2, 1, 0.5, 0]);
    expect(Object.is(s[3], 0)).toBe(true);
  });
  it("rejects a pre-weight of another shape", async () => {
    await expect(async () => movement().score(ctxOf(post, { preWeight: m([[1, 2, 3]]) }))).rejects.toSatisfy(
      (e) => isPruneError(e, "SHAPE_MISMATCH"),
    );
  });
});

describe("ria", () => {
  const w = m([
    [1, 3],
    [1, 0],
  ]);
  it("scores relative importance without activations (hand-computed)", async () => {
    // col sums [2, 3], row sums [4, 1]: 1/2+1/4, 3/3+3/4, 1/2+1/1, 0
    close(await ria({ useActivations: false }).score(ctxOf(w)), [0.75, 1.75, 1.5, 0]);
  });
  it("multiplies by ‖X_j‖₂^a (a = 0.5 by default)", async () => {
    close(await ria().score(ctxOf(w, { activationNorms: new Float32Array([4, 9]) })), [1.5, 5.25, 3, 0]);
    close(
      await ria({ a: 1 }).score(ctxOf(w, { activationNorms: new Float32Array([4, 9]) })),
      [3, 15.75, 6, 0],
    );
  });
  it("gives 0, not NaN, for all-zero rows and columns", async () => {
    const s = await ria({ useActivations: false }).score(
      ctxOf(
        m([
          [0, 1],
          [0, 0],
        ]),
      ),
    );
    close(s, [0, 2, 0, 0]);
  });
  it("matches a direct evaluation of the formula on a random matrix", async () => {
    const rng = createRng(9);
    const [r, c] = [6, 5];
    const data = Float32Array.from({ length: r * c }, () => rng.normal());
    const norms = Float32Array.from({ length: c }, () => Math.abs(rng.normal()) + 0.1);
    const s = await ria({ a: 0.7 }).score(ctxOf({ rows: r, cols: c, data }, { activationNorms: norms }));
    for (let i = 0; i < r; i++)
      for (let j = 0; j < c; j++) {
        let col = 0;
        let row = 0;
        for (let k = 0; k < r; k++) col += Math.abs(data[k * c + j]!);
        for (let k = 0; k < c; k++) row += Math.abs(data[i * c + k]!);
        const x = Math.abs(data[i * c + j]!);
        expect(s[i * c + j]).toBeCloseTo((x / col + x / row) * norms[j]! ** 0.7, 5);
      }
  });
});

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

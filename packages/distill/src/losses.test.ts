import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { crossEntropyLoss, distillLoss, grpoLoss, tokenLogProbs } from "./losses.ts";

function rand(n: number, seed: number, scale = 1): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => scale * rng.normal());
}

function fdCheck(x: Float64Array, loss: () => number, grad: ArrayLike<number>, tol = 1e-7): void {
  const h = 1e-6;
  let maxAbs = 0;
  for (let i = 0; i < grad.length; i++) maxAbs = Math.max(maxAbs, Math.abs(grad[i]!));
  expect(maxAbs).toBeGreaterThan(1e-4);
  for (let i = 0; i < x.length; i++) {
    const old = x[i]!;
    x[i] = old + h;
    const lp = loss();
    x[i] = old - h;
    const lm = loss();
    x[i] = old;
    expect(Math.abs(grad[i]! - (lp - lm) / (2 * h)), `index ${i}`).toBeLessThan(tol);
  }
}

describe("crossEntropyLoss", () => {
  it("equals a hand-computed value", () => {
    // logits [0, ln 3] → p = [1/4, 3/4]; target 0 → −ln(1/4).
    const { loss, dLogits } = crossEntropyLoss(Float64Array.of(0, Math.log(3)), Int32Array.of(0), 1, 2);
    expect(loss).toBeCloseTo(Math.log(4), 14);
    expect(dLogits[0]).toBeCloseTo(-0.75, 14);
    expect(dLogits[1]).toBeCloseTo(0.75, 14);
  });

  it("matches central differences with skipped rows and weights", () => {
    const x = rand(4 * 5, 1, 2);
    const t = Int32Array.of(1, -1, 4, 0);
    const w = Float64Array.of(0.5, 9, 2, 1);
    fdCheck(x, () => crossEntropyLoss(x, t, 4, 5, w).loss, crossEntropyLoss(x, t, 4, 5, w).dLogits);
  });

  it("rejects a target outside the vocabulary", () => {
    expect(() => crossEntropyLoss(new Float64Array(4), Int32Array.of(0, 2), 2, 2)).toThrow(
      /target 2 at row 1/,
    );
  });
});

describe("distillLoss", () => {
  it("is zero with zero gradient when student equals teacher, positive otherwise", () => {
    const t = rand(3 * 6, 2);
    const same = distillLoss(Float64Array.from(t), t, 3, 6, { temperature: 2 });
    expect(same.loss).toBeCloseTo(0, 14);
    for (const g of same.dLogits) expect(Math.abs(g)).toBeLessThan(1e-15);
    expect(distillLoss(rand(18, 3), t, 3, 6, { temperature: 2 }).loss).toBeGreaterThan(0.01);
  });

  it("equals T²·KL computed by hand for one row", () => {
    const s = Float64Array.of(0, 1);
    const t = Float64Array.of(1, 0);
    const T = 2;
    const p = [Math.exp(0.5) / (1 + Math.exp(0.5)), 1 / (1 + Math.exp(0.5))];
    const q = [p[1]!, p[0]!];
    const kl = p[0]! * Math.log(p[0]! / q[0]!) + p[1]! * Math.log(p[1]! / q[1]!);
    expect(distillLoss(s, t, 1, 2, { temperature: T }).loss).toBeCloseTo(T * T * kl, 14);
  });

  for (const [T, alpha] of [
    [1, 0],
    [2.5, 0],
    [2, 0.3],
  ] as const) {
    it(`matches central differences (T=${T}, alpha=${alpha})`, () => {
      const s = rand(3 * 7, 4, 2);
      const t = rand(3 * 7, 5, 2);
      const targets = Int32Array.of(3, -1, 6);
      const opts = { temperature: T, alpha, targets };
      fdCheck(s, () => distillLoss(s, t, 3, 7, opts).loss, distillLoss(s, t, 3, 7, opts).dLogits);
    });
  }

  it("rejects bad options", () => {
    const x = new Float64Array(4);
    expect(() => distillLoss(x, x, 2, 2, { temperature: 0 })).toThrow(/temperature/);
    expect(() => distillLoss(x, x, 2, 2, { alpha: 0.5 })).toThrow(/targets/);
  });
});

describe("grpoLoss", () => {
  it("matches central differences with the k3 KL penalty", () => {
    const rows = 5;
    const V = 6;
    const x = rand(rows * V, 6, 1.5);
    const targets = Int32Array.of(2, 5, -1, 0, 1);
    const refLogProbs = Float64Array.from(tokenLogProbs(rand(rows * V, 7), targets, rows, V), (v) =>
      Number.isNaN(v) ? 0 : v,
    );
    const opts = {
      targets,
      advantages: Float64Array.of(1.2, 1.2, 0, -0.7, -0.7),
      refLogProbs,
      oldLogProbs: Float64Array.from(tokenLogProbs(x, targets, rows, V), (v) =>
        Number.isNaN(v) ? 0 : v - 0.1,
      ),
      beta: 0.3,
      rowScale: Float64Array.of(0.5, 0.5, 0, 0.25, 0.25),
    };
    fdCheck(x, () => grpoLoss(x, rows, V, opts).loss, grpoLoss(x, rows, V, opts).dLogits);
  });

  it("k3 is zero when the policy equals the reference, and positive otherwise", () => {
    const x = rand(2 * 4, 8);
    const targets = Int32Array.of(1, 3);
    const lp = tokenLogProbs(x, targets, 2, 4);
    const base = { targets, advantages: new Float64Array(2), beta: 1, rowScale: Float64Array.of(1, 1) };
    expect(grpoLoss(x, 2, 4, { ...base, refLogProbs: lp }).kl).toBeCloseTo(0, 14);
    expect(
      grpoLoss(x, 2, 4, { ...base, refLogProbs: Float64Array.from(lp, (v) => v - 0.5) }).kl,
    ).toBeGreaterThan(0.1);
  });
});

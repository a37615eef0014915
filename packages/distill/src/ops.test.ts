import { createRng } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import {
  type AttentionShape,
  applyRopeRows,
  attentionBackward,
  attentionForward,
  backendLinalg,
  buildRopeTables,
  float64Linalg,
  rmsNormBackward,
  rmsNormForward,
  swigluBackward,
  swigluForward,
  transposeF32,
} from "./ops.ts";

function rand(n: number, seed: number, scale = 1): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => scale * rng.normal());
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Central difference of L(x) = Σ c ⊙ f(x) with respect to every entry of x, in float64. */
function fdGrad(x: Float64Array, f: () => ArrayLike<number>, c: ArrayLike<number>, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length); // (x.length,)
  for (let i = 0; i < x.length; i++) {
    const old = x[i]!;
    x[i] = old + h;
    const lp = dot(f(), c);
    x[i] = old - h;
    const lm = dot(f(), c);
    x[i] = old;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let maxAbs = 0;
  for (let i = 0; i < b.length; i++) maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
  expect(maxAbs).toBeGreaterThan(0);
  for (let i = 0; i < a.length; i++)
    expect(Math.abs(a[i]! - b[i]!), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThan(tol * (1 + maxAbs));
}

describe("rmsNormBackward", () => {
  it("matches central differences for x and w", () => {
    const rows = 3;
    const dim = 7;
    const x = rand(rows * dim, 1);
    const w = rand(dim, 2);
    const c = rand(rows * dim, 3);
    const f = () => rmsNormForward(x, w, rows, dim, 1e-5).y;
    const { r } = rmsNormForward(x, w, rows, dim, 1e-5);
    const dw = new Float64Array(dim); // (dim,)
    const dx = rmsNormBackward(c, x, w, r, rows, dim, dw);
    expectClose(dx, fdGrad(x, f, c), 1e-8);
    expectClose(dw, fdGrad(w, f, c), 1e-8);
  });
});

describe("applyRopeRows", () => {
  it("inverse rotation is the backward of the forward (central differences)", () => {
    const rows = 6;
    const heads = 2;
    const hd = 8;
    const rope = buildRopeTables(3, hd, 10000);
    const x = rand(rows * heads * hd, 4);
    const c = rand(rows * heads * hd, 5);
    const f = () => {
      const y = Float64Array.from(x);
      applyRopeRows(y, rows, heads, hd, 3, rope, false);
      return y;
    };
    const dx = Float64Array.from(c);
    applyRopeRows(dx, rows, heads, hd, 3, rope, true);
    expectClose(dx, fdGrad(x, f, c), 1e-8);
    // And position 0 is the identity, position 1 is not.
    const y = f();
    for (let i = 0; i < heads * hd; i++) expect(y[i]).toBe(x[i]);
    expect(y[heads * hd + 1]).not.toBe(x[heads * hd + 1]);
  });
});

describe("attentionBackward", () => {
  for (const slidingWindow of [undefined, 2]) {
    it(`matches central differences for q, k, v with GQA (window ${slidingWindow ?? "none"})`, () => {
      const s: AttentionShape = {
        batch: 2,
        seqLen: 4,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 4,
        slidingWindow,
      };
      const rows = s.batch * s.seqLen;
      const q = rand(rows * 16, 6);
      const k = rand(rows * 8, 7);
      const v = rand(rows * 8, 8);
      const c = rand(rows * 16, 9);
      const f = () => attentionForward(q, k, v, s).out;
      const { probs } = attentionForward(q, k, v, s);
      const { dq, dk, dv } = attentionBackward(c, q, k, v, probs, s);
      expectClose(dq, fdGrad(q, f, c), 1e-8);
      expectClose(dk, fdGrad(k, f, c), 1e-8);
      expectClose(dv, fdGrad(v, f, c), 1e-8);
    });
  }

  it("is causal: the first query sees only the first key", () => {
    const s: AttentionShape = {
      batch: 1,
      seqLen: 3,
      numHeads: 1,
      numKvHeads: 1,
      headDim: 2,
      slidingWindow: undefined,
    };
    const v = Float64Array.of(1, 2, 30, 40, 500, 600);
    const { out, probs } = attentionForward(rand(6, 1), rand(6, 2), v, s);
    expect([out[0], out[1]]).toEqual([1, 2]);
    expect([probs[1], probs[2], probs[5]]).toEqual([0, 0, 0]);
    expect(probs[3]! + probs[4]!).toBeCloseTo(1, 14);
  });
});

describe("swigluBackward", () => {
  it("matches central differences for gate and up", () => {
    const g = rand(20, 10, 2);
    const u = rand(20, 11);
    const c = rand(20, 12);
    const { dg, du } = swigluBackward(c, g, u);
    expectClose(
      dg,
      fdGrad(g, () => swigluForward(g, u), c),
      1e-8,
    );
    expectClose(
      du,
      fdGrad(u, () => swigluForward(g, u), c),
      1e-8,
    );
  });
});

describe("backendLinalg", () => {
  it("computes x·wᵀ, dy·w and dyᵀ·x like the float64 loops", async () => {
    const m = 9;
    const k = 13;
    const n = 6;
    const x = Float32Array.from(rand(m * k, 1));
    const w = Float32Array.from(rand(n * k, 2));
    const dy = Float32Array.from(rand(m * n, 3));
    const b = Float32Array.from(rand(n, 4));
    const la = backendLinalg(createCpuBackend());
    const ref = float64Linalg();
    expectClose(await la.linear(x, w, m, k, n, b), await ref.linear(x, w, m, k, n, b), 1e-5);
    expectClose(await la.linearGradInput(dy, w, m, k, n), await ref.linearGradInput(dy, w, m, k, n), 1e-5);
    const dw = new Float32Array(n * k).fill(1); // (n, k) accumulates onto 1
    const dwRef = new Float64Array(n * k).fill(1); // (n, k)
    await la.linearGradWeight(dy, x, m, k, n, dw);
    await ref.linearGradWeight(dy, x, m, k, n, dwRef);
    expectClose(dw, dwRef, 1e-5);
  });

  it("transposes exactly", () => {
    const a = Float32Array.from({ length: 30 }, (_, i) => i);
    const t = transposeF32(a, 3, 10);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 10; j++) expect(t[j * 3 + i]).toBe(a[i * 10 + j]);
  });
});

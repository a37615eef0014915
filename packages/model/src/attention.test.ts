import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { causalAttention, causalAttentionWindows } from "./attention.ts";

function rand(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => rng.normal());
}

describe("causalAttention", () => {
  const heads = { numHeads: 4, numKvHeads: 2, headDim: 6, slidingWindow: undefined };
  const qDim = 24;
  const kvDim = 12;

  it("equals a naive one-query-at-a-time float64 softmax (GQA, past keys, ragged tile) and reports its probabilities", () => {
    const nQ = 7;
    const past = 3;
    const keys = past + nQ;
    const q = rand(nQ * qDim, 1);
    const k = rand(keys * kvDim, 2);
    const v = rand(keys * kvDim, 3);
    const out = new Float64Array(nQ * qDim);
    const probs = new Float64Array(heads.numHeads * nQ * keys);
    causalAttention(q, k, v, out, nQ, past, heads, probs);
    let maxErr = 0;
    for (let h = 0; h < 4; h++) {
      const ko = Math.floor(h / 2) * 6;
      for (let i = 0; i < nQ; i++) {
        const s: number[] = [];
        for (let j = 0; j <= past + i; j++) {
          let d = 0;
          for (let t = 0; t < 6; t++) d += q[i * qDim + h * 6 + t]! * k[j * kvDim + ko + t]!;
          s.push(d / Math.sqrt(6));
        }
        const m = Math.max(...s);
        const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
        for (let j = 0; j < keys; j++) {
          const p = j < s.length ? Math.exp(s[j]! - m) / z : 0;
          maxErr = Math.max(maxErr, Math.abs(probs[(h * nQ + i) * keys + j]! - p));
        }
        for (let t = 0; t < 6; t++) {
          let o = 0;
          for (let j = 0; j < s.length; j++) o += (Math.exp(s[j]! - m) / z) * v[j * kvDim + ko + t]!;
          maxErr = Math.max(maxErr, Math.abs(out[i * qDim + h * 6 + t]! - o));
        }
      }
    }
    expect(maxErr).toBeLessThan(1e-12);
  });

  it("gives the same output with and without probs, and windows = one call per window", () => {
    const T = 5;
    const q = Float32Array.from(rand(2 * T * qDim, 4));
    const k = Float32Array.from(rand(2 * T * kvDim, 5));
    const v = Float32Array.from(rand(2 * T * kvDim, 6));
    const sw = { ...heads, slidingWindow: 2 };
    const a = new Float32Array(2 * T * qDim);
    const b = new Float32Array(2 * T * qDim);
    const probs = new Float32Array(2 * 4 * T * T);
    causalAttentionWindows(q, k, v, a, 2, T, sw);
    causalAttentionWindows(q, k, v, b, 2, T, sw, probs);
    expect(Array.from(b)).toEqual(Array.from(a));
    const c = new Float32Array(T * qDim);
    causalAttention(q.subarray(T * qDim), k.subarray(T * kvDim), v.subarray(T * kvDim), c, T, 0, sw);
    expect(Array.from(c)).toEqual(Array.from(a.subarray(T * qDim)));
    // Sliding window 2: each probability row has at most 2 non-zeros and sums to 1.
    for (let r = 0; r < 2 * 4 * T; r++) {
      const row = probs.subarray(r * T, (r + 1) * T);
      expect(row.filter((x) => x !== 0).length).toBeLessThanOrEqual(2);
      expect(Math.abs(row.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-6);
    }
  });
});

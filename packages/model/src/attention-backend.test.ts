import { type ComputeBackend, createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { causalAttention, causalAttentionWindows } from "./attention.ts";
import {
  causalAttentionBackend,
  causalAttentionWindowsBackend,
  windowAttention,
} from "./attention-backend.ts";
import { createCpuBackend } from "./cpu-backend.ts";

function rand(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** A backend that counts calls and invalidations (wrapping the JS one). */
function countingBackend(): ComputeBackend & { calls: number; invalidated: number } {
  const inner = createCpuBackend();
  const b = {
    name: "counting",
    calls: 0,
    invalidated: 0,
    matmulTransB: (...a: Parameters<ComputeBackend["matmulTransB"]>) => {
      b.calls++;
      return inner.matmulTransB(...a);
    },
    gramAccumulate: inner.gramAccumulate.bind(inner),
    colSqNormAccumulate: inner.colSqNormAccumulate.bind(inner),
    invalidate: () => {
      b.invalidated++;
    },
  };
  return b;
}

describe("causalAttentionBackend (QKᵀ and P·V as backend matmuls)", () => {
  const cases = [
    { label: "GQA 8/2, head dim 16, 300 queries (3 query chunks)", nH: 8, nKv: 2, hd: 16, nQ: 300, past: 0 },
    { label: "MHA 4/4, head dim 6, 7 queries after 5 cached", nH: 4, nKv: 4, hd: 6, nQ: 7, past: 5 },
    {
      label: "GQA 4/1, head dim 12, sliding window 37, 200 queries",
      nH: 4,
      nKv: 1,
      hd: 12,
      nQ: 200,
      past: 0,
      win: 37,
    },
    {
      label: "GQA 6/3, sliding window 4 with 9 cached, 150 queries",
      nH: 6,
      nKv: 3,
      hd: 8,
      nQ: 150,
      past: 9,
      win: 4,
    },
  ] as const;
  for (const c of cases) {
    it(`equals the JS loops within float32 rounding, probabilities too: ${c.label}`, async () => {
      const heads = {
        numHeads: c.nH,
        numKvHeads: c.nKv,
        headDim: c.hd,
        slidingWindow: "win" in c ? c.win : undefined,
      };
      const keys = c.past + c.nQ;
      const q = rand(c.nQ * c.nH * c.hd, 1);
      const k = rand(keys * c.nKv * c.hd, 2);
      const v = rand(keys * c.nKv * c.hd, 3);
      const ref = new Float32Array(q.length);
      const refP = new Float32Array(c.nH * c.nQ * keys);
      causalAttention(q, k, v, ref, c.nQ, c.past, heads, refP);
      const out = new Float32Array(q.length);
      const probs = new Float32Array(refP.length);
      const backend = countingBackend();
      await causalAttentionBackend(backend, q, k, v, out, c.nQ, c.past, heads, probs);
      expect(relErr(out, ref)).toBeLessThan(1e-5);
      expect(relErr(probs, refP)).toBeLessThan(1e-5);
      // Masked probabilities are exactly zero, as in the JS loops.
      let maskedNonZero = 0;
      let masked = 0;
      for (let i = 0; i < refP.length; i++) {
        if (refP[i] !== 0) continue;
        masked++;
        if (probs[i] !== 0) maskedNonZero++;
      }
      expect(masked).toBeGreaterThan(0);
      expect(maskedNonZero).toBe(0);
      // Two matmuls per (KV head, query chunk), each temporary operand dropped from caches.
      const chunks = Math.ceil(c.nQ / Math.min(128, c.nQ));
      expect(backend.calls).toBe(2 * c.nKv * chunks);
      expect(backend.invalidated).toBe(backend.calls);
    });
  }

  it("windows = one call per window, and windowAttention switches between the two paths", async () => {
    const heads = { numHeads: 4, numKvHeads: 2, headDim: 8, slidingWindow: undefined };
    const T = 33;
    const q = rand(3 * T * 32, 4);
    const k = rand(3 * T * 16, 5);
    const v = rand(3 * T * 16, 6);
    const backend = createCpuBackend();
    const a = new Float32Array(q.length);
    await causalAttentionWindowsBackend(backend, q, k, v, a, 3, T, heads);
    const b = new Float32Array(T * 32);
    await causalAttentionBackend(
      backend,
      q.subarray(2 * T * 32),
      k.subarray(2 * T * 16),
      v.subarray(2 * T * 16),
      b,
      T,
      0,
      heads,
    );
    expect(Array.from(a.subarray(2 * T * 32))).toEqual(Array.from(b));
    const viaSwitch = new Float32Array(q.length);
    await windowAttention("backend", backend, 3, T, heads)(q, k, v, viaSwitch);
    expect(Array.from(viaSwitch)).toEqual(Array.from(a));
    const js = new Float32Array(q.length);
    const jsRef = new Float32Array(q.length);
    expect(windowAttention("js", backend, 3, T, heads)(q, k, v, js)).toBeUndefined();
    causalAttentionWindows(q, k, v, jsRef, 3, T, heads);
    expect(Array.from(js)).toEqual(Array.from(jsRef));
    expect(relErr(a, jsRef)).toBeLessThan(1e-5);
    expect(relErr(a, jsRef)).toBeGreaterThan(0); // the two paths really differ in rounding
    // Float64 operands (gradient-check reference) always take the JS loops.
    const q64 = Float64Array.from(q);
    const o64 = new Float64Array(q.length);
    windowAttention("backend", backend, 3, T, heads)(q64, Float64Array.from(k), Float64Array.from(v), o64);
    expect(relErr(o64, jsRef)).toBeLessThan(1e-6);
    expect(() => windowAttention("gpu" as "js", backend, 3, T, heads)).toThrow(
      'windowAttention: attention must be one of backend, js, got "gpu"',
    );
  });
});

// The wasm backend's fused causal attention (ComputeBackend.causalAttentionWindows) against the
// model's QKᵀ/P·V matmul path on the same backend (bitwise equal: same arithmetic) and against the
// float64 JS loops (within float32 rounding).

import { createWasmBackend, isWasmSimdSupported, type WasmBackend } from "@mama-prune/compute-wasm";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, createRng } from "@mama-prune/core";
import { causalAttentionWindows, causalAttentionWindowsBackend, swiglu } from "@mama-prune/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

function rand(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** The backend without its fused attention: the model then takes the per-head matmul path. */
function matmulOnly(b: ComputeBackend): ComputeBackend {
  return {
    name: `${b.name} (matmul path)`,
    matmulTransB: b.matmulTransB.bind(b),
    gramAccumulate: b.gramAccumulate.bind(b),
    colSqNormAccumulate: b.colSqNormAccumulate.bind(b),
    invalidate: b.invalidate.bind(b),
  };
}

const CASES = [
  {
    label: "stories260K layout (8/4 heads, head dim 8), 3 windows × 64",
    nH: 8,
    nKv: 4,
    hd: 8,
    batch: 3,
    S: 64,
  },
  {
    label: "GQA 8/2, head dim 16, 2 windows × 300 (query chunks, S not a multiple of 4)",
    nH: 8,
    nKv: 2,
    hd: 16,
    batch: 2,
    S: 301,
  },
  {
    label: "MHA 2/2, head dim 4, sliding window 37, 2 windows × 150",
    nH: 2,
    nKv: 2,
    hd: 4,
    batch: 2,
    S: 150,
    win: 37,
  },
  {
    label: "scores up to ±60 (softmax far from uniform), 4/1 heads, head dim 12",
    nH: 4,
    nKv: 1,
    hd: 12,
    batch: 2,
    S: 130,
    scale: 5,
  },
] as const;

describe.skipIf(!isWasmSimdSupported())("wasm fused causal attention", () => {
  let one: WasmBackend;
  let two: WasmBackend;
  beforeAll(async () => {
    one = await createWasmBackend();
    two = await createWasmBackendNode({ threads: 2 });
  });
  afterAll(async () => {
    await one.dispose();
    await two.dispose();
  });

  for (const c of CASES) {
    it(`${c.label}: bitwise the matmul path's output, and the float64 loops' within 1e-5`, async () => {
      const heads = {
        numHeads: c.nH,
        numKvHeads: c.nKv,
        headDim: c.hd,
        slidingWindow: "win" in c ? c.win : undefined,
      };
      const rows = c.batch * c.S;
      const s = "scale" in c ? c.scale : 1;
      const q = rand(rows * c.nH * c.hd, 1, s);
      const k = rand(rows * c.nKv * c.hd, 2, s);
      const v = rand(rows * c.nKv * c.hd, 3);
      const ref = new Float32Array(rows * c.nH * c.hd);
      await causalAttentionWindowsBackend(matmulOnly(one), q, k, v, ref, c.batch, c.S, heads);
      const ref64 = new Float64Array(ref.length);
      causalAttentionWindows(
        Float64Array.from(q),
        Float64Array.from(k),
        Float64Array.from(v),
        ref64,
        c.batch,
        c.S,
        heads,
      );
      for (const b of [one, two]) {
        const out = new Float32Array(ref.length).fill(Number.NaN);
        expect(await b.causalAttentionWindows(q, k, v, out, c.batch, c.S, heads)).toBe(true);
        let bad = 0;
        for (let i = 0; i < out.length; i++) if (out[i] !== ref[i]) bad++;
        expect(bad).toBe(0);
        let d = 0;
        for (let i = 0; i < out.length; i++) d = Math.max(d, Math.abs(out[i]! - ref64[i]!));
        expect(d).toBeLessThan(1e-5);
        expect(d).toBeGreaterThan(0); // float32 vs float64: the comparison is not vacuous
      }
    });
  }

  it("declines a head dim that is not a multiple of 4 (the caller takes the matmul path)", async () => {
    const heads = { numHeads: 2, numKvHeads: 1, headDim: 6 };
    const out = new Float32Array(10 * 12);
    const ok = await one.causalAttentionWindows(rand(120, 1), rand(60, 2), rand(60, 3), out, 1, 10, heads);
    expect(ok).toBe(false);
    expect(out.every((x) => x === 0)).toBe(true);
  });

  it("names the operand whose length is wrong", async () => {
    const heads = { numHeads: 2, numKvHeads: 1, headDim: 4 };
    await expect(
      one.causalAttentionWindows(rand(80, 1), rand(39, 2), rand(40, 3), new Float32Array(80), 1, 10, heads),
    ).rejects.toThrow(/k has 39 elements, expected 40/);
  });
});

describe.skipIf(!isWasmSimdSupported())("wasm SwiGLU", () => {
  it("equals the model's float32 swiglu bit for bit (in place too), 1 and 2 threads, on a ragged length", async () => {
    const n = 3 * (1 << 20) + 7; // several call chunks and a tail that is not a multiple of 4
    const g = rand(n, 11, 4);
    const u = rand(n, 12);
    for (const [i, x] of [-1000, -745, -88, -20, -0, 0, 20, 88, 745, 1000].entries()) g[i] = x;
    const want = swiglu(g, u, new Float32Array(n));
    const one = await createWasmBackend();
    const two = await createWasmBackendNode({ threads: 2 });
    try {
      for (const b of [one, two]) {
        const out = new Float32Array(n).fill(Number.NaN);
        await b.swiglu(g, u, out);
        let bad = 0;
        for (let i = 0; i < n; i++) if (!Object.is(out[i], want[i])) bad++;
        expect(bad).toBe(0);
        const inPlace = Float32Array.from(g);
        await b.swiglu(inPlace, u, inPlace);
        let badInPlace = 0; // a loop, not toEqual: a deep compare of 3 M elements takes tens of seconds
        for (let i = 0; i < n; i++) if (!Object.is(inPlace[i], want[i])) badInPlace++;
        expect(badInPlace).toBe(0);
      }
      await expect(one.swiglu(g, u.subarray(1), new Float32Array(n))).rejects.toThrow(/up has/);
    } finally {
      await one.dispose();
      await two.dispose();
    }
  });
});

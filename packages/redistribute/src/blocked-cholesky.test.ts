import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, naiveBackend } from "../test/helpers.ts";
import { type BlockedFactorStats, scratchFloats, upperCholeskyOfInverseBlocked } from "./blocked-cholesky.ts";
import { upperCholeskyOfInverse } from "./linalg.ts";

function damped(h: Float64Array, n: number, rel: number): Float64Array {
  const d = new Float64Array(h);
  let mean = 0;
  for (let j = 0; j < n; j++) mean += h[j * n + j]! / n;
  for (let j = 0; j < n; j++) d[j * n + j]! += rel * mean;
  return d;
}

function relFrobenius(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

describe("upperCholeskyOfInverseBlocked", () => {
  it.each([
    { n: 300, leaf: 32, tokens: 600, rel: 0.01 },
    { n: 257, leaf: 64, tokens: 200, rel: 0.01 }, // fewer tokens than inputs: damping carries the rank
    { n: 200, leaf: 16, tokens: 400, rel: 0.001 },
  ])(
    "matches the float64 JS factor (n $n, leaf $leaf, $tokens tokens, damping $rel)",
    async ({ n, leaf, tokens, rel }) => {
      const h = damped(activationLikeHessian(tokens, n, n + tokens, { dead: [3] }), n, rel);
      const ref = upperCholeskyOfInverse(h, n);
      if (!ref.ok) throw new Error("reference factor failed");
      // The error float32 storage alone causes: the float64 factor of H rounded to float32.
      const r32 = upperCholeskyOfInverse(new Float64Array(new Float32Array(h)), n);
      if (!r32.ok) throw new Error("float32-rounded factor failed");
      const intrinsic = relFrobenius(r32.upper, ref.upper);
      for (const backend of [wasm, naiveBackend()]) {
        const a = new Float64Array(h);
        const stats: BlockedFactorStats = { gemmCalls: 0, gemmMultiplyAdds: 0 };
        expect(await upperCholeskyOfInverseBlocked(a, n, backend, leaf, stats)).toBe(-1);
        expect(stats.gemmCalls).toBeGreaterThan(0);
        const e = relFrobenius(a, ref.upper);
        // float32 GEMM accumulation: measured 1.1–7.6× the storage error (wasm), 1.1× (float64 sums).
        expect(e).toBeLessThan(15 * intrinsic);
        expect(intrinsic).toBeLessThan(1e-4);
        for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) expect(a[i * n + j]).toBe(0);
      }
    },
  );
});

describe("upperCholeskyOfInverseBlocked triangle-aware products", () => {
  it("parts skip the zero half of the triangular operands: fewer multiply-adds, the same factor bit for bit", async () => {
    // n 1100, leaf 128: the top split is 640 + 460, so the 640-wide products run in 2 parts.
    const n = 1100;
    const h = damped(activationLikeHessian(600, n, 77, { dead: [9] }), n, 0.01);
    const full = new Float64Array(h);
    const fullStats: BlockedFactorStats = { gemmCalls: 0, gemmMultiplyAdds: 0 };
    expect(await upperCholeskyOfInverseBlocked(full, n, wasm, 128, fullStats, 1)).toBe(-1);
    const parted = new Float64Array(h);
    const partStats: BlockedFactorStats = { gemmCalls: 0, gemmMultiplyAdds: 0 };
    expect(await upperCholeskyOfInverseBlocked(parted, n, wasm, 128, partStats)).toBe(-1);
    expect(partStats.gemmCalls).toBeGreaterThan(fullStats.gemmCalls);
    expect(partStats.gemmMultiplyAdds).toBeLessThan(0.9 * fullStats.gemmMultiplyAdds);
    let same = true;
    for (let i = 0; i < full.length; i++) if (!Object.is(full[i], parted[i])) same = false;
    expect(same).toBe(true); // so the float64 comparisons of the tests above carry over
  });
});

describe("upperCholeskyOfInverseBlocked scratch", () => {
  it.each([
    { n: 1100, leaf: 128, parts: 4 },
    { n: 1100, leaf: 128, parts: 1 },
    { n: 777, leaf: 64, parts: 4 },
    { n: 300, leaf: 32, parts: 4 },
  ])(
    "all temporaries fit one chunk of scratchFloats(n, leaf, parts) (n $n, leaf $leaf, parts $parts)",
    async ({ n, leaf, parts }) => {
      const h = damped(activationLikeHessian(400, n, 21), n, 0.01);
      const stats: BlockedFactorStats = { gemmCalls: 0, gemmMultiplyAdds: 0 };
      expect(await upperCholeskyOfInverseBlocked(new Float64Array(h), n, wasm, leaf, stats, parts)).toBe(-1);
      expect(stats.scratchChunks).toBe(1);
      expect(stats.scratchFloats).toBe(scratchFloats(n, leaf, parts));
      // The bound is not loose: the deepest live set reaches most of it.
      expect(stats.scratchHighWater!).toBeLessThanOrEqual(stats.scratchFloats!);
      expect(stats.scratchHighWater!).toBeGreaterThan(0.6 * stats.scratchFloats!);
    },
  );

  it("the 7B down_proj size needs about 0.63·n² floats of scratch (289 MiB at n = 11008; 8 parts)", () => {
    const f = scratchFloats(11008, 128);
    expect(f / 11008 ** 2).toBeGreaterThan(0.6);
    expect(f / 11008 ** 2).toBeLessThan(0.65);
    expect(scratchFloats(11008, 128, 4) / 11008 ** 2).toBeGreaterThan(0.7); // 4 parts: 0.75·n²
  });

  it("8 parts (products of ≥ 2048, n ≥ 4096): one chunk of scratch, fewer multiply-adds than 4, the same factor bit for bit", async () => {
    // A diagonally dominant SPD matrix: the GEMM shapes are what is tested, not the conditioning.
    const n = 4352;
    const rng = createRng(8);
    const h = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) {
        const v = rng.next() - 0.5;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
      h[i * n + i] = n;
    }
    const runs = [8, 4].map((parts) => ({
      parts,
      a: new Float64Array(h),
      stats: { gemmCalls: 0, gemmMultiplyAdds: 0 } as BlockedFactorStats,
    }));
    for (const r of runs)
      expect(await upperCholeskyOfInverseBlocked(r.a, n, wasm, 128, r.stats, r.parts)).toBe(-1);
    const [p8, p4] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(p8.stats.scratchChunks).toBe(1);
    expect(p8.stats.scratchFloats).toBe(scratchFloats(n, 128));
    expect(p8.stats.scratchHighWater!).toBeGreaterThan(0.6 * p8.stats.scratchFloats!);
    expect(p8.stats.scratchFloats!).toBeLessThan(0.9 * p4.stats.scratchFloats!);
    expect(p8.stats.gemmMultiplyAdds).toBeLessThan(0.95 * p4.stats.gemmMultiplyAdds);
    let same = true;
    for (let i = 0; i < n * n; i++) if (!Object.is(p8.a[i], p4.a[i])) same = false;
    expect(same).toBe(true);
    // and it is the inverse's factor: (UᵀU)·H ≈ I on a few columns
    const u = p8.a;
    for (const c of [0, 1234, n - 1]) {
      const hc = Float64Array.from({ length: n }, (_, i) => h[i * n + c]!); // H[:, c]
      const t = new Float64Array(n); // U·H[:, c]
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = i; j < n; j++) s += u[i * n + j]! * hc[j]!;
        t[i] = s;
      }
      for (const r of [0, c, n - 1]) {
        let s = 0; // (Uᵀ t)[r]
        for (let i = 0; i <= r; i++) s += u[i * n + r]! * t[i]!;
        expect(Math.abs(s - (r === c ? 1 : 0)), `(UᵀUH)[${r}, ${c}]`).toBeLessThan(1e-5);
      }
    }
  });
});

describe("upperCholeskyOfInverseBlocked failures", () => {
  it("reports the failing pivot of a singular matrix, in the input's order", async () => {
    const n = 96;
    const h = activationLikeHessian(40, n, 5); // rank ≤ 40 < 96, no damping
    const js = upperCholeskyOfInverse(h, n);
    expect(js.ok).toBe(false);
    const a = new Float64Array(h);
    const p = await upperCholeskyOfInverseBlocked(a, n, wasm, 16);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(n);
    // The reversed factorisation meets the rank deficit after ~40 pivots: index ≈ n − 1 − 40.
    expect(p).toBeLessThanOrEqual(n - 1 - 39);
  });

  it("a leaf of n or more is the float64 JS path exactly", async () => {
    const n = 64;
    const h = damped(activationLikeHessian(100, n, 6), n, 0.01);
    const ref = upperCholeskyOfInverse(h, n);
    const a = new Float64Array(h);
    const be = naiveBackend();
    expect(await upperCholeskyOfInverseBlocked(a, n, be, 64)).toBe(-1);
    expect(be.calls).toBe(0);
    expect(ref.ok && Array.from(a)).toEqual(ref.ok && Array.from(ref.upper));
  });
});

import { isPruneError } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxRelError, refMatmul, uniform } from "../test/reference.ts";
import { createWasmBackend, type WasmBackend } from "./backend.ts";

// float32 accumulation over k terms: error ≤ ~k·2⁻²⁴ of Σ|x·w| in the worst case; the tests use
// 4e-6·(1 + k/64) relative to that sum, far below what any indexing or packing bug produces.
const tol = (k: number): number => 4e-6 * (1 + k / 64);

const RAGGED = [1, 3, 7, 17, 33, 127, 129] as const;

let backend: WasmBackend;
beforeAll(async () => {
  backend = await createWasmBackend();
});
afterAll(async () => {
  await backend.dispose();
});

describe("createWasmBackend", () => {
  it("reports its name and one thread", () => {
    expect(backend.name).toBe("wasm-simd x1");
    expect(backend.threads).toBe(1);
  });

  it("rejects threads other than 1 with a pointer to the node factory", async () => {
    await expect(createWasmBackend({ threads: 2 })).rejects.toThrow(/createWasmBackendNode/);
  });

  it("rejects an out-of-range memory limit", async () => {
    await expect(createWasmBackend({ maxMemoryBytes: 10 })).rejects.toThrow(RangeError);
  });
});

describe("matmulTransB", () => {
  it("matches the scalar reference on ragged shapes", async () => {
    let seed = 1;
    for (const m of [1, 3, 7, 17]) {
      for (const k of RAGGED) {
        for (const n of [1, 7, 9, 33, 129]) {
          const x = uniform(m * k, seed++); // (m, k)
          const w = uniform(n * k, seed++); // (n, k)
          const y = await backend.matmulTransB(x, w, m, k, n);
          const ref = refMatmul(x, w, m, k, n);
          expect(y.length).toBe(m * n);
          expect(maxRelError(y, ref.y, ref.scale), `${m}x${k}x${n}`).toBeLessThan(tol(k));
        }
      }
    }
  });

  it("matches the reference on larger ragged shapes spanning several K blocks", async () => {
    for (const [m, k, n] of [
      [33, 600, 127],
      [129, 257, 65],
      [5, 1031, 17],
    ] as const) {
      const x = uniform(m * k, m);
      const w = uniform(n * k, n);
      const y = await backend.matmulTransB(x, w, m, k, n);
      const ref = refMatmul(x, w, m, k, n);
      expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(tol(k));
    }
  });

  it("adds the bias and writes into out", async () => {
    const [m, k, n] = [7, 33, 17];
    const x = uniform(m * k, 11);
    const w = uniform(n * k, 12);
    const bias = uniform(n, 13);
    const out = new Float32Array(m * n).fill(Number.NaN);
    const y = await backend.matmulTransB(x, w, m, k, n, { bias, out });
    expect(y).toBe(out);
    const ref = refMatmul(x, w, m, k, n, bias);
    expect(maxRelError(out, ref.y, ref.scale)).toBeLessThan(tol(k));
  });

  it("handles k = 0 (bias or zeros) and empty outputs", async () => {
    const bias = new Float32Array([1, 2, 3]);
    const y = await backend.matmulTransB(new Float32Array(0), new Float32Array(0), 2, 0, 3, { bias });
    expect(Array.from(y)).toEqual([1, 2, 3, 1, 2, 3]);
    const z = await backend.matmulTransB(new Float32Array(0), new Float32Array(0), 2, 0, 3, {
      out: new Float32Array(6).fill(9),
    });
    expect(Array.from(z)).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await backend.matmulTransB(new Float32Array(0), uniform(6, 1), 0, 2, 3)).length).toBe(0);
  });

  it("computes 1·2 + 2·3 = 8 exactly (hand-checked case)", async () => {
    const y = await backend.matmulTransB(
      new Float32Array([1, 2]),
      new Float32Array([2, 3, -1, 0.5]),
      1,
      2,
      2,
    );
    expect(Array.from(y)).toEqual([8, 0]);
  });

  it("accepts x and out as the same array", async () => {
    const [m, k] = [3, 5];
    const x = uniform(m * k, 21);
    const w = uniform(k * k, 22);
    const ref = refMatmul(x, w, m, k, k);
    await backend.matmulTransB(x, w, m, k, k, { out: x });
    expect(maxRelError(x, ref.y, ref.scale)).toBeLessThan(tol(k));
  });

  it("rejects mismatched shapes and wrong types with clear errors", async () => {
    const x = uniform(6, 1);
    await expect(backend.matmulTransB(x, uniform(6, 2), 2, 3, 3)).rejects.toThrow(
      /w has 6 elements, expected n·k = 9/,
    );
    await expect(
      backend.matmulTransB(x, uniform(6, 2), 2, 3, 2, { bias: new Float32Array(3) }),
    ).rejects.toThrow(/bias has 3 elements/);
    await expect(backend.matmulTransB(x, uniform(6, 2), 2.5, 3, 2)).rejects.toThrow(RangeError);
    await expect(
      backend.matmulTransB(new Float64Array(6) as unknown as Float32Array, x, 2, 3, 2),
    ).rejects.toThrow(/x must be a Float32Array, got Float64Array/);
  });
});

describe("packed-weight cache", () => {
  it("packs a weight once and reuses it", async () => {
    const b = await createWasmBackend();
    const w = uniform(16 * 8, 5);
    const x = uniform(4 * 8, 6);
    await b.matmulTransB(x, w, 4, 8, 16);
    await b.matmulTransB(x, w, 4, 8, 16);
    expect(b.stats().packCount).toBe(1);
    expect(b.stats().packedWeights).toBe(1);
    expect(b.stats().packedBytes).toBe(16 * 8 * 4);
    b.invalidate(w);
    expect(b.stats().packedWeights).toBe(0);
    await b.matmulTransB(x, w, 4, 8, 16);
    expect(b.stats().packCount).toBe(2);
    await b.dispose();
  });

  it("repacks after invalidate() when a weight is edited in place", async () => {
    const b = await createWasmBackend();
    const [m, k, n] = [3, 40, 9];
    const w = uniform(n * k, 7);
    const x = uniform(m * k, 8);
    await b.matmulTransB(x, w, m, k, n);
    w[5] = 100; // a single-element edit the fingerprint does not sample
    b.invalidate(w);
    const y = await b.matmulTransB(x, w, m, k, n);
    const ref = refMatmul(x, w, m, k, n);
    expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(tol(k));
    await b.dispose();
  });

  it("detects a bulk in-place edit (e.g. pruning half the weights) without invalidate()", async () => {
    const b = await createWasmBackend();
    const [m, k, n] = [4, 64, 32];
    const w = uniform(n * k, 9);
    const x = uniform(m * k, 10);
    await b.matmulTransB(x, w, m, k, n);
    for (let i = 0; i < w.length; i += 2) w[i] = 0;
    const y = await b.matmulTransB(x, w, m, k, n);
    const ref = refMatmul(x, w, m, k, n);
    expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(tol(k));
    expect(b.stats().packCount).toBe(2);
    await b.dispose();
  });

  it("evicts least recently used panels beyond the byte budget", async () => {
    const b = await createWasmBackend({ packCacheBytes: 2 * 8 * 8 * 4 });
    const ws = [1, 2, 3].map((s) => uniform(8 * 8, s));
    const x = uniform(8, 4);
    for (const w of ws) await b.matmulTransB(x, w, 1, 8, 8);
    expect(b.stats().packedWeights).toBe(2);
    await b.matmulTransB(x, ws[2] as Float32Array, 1, 8, 8); // still cached
    expect(b.stats().packCount).toBe(3);
    await b.matmulTransB(x, ws[0] as Float32Array, 1, 8, 8); // was evicted
    expect(b.stats().packCount).toBe(4);
    b.clearCache();
    expect(b.stats()).toMatchObject({ packedWeights: 0, packedBytes: 0 });
    await b.dispose();
  });

  it("works with caching disabled (packCacheBytes: 0)", async () => {
    const b = await createWasmBackend({ packCacheBytes: 0 });
    const [m, k, n] = [5, 17, 11];
    const x = uniform(m * k, 1);
    const w = uniform(n * k, 2);
    for (let r = 0; r < 2; r++) {
      const y = await b.matmulTransB(x, w, m, k, n);
      const ref = refMatmul(x, w, m, k, n);
      expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(tol(k));
    }
    expect(b.stats()).toMatchObject({ packedWeights: 0, packCount: 2 });
    await b.dispose();
  });

  it("is keyed by array identity: a new array with the same shape is packed anew", async () => {
    const b = await createWasmBackend();
    const x = uniform(8, 1);
    const w1 = uniform(64, 2);
    const w2 = uniform(64, 3);
    const y1 = await b.matmulTransB(x, w1, 1, 8, 8);
    const y2 = await b.matmulTransB(x, w2, 1, 8, 8);
    expect(y1).not.toEqual(y2);
    const ref = refMatmul(x, w2, 1, 8, 8);
    expect(maxRelError(y2, ref.y, ref.scale)).toBeLessThan(tol(8));
    await b.dispose();
  });
});

describe("gramAccumulate", () => {
  const refGram = (x: Float32Array, m: number, k: number) => {
    const g = new Float64Array(k * k);
    const s = new Float64Array(k * k);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        let v = 0;
        let t = 0;
        for (let i = 0; i < m; i++) {
          const p = (x[i * k + a] as number) * (x[i * k + b] as number);
          v += p;
          t += Math.abs(p);
        }
        g[a * k + b] = v;
        s[a * k + b] = t;
      }
    return { g, s };
  };

  it("adds xᵀx to the accumulator on ragged shapes (including m > 256 row chunks)", async () => {
    let seed = 100;
    for (const [m, k] of [
      [1, 1],
      [3, 7],
      [7, 17],
      [17, 33],
      [300, 13],
      [33, 129],
      [5, 70],
    ] as const) {
      const x = uniform(m * k, seed++);
      const acc = uniform(k * k, seed++);
      const before = Float64Array.from(acc);
      const acc64 = Float64Array.from(acc);
      await backend.gramAccumulate(x, m, k, acc64);
      const { g, s } = refGram(x, m, k);
      const want = g.map((v, i) => v + (before[i] as number));
      // float32 sums over ≤ 256 rows, then float64
      expect(
        maxRelError(
          acc64,
          want,
          s.map((v) => v + 1),
        ),
        `${m}x${k}`,
      ).toBeLessThan(tol(256));
      // exactly symmetric increments
      for (let a = 0; a < k; a++)
        for (let b = 0; b < a; b++) {
          expect((acc64[a * k + b] as number) - (before[a * k + b] as number)).toBe(
            (acc64[b * k + a] as number) - (before[b * k + a] as number),
          );
        }
    }
  });

  it("wide inputs (k ≥ 512, block-row GEMM path): xᵀx to float32 round-off over ≤ 1024 rows, exactly symmetric", async () => {
    // k = 520: kp = 520 → block rows of 256, 256 and a ragged 8; m = 1100: depth chunks 1024 + 76.
    for (const [m, k, seed] of [
      [1100, 520, 900],
      [5, 515, 901],
    ] as const) {
      const x = uniform(m * k, seed);
      const before = uniform(k * k, seed + 10);
      for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) before[a * k + b] = before[b * k + a]!;
      const acc64 = Float64Array.from(before);
      await backend.gramAccumulate(x, m, k, acc64);
      const { g, s } = refGram(x, m, k);
      const want = g.map((v, i) => v + (before[i] as number));
      const err = maxRelError(
        acc64,
        want,
        s.map((v) => v + 1),
      );
      expect(err, `${m}x${k}`).toBeLessThan(tol(1024));
      expect(err, `${m}x${k} is not exact float64`).toBeGreaterThan(0);
      for (let a = 0; a < k; a++)
        for (let b = 0; b < a; b++) {
          expect((acc64[a * k + b] as number) - (before[a * k + b] as number)).toBe(
            (acc64[b * k + a] as number) - (before[b * k + a] as number),
          );
        }
    }
  });

  it("rejects a wrongly sized accumulator and a non-Float64Array", async () => {
    await expect(backend.gramAccumulate(uniform(6, 1), 2, 3, new Float64Array(8))).rejects.toThrow(
      /acc has 8 elements, expected k·k = 9/,
    );
    await expect(
      backend.gramAccumulate(uniform(6, 1), 2, 3, new Float32Array(9) as unknown as Float64Array),
    ).rejects.toThrow(TypeError);
  });

  it("leaves the accumulator unchanged for m = 0", async () => {
    const acc = new Float64Array([1, 2, 3, 4]);
    await backend.gramAccumulate(new Float32Array(0), 0, 2, acc);
    expect(Array.from(acc)).toEqual([1, 2, 3, 4]);
  });
});

describe("colSqNormAccumulate", () => {
  it("adds the squared column norms in float64 on ragged shapes", async () => {
    for (const [m, k] of [
      [1, 1],
      [3, 7],
      [17, 129],
      [40, 33],
    ] as const) {
      const x = uniform(m * k, m * 31 + k);
      const acc = new Float64Array(k).fill(0.5);
      await backend.colSqNormAccumulate(x, m, k, acc);
      for (let j = 0; j < k; j++) {
        let s = 0.5;
        for (let i = 0; i < m; i++) s += (x[i * k + j] as number) ** 2;
        expect(Math.abs((acc[j] as number) - s)).toBeLessThanOrEqual(1e-14 * s);
      }
    }
  });

  it("streams many rows through a bounded scratch buffer", async () => {
    const [m, k] = [2100, 513]; // > 4 MiB of rows: several chunks
    const x = uniform(m * k, 3);
    const acc = new Float64Array(k);
    await backend.colSqNormAccumulate(x, m, k, acc);
    for (const j of [0, 1, 255, 512]) {
      let s = 0;
      for (let i = 0; i < m; i++) s += (x[i * k + j] as number) ** 2;
      expect(Math.abs((acc[j] as number) - s)).toBeLessThanOrEqual(1e-12 * s);
    }
  });

  it("rejects an accumulator of the wrong length", async () => {
    await expect(backend.colSqNormAccumulate(uniform(6, 1), 2, 3, new Float64Array(2))).rejects.toThrow(
      /acc has 2 elements, expected k = 3/,
    );
  });
});

describe("dispose", () => {
  it("is idempotent and makes later calls fail clearly", async () => {
    const b = await createWasmBackend();
    await b.dispose();
    await b.dispose();
    await expect(b.matmulTransB(uniform(1, 1), uniform(1, 1), 1, 1, 1)).rejects.toThrow(/disposed/);
  });
});

describe("dispose while calls are queued", () => {
  it("lets calls issued before dispose() finish and refuses later ones", async () => {
    const b = await createWasmBackend();
    const [m, k, n] = [9, 21, 13];
    const x = uniform(m * k, 1);
    const w = uniform(n * k, 2);
    const pending = [b.matmulTransB(x, w, m, k, n), b.matmulTransB(x, w, m, k, n)];
    const disposed = b.dispose();
    const late = b.matmulTransB(x, w, m, k, n);
    const ref = refMatmul(x, w, m, k, n);
    for (const y of await Promise.all(pending)) {
      expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(tol(k));
    }
    await expect(late).rejects.toThrow(/matmulTransB: the backend was disposed/);
    await disposed;
  });
});

describe("memory limit", () => {
  it("throws a RangeError naming maxMemoryBytes when a call does not fit", async () => {
    const b = await createWasmBackend({ maxMemoryBytes: 2 * 65536 * 16 });
    const k = 1024;
    const n = 1024; // 4 MiB of panels > 2 MiB limit
    let err: unknown;
    try {
      await b.matmulTransB(uniform(k, 1), new Float32Array(n * k), 1, k, n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RangeError);
    expect(String(err)).toMatch(/maxMemoryBytes/);
    expect(isPruneError(err)).toBe(false);
    // still usable afterwards
    const y = await b.matmulTransB(new Float32Array([2]), new Float32Array([3]), 1, 1, 1);
    expect(Array.from(y)).toEqual([6]);
    await b.dispose();
  });
});

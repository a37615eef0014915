import { createRng, isPruneError } from "@mama-prune/core";
import { encodeSparse24, encodeSparseBitmask } from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { tryNodeGpu } from "../test/gpu.ts";
import { createWebGpuBackend } from "./backend.ts";
import { f16BitsToF32, f32ToF16Bits } from "./f16.ts";
import { colSqNormRef, denseMatmulRef, gramRef, sparseMatmulRef } from "./reference.ts";
import { type SparseWeight, type SparseWeightFormat, sparseFromDense } from "./sparse-weight.ts";

const gpu = await tryNodeGpu();

function randn(len: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(len); // (len,)
  for (let i = 0; i < len; i++) a[i] = rng.normal();
  return a;
}

/** Zero a fraction of w (unstructured), or 2 of every 4 along rows (2:4); plus one all-zero row. */
function prune(w: Float32Array, n: number, k: number, how: number | "2:4", seed: number): Float32Array {
  const rng = createRng(seed);
  const out = w.slice(); // (n, k)
  if (how === "2:4") {
    for (let r = 0; r < n; r++) {
      for (let g = 0; g < k; g += 4) {
        const a = rng.int(4);
        const b = (a + 1 + rng.int(3)) % 4;
        out[r * k + g + a] = 0;
        out[r * k + g + b] = 0;
      }
    }
  } else {
    for (let i = 0; i < out.length; i++) if (rng.next() < how) out[i] = 0;
  }
  if (n > 2) out.fill(0, k, 2 * k); // row 1 empty
  return out;
}

/** Elementwise |y − ref| ≤ tol · Σ|x||w| (float32 rounding bound), with the worst ratio for messages. */
function expectClose(y: Float32Array, ref: Float32Array, absRef: Float32Array, tol = 1e-5): void {
  expect(y.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < y.length; i++) {
    const bound = tol * absRef[i]! + 1e-30;
    worst = Math.max(worst, Math.abs(y[i]! - ref[i]!) / bound);
    if (!Number.isFinite(y[i]!)) worst = Number.POSITIVE_INFINITY;
  }
  expect(worst).toBeLessThanOrEqual(1);
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

afterAll(async () => {
  await gpu?.dispose();
});

describe.skipIf(!gpu)("createWebGpuBackend", () => {
  const backend = gpu ? createWebGpuBackend(gpu.device) : undefined;
  const be = (): NonNullable<typeof backend> => backend!;

  it("names the adapter", () => {
    expect(be().name).toMatch(/^webgpu/);
  });

  it.each([
    [67, 45, 70, true],
    [64, 64, 64, false],
    [5, 129, 3, true],
    [1, 33, 17, true],
    [3, 8, 130, false],
  ])("matmulTransB matches the reference for dense %i×%i·(%i)ᵀ (bias %s)", async (m, k, n, hasBias) => {
    const x = randn(m * k, 1); // (m, k)
    const w = randn(n * k, 2); // (n, k)
    const bias = hasBias ? randn(n, 3) : undefined;
    const y = await be().matmulTransB(x, w, m, k, n, bias ? { bias } : undefined);
    const ref = denseMatmulRef(x, w, m, k, n, bias);
    expectClose(y, ref, denseMatmulRef(abs(x), abs(w), m, k, n, bias ? abs(bias) : undefined));
  });

  it("writes into out and reuses the cached weight", async () => {
    const x = randn(8 * 16, 4);
    const w = randn(16 * 16, 5);
    const out = new Float32Array(8 * 16);
    const before = be().stats().uploadedBytes;
    const r1 = await be().matmulTransB(x, w, 8, 16, 16, { out });
    const mid = be().stats().uploadedBytes;
    await be().matmulTransB(x, w, 8, 16, 16);
    expect(r1).toBe(out);
    expect(mid - before).toBe(4 * (8 * 16 + 16 * 16));
    expect(be().stats().uploadedBytes - mid).toBe(4 * 8 * 16); // only x the second time
    w[0] = w[0]! + 1;
    be().invalidate(w);
    const r3 = await be().matmulTransB(x, w, 8, 16, 16);
    expectClose(r3, denseMatmulRef(x, w, 8, 16, 16), denseMatmulRef(abs(x), abs(w), 8, 16, 16));
  });

  const sparseCases: [SparseWeightFormat, number | "2:4", number, number, number][] = [
    ["csr", 0.5, 7, 45, 37],
    ["csr", 0.9, 1, 45, 37],
    ["csr", 0.7, 12, 45, 37], // 8 tokens per invocation
    ["sparse-24-bitmask", "2:4", 40, 44, 21], // 16 tokens per invocation, ragged last block
    ["sparse-bitmask", 0.5, 33, 45, 37],
    ["sparse-bitmask", 0.7, 2, 100, 9],
    ["sparse-bitmask", 0.9, 1, 64, 65],
    ["sparse-24-bitmask", "2:4", 6, 44, 21],
    ["sparse-24-bitmask", "2:4", 1, 64, 70],
  ];
  it.each(sparseCases)(
    "runs registered %s weights (%s zeros, m=%i, k=%i, n=%i) like the references",
    async (format, how, m, k, n) => {
      const x = randn(m * k, 10); // (m, k)
      const w = prune(randn(n * k, 11), n, k, how, 12); // (n, k)
      const bias = randn(n, 13);
      const sw = sparseFromDense(w, n, k, format);
      be().registerSparseWeight(w, sw, "test");
      const y = await be().matmulTransB(x, w, m, k, n, { bias });
      const absRef = denseMatmulRef(abs(x), abs(w), m, k, n, abs(bias));
      expectClose(y, sparseMatmulRef(x, sw, m, bias), absRef);
      expectClose(y, denseMatmulRef(x, w, m, k, n, bias), absRef);
      be().unregisterSparseWeight(w);
    },
  );

  it("runs tensor-io's sparse-bitmask and sparse-24-bitmask tensors as stored", async () => {
    const m = 5;
    const k = 36; // ceil(36/8) = 5 bytes per row: rows start at unaligned bytes
    const n = 11;
    const x = randn(m * k, 20);
    for (const how of [0.6, "2:4"] as const) {
      const w = prune(randn(n * k, 21), n, k, how, 22);
      const sw: SparseWeight =
        how === "2:4"
          ? { format: "sparse-24-bitmask", ...encodeSparse24(w, n, k) }
          : { format: "sparse-bitmask", ...encodeSparseBitmask(w, n, k) };
      be().registerSparseWeight(w, sw);
      const y = await be().matmulTransB(x, w, m, k, n);
      expectClose(y, denseMatmulRef(x, w, m, k, n), denseMatmulRef(abs(x), abs(w), m, k, n));
      be().unregisterSparseWeight(w);
    }
  });

  it("accumulates XᵀX and column square-norms like the float64 reference", async () => {
    const m = 70;
    const k = 67;
    const x = randn(m * k, 30);
    const acc = new Float64Array(k * k).fill(1);
    const ref = new Float64Array(k * k).fill(1);
    await be().gramAccumulate(x, m, k, acc);
    await be().gramAccumulate(x, m, k, acc);
    gramRef(x, m, k, ref);
    gramRef(x, m, k, ref);
    const absRef = new Float64Array(k * k);
    gramRef(abs(x), m, k, absRef);
    for (let i = 0; i < k * k; i++)
      expect(Math.abs(acc[i]! - ref[i]!)).toBeLessThanOrEqual(2e-5 * absRef[i]! + 1e-12);
    const s = new Float64Array(k);
    const sRef = new Float64Array(k);
    await be().colSqNormAccumulate(x, m, k, s);
    colSqNormRef(x, m, k, sRef);
    for (let j = 0; j < k; j++) expect(Math.abs(s[j]! - sRef[j]!)).toBeLessThanOrEqual(1e-5 * sRef[j]!);
  });

  it("rejects a malformed or mis-shaped sparse layout with a typed error", () => {
    const w = prune(randn(4 * 16, 40), 4, 16, 0.5, 41);
    const sw = sparseFromDense(w, 4, 16, "sparse-bitmask");
    if (sw.format !== "sparse-bitmask") throw new Error("unreachable");
    const broken = { ...sw, compressed: sw.compressed.subarray(1) };
    let err: unknown;
    try {
      be().registerSparseWeight(w, broken, "layers.0.q_proj");
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "TENSOR_IO_MALFORMED")).toBe(true);
    expect(String(err)).toContain("layers.0.q_proj");
    expect(() => be().registerSparseWeight(new Float32Array(60), sw, "q")).toThrow(/Expected 60 elements/);
  });
});

describe.skipIf(!gpu)("createWebGpuBackend options", () => {
  it("autoSparse runs mostly-zero weights sparse (fewer bytes uploaded) and falls back to dense for non-2:4 weights", async () => {
    const m = 6;
    const k = 40;
    const n = 24;
    const x = randn(m * k, 80);
    const w = prune(randn(n * k, 81), n, k, 0.6, 82); // (n, k)
    const absRef = denseMatmulRef(abs(x), abs(w), m, k, n);
    const bm = createWebGpuBackend(gpu!.device, {
      autoSparse: { format: "sparse-bitmask", minSparsity: 0.5 },
    });
    const b0 = bm.stats().uploadedBytes;
    expectClose(await bm.matmulTransB(x, w, m, k, n), denseMatmulRef(x, w, m, k, n), absRef);
    expect(bm.stats().uploadedBytes - b0 - 4 * m * k).toBeLessThan(4 * n * k * 0.6);
    const b24 = createWebGpuBackend(gpu!.device, {
      autoSparse: { format: "sparse-24-bitmask", minSparsity: 0.5 },
    });
    const c0 = b24.stats().uploadedBytes;
    expectClose(await b24.matmulTransB(x, w, m, k, n), denseMatmulRef(x, w, m, k, n), absRef);
    expect(b24.stats().uploadedBytes - c0 - 4 * m * k).toBe(4 * n * k);
    await bm.dispose();
    await b24.dispose();
  });

  it("cacheWeights false sees in-place weight changes without invalidate", async () => {
    const be = createWebGpuBackend(gpu!.device, { cacheWeights: false });
    const x = randn(3 * 8, 83);
    const w = randn(5 * 8, 84);
    await be.matmulTransB(x, w, 3, 8, 5);
    w[3] = 10;
    expectClose(
      await be.matmulTransB(x, w, 3, 8, 5),
      denseMatmulRef(x, w, 3, 8, 5),
      denseMatmulRef(abs(x), abs(w), 3, 8, 5),
    );
    expect(be.stats().cachedWeights).toBe(0);
    await be.dispose();
  });

  it("forcing the tiled or matvec dense kernel gives the same results for any token count", async () => {
    const tiled = createWebGpuBackend(gpu!.device, { denseKernel: "tiled" });
    const matvec = createWebGpuBackend(gpu!.device, { denseKernel: "matvec" });
    for (const m of [1, 9]) {
      const x = randn(m * 19, 85 + m);
      const w = randn(23 * 19, 86);
      const ref = denseMatmulRef(x, w, m, 19, 23);
      const absRef = denseMatmulRef(abs(x), abs(w), m, 19, 23);
      expectClose(await tiled.matmulTransB(x, w, m, 19, 23), ref, absRef);
      expectClose(await matvec.matmulTransB(x, w, m, 19, 23), ref, absRef);
    }
    await tiled.dispose();
    await matvec.dispose();
    await expect(tiled.matmulTransB(new Float32Array(1), new Float32Array(1), 1, 1, 1)).rejects.toMatchObject(
      {
        code: "GPU_DEVICE_LOST",
      },
    );
    expect(() => createWebGpuBackend(gpu!.device, { autoSparse: { format: "csr", minSparsity: 2 } })).toThrow(
      RangeError,
    );
  });
});

describe.skipIf(!gpu)("createWebGpuBackend with decodeKernel workgroup", () => {
  const backend = gpu ? createWebGpuBackend(gpu.device, { decodeKernel: "workgroup" }) : undefined;

  it.each([
    ["dense", 0, 1, 200, 9],
    ["csr", 0.5, 1, 300, 7],
    ["sparse-bitmask", 0.5, 2, 2100, 5], // 263-byte rows: unaligned starts, more than 64 windows (two scan rounds)
    ["sparse-bitmask", 0.9, 3, 45, 37],
    ["sparse-24-bitmask", "2:4", 1, 300, 6],
  ] as const)(
    "runs %s weights (%s zeros, m=%i, k=%i, n=%i) like the reference",
    async (format, how, m, k, n) => {
      const x = randn(m * k, 90); // (m, k)
      const w = how === 0 ? randn(n * k, 91) : prune(randn(n * k, 91), n, k, how, 92); // (n, k)
      const bias = randn(n, 93);
      if (format !== "dense") backend!.registerSparseWeight(w, sparseFromDense(w, n, k, format));
      const y = await backend!.matmulTransB(x, w, m, k, n, { bias });
      expectClose(y, denseMatmulRef(x, w, m, k, n, bias), denseMatmulRef(abs(x), abs(w), m, k, n, abs(bias)));
    },
  );
});

describe.skipIf(!gpu)("createWebGpuBackend with weightStorage f16", () => {
  const hasF16 = gpu?.device.features.has("shader-f16") ?? false;

  it.skipIf(hasF16)("refuses f16 weights on a device without shader-f16 (GPU_UNAVAILABLE)", () => {
    let err: unknown;
    try {
      createWebGpuBackend(gpu!.device, { weightStorage: "f16" });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "GPU_UNAVAILABLE")).toBe(true);
    expect(String(err)).toContain("shader-f16");
  });

  it.skipIf(!hasF16)("runs f16-stored weights like the reference on the f16-rounded weights", async () => {
    const backend = createWebGpuBackend(gpu!.device, { weightStorage: "f16" });
    for (const [m, k, n] of [
      [1, 33, 17],
      [67, 45, 70],
    ] as const) {
      const x = randn(m * k, 70);
      const w = randn(n * k, 71);
      const wh = f16BitsToF32(f32ToF16Bits(w)); // (n, k) what the GPU stores
      const y = await backend.matmulTransB(x, w, m, k, n);
      expectClose(y, denseMatmulRef(x, wh, m, k, n), denseMatmulRef(abs(x), abs(wh), m, k, n));
    }
    await backend.dispose();
  });
});

describe.skipIf(!gpu)("createWebGpuBackend with artificially small limits", () => {
  const backend = gpu
    ? createWebGpuBackend(gpu.device, {
        limits: {
          maxStorageBufferBindingSize: 1024,
          maxComputeInvocationsPerWorkgroup: 64,
          maxComputeWorkgroupStorageSize: 4096,
        },
      })
    : undefined;
  const be = (): NonNullable<typeof backend> => backend!;

  it("tiles dense, sparse and statistics work that exceeds the binding limit and still matches", async () => {
    expect(be().limits.maxStorageBufferBindingSize).toBe(1024);
    const m = 21;
    const k = 30; // 120-byte rows: 8 rows per 1 KiB binding
    const n = 50;
    const x = randn(m * k, 50);
    const w = randn(n * k, 51);
    const d0 = be().stats().dispatches;
    const y = await be().matmulTransB(x, w, m, k, n);
    expect(be().stats().dispatches - d0).toBeGreaterThan(4);
    expectClose(y, denseMatmulRef(x, w, m, k, n), denseMatmulRef(abs(x), abs(w), m, k, n));
    const wp = prune(w, n, k, 0.5, 52);
    be().registerSparseWeight(wp, sparseFromDense(wp, n, k, "sparse-bitmask"));
    const ys = await be().matmulTransB(x, wp, m, k, n);
    expectClose(ys, denseMatmulRef(x, wp, m, k, n), denseMatmulRef(abs(x), abs(wp), m, k, n));
    const acc = new Float64Array(k * k);
    const ref = new Float64Array(k * k);
    await be().gramAccumulate(x, m, k, acc);
    gramRef(x, m, k, ref);
    for (let i = 0; i < k * k; i++)
      expect(Math.abs(acc[i]! - ref[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref[i]!)));
  });

  it("splits grids that exceed the per-dimension workgroup limit (16 here) and still matches", async () => {
    const small = createWebGpuBackend(gpu!.device, { limits: { maxComputeWorkgroupsPerDimension: 16 } });
    const m = 5;
    const k = 8;
    const n = 1100; // 18 tiles of 64 rows > 16: two weight chunks; matvec/sparse grids go 2-D
    const x = randn(m * k, 54);
    const w = randn(n * k, 55);
    const absRef = denseMatmulRef(abs(x), abs(w), m, k, n);
    expectClose(await small.matmulTransB(x, w, m, k, n), denseMatmulRef(x, w, m, k, n), absRef);
    expectClose(
      await small.matmulTransB(x.subarray(0, k), w, 1, k, n),
      denseMatmulRef(x.subarray(0, k), w, 1, k, n),
      absRef.subarray(0, n),
    );
    const wp = prune(w, n, k, 0.5, 56);
    small.registerSparseWeight(wp, sparseFromDense(wp, n, k, "csr"));
    expectClose(await small.matmulTransB(x, wp, m, k, n), denseMatmulRef(x, wp, m, k, n), absRef);
    const xt = randn(3 * 1100, 57); // (3, 1100): Gram 1100² in column blocks of 1024
    const acc = new Float64Array(1100 * 1100);
    const ref = new Float64Array(1100 * 1100);
    await small.gramAccumulate(xt, 3, 1100, acc);
    gramRef(xt, 3, 1100, ref);
    let worst = 0;
    for (let i = 0; i < acc.length; i++)
      worst = Math.max(worst, Math.abs(acc[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
    expect(worst).toBeLessThan(1e-5);
    await small.dispose();
  });

  it("refuses a single row larger than the binding limit with GPU_LIMIT_EXCEEDED", async () => {
    const k = 300; // 1200 bytes > 1024
    await expect(be().matmulTransB(new Float32Array(k), new Float32Array(k), 1, k, 1)).rejects.toMatchObject({
      code: "GPU_LIMIT_EXCEEDED",
    });
  });
});

describe.skipIf(!gpu)("createWebGpuBackend after device loss", () => {
  it("fails the next call with GPU_DEVICE_LOST", async () => {
    const own = await tryNodeGpu();
    const backend = createWebGpuBackend(own!.device);
    const x = randn(4, 60);
    await backend.matmulTransB(x, x, 1, 4, 1);
    own!.device.destroy();
    await own!.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    await expect(backend.matmulTransB(x, x, 1, 4, 1)).rejects.toMatchObject({ code: "GPU_DEVICE_LOST" });
    await own!.dispose();
  });
});

import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { maxRelError, refMatmul, uniform } from "../../test/reference.ts";
import { createDefaultCpuBackend } from "./default-backend.ts";

/** A stand-in for the plain JS backend: a scalar matmul written here. */
function fakeJs(): ComputeBackend {
  return {
    name: "js",
    async matmulTransB(x: Float32Array, w: Float32Array, m: number, k: number, n: number) {
      const y = new Float32Array(m * n); // (m, n)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += (x[i * k + t] ?? 0) * (w[j * k + t] ?? 0);
          y[i * n + j] = s;
        }
      return y;
    },
    async gramAccumulate() {},
    async colSqNormAccumulate() {},
    invalidate() {},
  } as unknown as ComputeBackend;
}

const unavailable = async (): Promise<ComputeBackend> => {
  throw new PruneError("BACKEND_UNAVAILABLE", "test: simulated missing WebAssembly SIMD.");
};

afterEach(() => vi.restoreAllMocks());

describe("createDefaultCpuBackend", () => {
  it("defaults to the threaded wasm backend, which computes a correct matmul", async () => {
    const b = await createDefaultCpuBackend({ fallback: fakeJs, threads: 2 });
    try {
      expect(b.name).toBe("wasm-simd x2");
      const [m, k, n] = [9, 37, 300];
      const x = uniform(m * k, 1);
      const w = uniform(n * k, 2);
      const y = await b.matmulTransB(x, w, m, k, n);
      const ref = refMatmul(x, w, m, k, n);
      expect(maxRelError(y, ref.y, ref.scale)).toBeLessThan(1e-6);
    } finally {
      await b.dispose();
    }
  });

  it("falls back to the JS backend when WebAssembly SIMD is missing (real detection, stubbed validate)", async () => {
    vi.spyOn(WebAssembly, "validate").mockReturnValue(false);
    const lines: string[] = [];
    const logger = { debug() {}, warn() {}, info: (m: string) => void lines.push(m) };
    const b = await createDefaultCpuBackend({ fallback: fakeJs, logger });
    expect(b.name).toBe("js");
    expect(lines.join("\n")).toMatch(/js \(WebAssembly SIMD unavailable\)/);
    const y = await b.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
    expect(Array.from(y)).toEqual([11]);
    await b.dispose(); // no-op, but always callable
    await b.dispose();
  });

  it("falls back on an injected unavailable factory, but prefer: wasm then throws", async () => {
    const b = await createDefaultCpuBackend({ fallback: fakeJs, createWasm: unavailable });
    expect(b.name).toBe("js");
    await expect(
      createDefaultCpuBackend({ fallback: fakeJs, createWasm: unavailable, prefer: "wasm" }),
    ).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE" });
  });

  it("never hides other errors behind the fallback", async () => {
    const broken = async (): Promise<ComputeBackend> => {
      throw new PruneError("BACKEND_WORKER_FAILED", "test: worker did not start.");
    };
    await expect(createDefaultCpuBackend({ fallback: fakeJs, createWasm: broken })).rejects.toMatchObject({
      code: "BACKEND_WORKER_FAILED",
    });
    await expect(createDefaultCpuBackend({ fallback: fakeJs, threads: 0 })).rejects.toThrow(RangeError);
  });

  it("prefer: js uses the fallback without touching wasm; bad options are programmer errors", async () => {
    const createWasm = vi.fn(unavailable);
    const b = await createDefaultCpuBackend({ fallback: fakeJs, prefer: "js", createWasm });
    expect(b.name).toBe("js");
    expect(createWasm).not.toHaveBeenCalled();
    await expect(
      createDefaultCpuBackend({ fallback: fakeJs, prefer: "gpu" as unknown as "js" }),
    ).rejects.toThrow(/prefer must be one of auto, wasm, js, got "gpu"/);
    await expect(
      createDefaultCpuBackend({ fallback: undefined as unknown as () => ComputeBackend }),
    ).rejects.toThrow(TypeError);
  });

  it("passes threads and wasm options to the factory; single thread without shared memory in auto", async () => {
    const seen: unknown[] = [];
    const createWasm = async (o: unknown): Promise<ComputeBackend> => {
      seen.push(o);
      return { ...fakeJs(), name: "fake-wasm", dispose: async () => {} } as ComputeBackend;
    };
    await createDefaultCpuBackend({ fallback: fakeJs, createWasm, threads: 3, packCacheBytes: 0 });
    expect(seen[0]).toEqual({ threads: 3, packCacheBytes: 0 });
    vi.stubGlobal("SharedArrayBuffer", undefined);
    try {
      await createDefaultCpuBackend({ fallback: fakeJs, createWasm });
    } finally {
      vi.unstubAllGlobals();
    }
    expect(seen[1]).toEqual({ threads: 1 });
  });
});

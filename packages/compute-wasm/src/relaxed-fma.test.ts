// The relaxed-SIMD FMA matmul kernel (option relaxedFma): used only where the runtime validates
// relaxed SIMD, within float32 rounding of the float64 reference, and never silently elsewhere.
// Node 20 needs `--experimental-wasm-relaxed-simd` for the FMA cases to run.
import { describe, expect, it } from "vitest";
import { maxRelError, refMatmul, uniform } from "../test/reference.ts";
import { createWasmBackend } from "./backend.ts";
import { buildKernelModule } from "./kernels.ts";
import { createWasmBackendNode } from "./node/node-backend.ts";
import { isRelaxedSimdSupported } from "./simd.ts";

const relaxed = isRelaxedSimdSupported();

describe("relaxedFma", () => {
  it("is taken exactly when the runtime validates relaxed SIMD, and named", async () => {
    const b = await createWasmBackend({ relaxedFma: true });
    expect(b.name).toBe(relaxed ? "wasm-simd x1 fma" : "wasm-simd x1");
    expect(WebAssembly.validate(buildKernelModule({ shared: false, maxPages: 16, relaxedFma: true }))).toBe(
      relaxed,
    );
    expect((await createWasmBackend()).name).toBe("wasm-simd x1");
    await expect(createWasmBackend({ relaxedFma: "yes" as unknown as boolean })).rejects.toThrow(
      /relaxedFma must be a boolean/,
    );
  });

  it.skipIf(!relaxed)("matches the float64 reference within float32 rounding (1 and 2 threads)", async () => {
    const one = await createWasmBackend({ relaxedFma: true });
    const two = await createWasmBackendNode({ threads: 2, relaxedFma: true });
    try {
      expect(two.name).toBe("wasm-simd x2 fma");
      let seed = 1;
      for (const [m, k, n] of [
        [1, 1, 1],
        [5, 7, 9],
        [33, 300, 17],
        [130, 777, 70],
      ] as const) {
        const x = uniform(m * k, seed++); // (m, k)
        const w = uniform(n * k, seed++); // (n, k)
        const bias = uniform(n, seed++); // (n,)
        const ref = refMatmul(x, w, m, k, n, bias);
        const y1 = await one.matmulTransB(x, w, m, k, n, { bias });
        const y2 = await two.matmulTransB(x, w, m, k, n, { bias });
        const tol = 4e-6 * (1 + k / 64); // as backend.test.ts
        expect(maxRelError(y1, ref.y, ref.scale), `${m}x${k}x${n}`).toBeLessThan(tol);
        expect(y2, `${m}x${k}x${n} threads`).toEqual(y1);
      }
    } finally {
      await one.dispose();
      await two.dispose();
    }
  });
});

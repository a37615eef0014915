import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxRelError, refMatmul, uniform } from "../../test/reference.ts";
import { createWasmBackend, type WasmBackend } from "../backend.ts";
import { createWasmBackendNode } from "./node-backend.ts";

let single: WasmBackend;
let threaded: WasmBackend;
beforeAll(async () => {
  single = await createWasmBackend();
  threaded = await createWasmBackendNode({ threads: 3 });
});
afterAll(async () => {
  await single.dispose();
  await threaded.dispose();
});

const sameBits = (a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe("createWasmBackendNode", () => {
  it("names its thread count", () => {
    expect(threaded.name).toBe("wasm-simd x3");
    expect(threaded.threads).toBe(3);
  });

  // Every shape here is above the 2 MFLOP threshold under which a call stays on one thread.
  it("gives bitwise the single-threaded matmul on shapes large enough to be split", async () => {
    for (const [m, k, n] of [
      [129, 127, 257],
      [33, 300, 200],
      [1, 4099, 517], // decode-like: split over weight panels only
      [260, 520, 9], // one panel: split over rows only
    ] as const) {
      const x = uniform(m * k, m + k);
      const w = uniform(n * k, n);
      const bias = uniform(n, 3);
      const a = await single.matmulTransB(x, w, m, k, n, { bias });
      const b = await threaded.matmulTransB(x, w, m, k, n, { bias });
      expect(sameBits(a, b), `${m}x${k}x${n}`).toBe(true);
      const ref = refMatmul(x, w, m, k, n, bias);
      expect(maxRelError(b, ref.y, ref.scale)).toBeLessThan(4e-6 * (1 + k / 64));
    }
  });

  it("gives bitwise the single-threaded Gram accumulation", async () => {
    const [m, k] = [520, 131]; // two full 256-row chunks (parallel) and a short one
    const x = uniform(m * k, 77);
    const a = new Float64Array(k * k).fill(1);
    const b = new Float64Array(k * k).fill(1);
    await single.gramAccumulate(x, m, k, a);
    await threaded.gramAccumulate(x, m, k, b);
    expect(sameBits(a, b)).toBe(true);
    let diag = 1;
    for (let i = 0; i < m; i++) diag += (x[i * k] as number) ** 2;
    expect(Math.abs((b[0] as number) - diag)).toBeLessThan(1e-5 * diag);
  });

  it("runs with one thread without workers", async () => {
    const b = await createWasmBackendNode({ threads: 1 });
    expect(b.name).toBe("wasm-simd x1");
    const y = await b.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
    expect(Array.from(y)).toEqual([11]);
    await b.dispose();
  });

  it("rejects a bad thread count", async () => {
    await expect(createWasmBackendNode({ threads: 0 })).rejects.toThrow(
      /threads must be an integer in \[1, 256\], got 0/,
    );
    await expect(createWasmBackendNode({ threads: 1.5 })).rejects.toThrow(RangeError);
  });

  it("disposes twice without error and refuses later calls", async () => {
    const b = await createWasmBackendNode({ threads: 2 });
    const [m, k, n] = [64, 256, 128];
    const y = await b.matmulTransB(uniform(m * k, 1), uniform(n * k, 2), m, k, n);
    expect(y.length).toBe(m * n);
    await b.dispose();
    await b.dispose();
    await expect(b.gramAccumulate(uniform(4, 1), 2, 2, new Float64Array(4))).rejects.toThrow(/disposed/);
  });
});

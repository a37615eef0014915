import { createWasmBackend } from "@mama-prune/compute-wasm";
import { isPruneError, matrix } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, naiveBackend, nmMask, randomWeight } from "../test/helpers.ts";
import { reconstructionError, reconstructionErrorOnBackend } from "./reconstruction-error.ts";
import { sparsegpt } from "./sparsegpt.ts";

const wasm = await createWasmBackend();
afterAll(async () => {
  await wasm.dispose?.();
});

describe("reconstructionErrorOnBackend", () => {
  const rows = 40;
  const n = 200;
  const w = randomWeight(rows, n, 21);
  const h = activationLikeHessian(400, n, 22, { dead: [3] });
  const masked = new Float32Array(w.data);
  const mask = nmMask(w, 2, 4);
  for (let i = 0; i < masked.length; i++) if (mask[i] === 0) masked[i] = 0;
  for (let j = 0; j < n; j++) masked[5 * n + j] = w.data[5 * n + j]!; // one unchanged row

  it("matches the float64 value: masked weights to 1e-6, SparseGPT's (near H's null space) to 1e-4", async () => {
    const sg = await sparsegpt(w, h, { mask });
    for (const [newW, tol] of [
      [masked, 1e-6],
      [sg.weight, 1e-4],
    ] as const) {
      const ref = reconstructionError(w, newW, h);
      for (const backend of [wasm, naiveBackend()]) {
        const e = await reconstructionErrorOnBackend(w, newW, h, { backend, minCols: 0 });
        expect(Math.abs(e - ref) / ref).toBeLessThan(tol);
      }
    }
  });

  it("below minCols it is the float64 function, bit for bit, without touching the backend", async () => {
    const be = naiveBackend();
    const e = await reconstructionErrorOnBackend(w, masked, h, { backend: be });
    expect(be.calls).toBe(0);
    expect(e).toBe(reconstructionError(w, masked, h));
  });

  it("0 when nothing changed; the float64 function's shape errors", async () => {
    expect(
      await reconstructionErrorOnBackend(w, new Float32Array(w.data), h, { backend: wasm, minCols: 0 }),
    ).toBe(0);
    const e = await reconstructionErrorOnBackend(matrix(2, 2, new Float32Array(4)), new Float32Array(3), h, {
      backend: wasm,
      minCols: 0,
    }).catch((x: unknown) => x);
    expect(isPruneError(e) && e.code).toBe("SHAPE_MISMATCH");
  });
});

import { createWasmBackend } from "@mama-prune/compute-wasm";
import { describe, expect, it } from "vitest";
import { activationLikeHessian, randomMask, randomWeight } from "../test/helpers.ts";
import { pcgRefit } from "./pcg-refit.ts";

describe("pcgRefit with a float32 H and the float64 diagonal (hessianDiagonal)", () => {
  it("gives the float64 Gram's weights, hDelta, damping and iterations bit for bit (H in blocks and whole, dead input)", async () => {
    const rows = 300;
    const cols = 256;
    const w = randomWeight(rows, cols, 71);
    const h = activationLikeHessian(400, cols, 72, { dead: [5] });
    const mask = randomMask(rows, cols, 0.5, 73);
    const h32 = new Float32Array(h);
    const diag = Float64Array.from({ length: cols }, (_, j) => h[j * cols + j]!);
    // The rounding moved the diagonal (so a float32 mean diagonal would give another λ).
    let moved = 0;
    for (let j = 0; j < cols; j++) if (h32[j * cols + j] !== diag[j]) moved++;
    expect(moved).toBeGreaterThan(cols / 2);
    const backend = await createWasmBackend();
    try {
      for (const hBlockFloats of [64 * cols, cols * cols]) {
        const o = { backend, maxIterations: 6, hBlockFloats, hDelta: true };
        const ref = await pcgRefit(w, h, mask, o);
        const got = await pcgRefit(w, h32, mask, { ...o, hessianDiagonal: diag });
        expect(Array.from(got.weight)).toEqual(Array.from(ref.weight));
        expect(Array.from(got.hDelta!)).toEqual(Array.from(ref.hDelta!));
        expect(got.dampingUsed).toBe(ref.dampingUsed);
        expect(got.iterations).toBe(ref.iterations);
        expect(got.reconstructionError).toBe(ref.reconstructionError);
        expect(ref.reconstructionError).toBeLessThan(ref.startError);
        // Without the diagonal the float32 H is another problem (λ from the rounded diagonal).
        const plain = await pcgRefit(w, h32, mask, o);
        expect(plain.dampingUsed).not.toBe(ref.dampingUsed);
      }
      const bad = Float64Array.from(diag);
      bad[5] = 1; // a dead input (H_55 = 0) claimed live
      await expect(pcgRefit(w, h32, mask, { backend, hessianDiagonal: bad })).rejects.toThrow(
        /hessianDiagonal\[5\]/,
      );
    } finally {
      await backend.dispose?.();
    }
  });
});

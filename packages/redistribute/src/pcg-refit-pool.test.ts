import { createWasmBackend } from "@mama-prune/compute-wasm";
import { describe, expect, it } from "vitest";
import { activationLikeHessian, randomMask, randomWeight } from "../test/helpers.ts";
import { PCG_POOL, POOL_MIN_BYTES } from "./buffer-pool.ts";
import { pcgRefit } from "./pcg-refit.ts";
import { sparsegpt } from "./sparsegpt.ts";

describe("pcgRefit buffer pool", () => {
  it("reuses pooled buffers full of stale NaN bytes and gives the fresh-buffer results bit for bit (cold and warm start, H in blocks)", async () => {
    const rows = 1100;
    const cols = 512;
    const nb = 256; // hBlockFloats = nb·cols: H in two blocks of rows, yb = rows·nb floats (> 1 MiB)
    const w = randomWeight(rows, cols, 91);
    const h = activationLikeHessian(700, cols, 92, { dead: [3] });
    const mask = randomMask(rows, cols, 0.5, 93);
    mask.fill(0, 0, cols); // row 0 all pruned
    mask.fill(1, cols, 2 * cols); // row 1 none pruned
    const init = (await sparsegpt(w, h, { mask })).weight;
    const backend = await createWasmBackend();
    try {
      for (const initialWeight of [undefined, init]) {
        const o = {
          backend,
          maxIterations: 4,
          hBlockFloats: nb * cols,
          ...(initialWeight !== undefined ? { initialWeight } : {}),
        };
        const ref = await pcgRefit(w, h, mask, o);
        // Six stale buffers of the call's sizes (Δ, r: float64 rows·cols; p, q: float32; H·p block).
        const sizes = [
          8 * rows * cols,
          8 * rows * cols,
          4 * rows * cols,
          4 * rows * cols,
          4 * rows * nb,
          4 * rows * nb,
        ];
        const stale = sizes.map((b) => new Uint8Array(b).fill(0xff).buffer); // NaN in every float
        while (PCG_POOL.size > 0) PCG_POOL.take(POOL_MIN_BYTES); // only the stale ones pooled (it keeps 12)
        for (const b of stale) PCG_POOL.give(b);
        const got = await pcgRefit(w, h, mask, o);
        expect(Array.from(got.weight)).toEqual(Array.from(ref.weight));
        expect(got.iterations).toBe(ref.iterations);
        expect(Array.from(got.rowIterations)).toEqual(Array.from(ref.rowIterations));
        expect(got.reconstructionError).toBe(ref.reconstructionError);
        expect(got.startError).toBe(ref.startError);
        expect(Array.from(got.residual)).toEqual(Array.from(ref.residual));
        expect(ref.reconstructionError).toBeLessThan(ref.startError); // the refit did work
        // The call took the stale buffers and handed them back: the pool now holds only those.
        const pooled: ArrayBuffer[] = [];
        for (let i = 0; i < 6; i++) pooled.push(PCG_POOL.take(POOL_MIN_BYTES));
        const ours = pooled.filter((b) => stale.includes(b));
        expect(ours.length).toBeGreaterThanOrEqual(5); // Δ, r, p, q, and the block product
      }
    } finally {
      await backend.dispose?.();
    }
  });
});

import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { crossGramAccumulateOnBackend } from "./cross-gram-backend.ts";
import { crossGramAccumulate } from "./dense-stream.ts";

function correlated(rows: number, cols: number, seed: number): { xp: Float32Array; xd: Float32Array } {
  const rng = createRng(seed);
  const xd = Float32Array.from({ length: rows * cols }, () => rng.normal());
  // The pruned stream is the dense one plus a smaller perturbation (as after pruning earlier blocks).
  const xp = Float32Array.from(xd, (v) => v + 0.3 * rng.normal());
  return { xp, xd };
}

describe("crossGramAccumulateOnBackend", () => {
  it("below 512 columns is the float64 JS loop bit for bit (the backend is never called)", async () => {
    const { xp, xd } = correlated(50, 64, 1);
    const w = Float32Array.from({ length: 50 }, (_, t) => 0.5 + (t % 3));
    const want = new Float64Array(64 * 64);
    crossGramAccumulate(xp, xd, 50, 64, want, w);
    const got = new Float64Array(64 * 64);
    const throwing = new Proxy({} as never, {
      get: () => {
        throw new Error("backend touched");
      },
    });
    await crossGramAccumulateOnBackend(throwing, xp, xd, 50, 64, got, w);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("from 512 columns equals the float64 loop within float32 GEMM accuracy (chunked rows, sample weights, accumulating)", async () => {
    const rows = 2300; // two chunks of 2048 rows, the second ragged
    const cols = 520;
    const { xp, xd } = correlated(rows, cols, 2);
    const w = Float32Array.from({ length: rows }, (_, t) => (t % 5 === 0 ? 0 : 1 + (t % 4) / 4));
    const want = new Float64Array(cols * cols).fill(1.5);
    crossGramAccumulate(xp, xd, rows, cols, want, w);
    const got = new Float64Array(cols * cols).fill(1.5);
    const backend = await createWasmBackend();
    try {
      await crossGramAccumulateOnBackend(backend, xp, xd, rows, cols, got, w);
    } finally {
      await backend.dispose?.();
    }
    let maxAbs = 0;
    let maxErr = 0;
    let asymmetry = 0;
    for (let k = 0; k < want.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[k]!));
      maxErr = Math.max(maxErr, Math.abs(got[k]! - want[k]!));
    }
    for (let a = 0; a < cols; a++)
      for (let b = 0; b < a; b++)
        asymmetry = Math.max(asymmetry, Math.abs(want[a * cols + b]! - want[b * cols + a]!));
    expect(maxErr / maxAbs).toBeLessThan(1e-5);
    // C is not symmetric (X̃ ≠ X): a transposed product would be off by far more than the tolerance.
    expect(asymmetry / maxAbs).toBeGreaterThan(1e-2);
  });

  it("taking the product in blocks of C's rows gives the whole product's sums bit for bit", async () => {
    const rows = 300;
    const cols = 520; // 520 = 4·130: ragged last block at 12 rows per block
    const { xp, xd } = correlated(rows, cols, 5);
    const w = Float32Array.from({ length: rows }, (_, t) => 1 + (t % 3) / 2);
    const whole = new Float64Array(cols * cols).fill(0.25);
    const blocked = new Float64Array(cols * cols).fill(0.25);
    const backend = await createWasmBackend();
    try {
      await crossGramAccumulateOnBackend(backend, xp, xd, rows, cols, whole, w, cols * cols);
      await crossGramAccumulateOnBackend(backend, xp, xd, rows, cols, blocked, w, 12 * cols);
      // Reused scratch across calls (a longer call first, then this one): the same sums again.
      const scratch = {};
      const again = new Float64Array(cols * cols).fill(0.25);
      const junk = new Float64Array(cols * cols);
      const x2 = correlated(rows + 40, cols, 6);
      await crossGramAccumulateOnBackend(
        backend,
        x2.xp,
        x2.xd,
        rows + 40,
        cols,
        junk,
        undefined,
        12 * cols,
        scratch,
      );
      await crossGramAccumulateOnBackend(backend, xp, xd, rows, cols, again, w, 12 * cols, scratch);
      expect(Array.from(again)).toEqual(Array.from(blocked));
    } finally {
      await backend.dispose?.();
    }
    let diff = 0;
    for (let k = 0; k < whole.length; k++) if (whole[k] !== blocked[k]) diff++;
    expect(diff).toBe(0);
    // And the sums are the product's: against the float64 loop within float32 accuracy.
    const want = new Float64Array(cols * cols).fill(0.25);
    crossGramAccumulate(xp, xd, rows, cols, want, w);
    let maxAbs = 0;
    let maxErr = 0;
    for (let k = 0; k < want.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[k]!));
      maxErr = Math.max(maxErr, Math.abs(blocked[k]! - want[k]!));
    }
    expect(maxErr / maxAbs).toBeLessThan(1e-5);
  });

  it("names the wrong length like the JS loop", async () => {
    const backend = await createWasmBackend();
    try {
      await expect(
        crossGramAccumulateOnBackend(
          backend,
          new Float32Array(10),
          new Float32Array(600 * 2),
          2,
          600,
          new Float64Array(600 * 600),
        ),
      ).rejects.toThrow(/crossGramAccumulate: inputs must be \[rows, cols\]/);
    } finally {
      await backend.dispose?.();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniform } from "../test/reference.ts";
import { createWasmBackend, type WasmBackend } from "./backend.ts";
import { foldGramBlockRow, GRAM_GEMM_DEPTH, packColumnBlocks48 } from "./gram-gemm.ts";
import { createWasmBackendNode } from "./node/node-backend.ts";
import { packColumnBlocks } from "./packing.ts";

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/**
 * The block-row path's arithmetic, emulated in scalar JavaScript: per chunk of GRAM_GEMM_DEPTH rows
 * each upper-triangle entry is the kernel's float32 sum (products and partial sums rounded to
 * float32 in row order, no fused multiply-add), then one float64 add into both triangles.
 */
function emulatedGram(x: Float32Array, m: number, k: number, acc: Float64Array): void {
  const f = Math.fround;
  for (let i0 = 0; i0 < m; i0 += GRAM_GEMM_DEPTH) {
    const i1 = Math.min(m, i0 + GRAM_GEMM_DEPTH);
    for (let a = 0; a < k; a++) {
      for (let b = a; b < k; b++) {
        let s = 0;
        for (let i = i0; i < i1; i++) s = f(s + f((x[i * k + a] as number) * (x[i * k + b] as number)));
        acc[a * k + b] = (acc[a * k + b] as number) + s;
        if (b !== a) acc[b * k + a] = (acc[b * k + a] as number) + s;
      }
    }
  }
}

let single: WasmBackend;
let threaded: WasmBackend;
beforeAll(async () => {
  single = await createWasmBackend();
  threaded = await createWasmBackendNode({ threads: 2 });
});
afterAll(async () => {
  await single.dispose();
  await threaded.dispose();
});

describe("foldGramBlockRow", () => {
  it("adds the block row to the upper triangle and its transpose to the lower one, each entry once", () => {
    // ragged: rows not a multiple of the tile, ny > live columns (padding), block rows off the origin
    for (const [rows, ib, k, ny] of [
      [13, 0, 21, 24],
      [8, 5, 13, 8],
      [1, 19, 20, 8],
      [27, 3, 37, 40],
    ] as const) {
      const y = uniform(rows * ny, rows + ib);
      const acc = Float64Array.from(uniform(k * k, k));
      const want = Float64Array.from(acc);
      for (let r = 0; r < rows; r++)
        for (let c = r; c < k - ib; c++) {
          const v = y[r * ny + c] as number;
          want[(ib + r) * k + ib + c] = (want[(ib + r) * k + ib + c] as number) + v;
          if (c > r) want[(ib + c) * k + ib + r] = (want[(ib + c) * k + ib + r] as number) + v;
        }
      foldGramBlockRow(y, ny, rows, ib, k, acc);
      expect(sameBits(acc, want), `rows ${rows} ib ${ib} k ${k}`).toBe(true);
    }
  });
});

describe("packColumnBlocks48", () => {
  it("writes both operand layouts of packColumnBlocks (widths 4 and 8) in one pass", () => {
    for (const [m, i0, mc, mcPad, k, kp] of [
      [10, 2, 7, 8, 16, 16],
      [9, 0, 9, 12, 24, 32],
      [6, 1, 5, 8, 13, 16], // k not a multiple of 8: the two-pass fallback
    ] as const) {
      const x = uniform(m * k, k + mc);
      const a4 = new Float32Array(kp * mcPad).fill(Number.NaN);
      const a8 = new Float32Array(kp * mcPad).fill(Number.NaN);
      const b = new Float32Array(2 * kp * mcPad).fill(Number.NaN);
      packColumnBlocks(a4, 0, x, i0, mc, mcPad, k, kp, 4);
      packColumnBlocks(a8, 0, x, i0, mc, mcPad, k, kp, 8);
      packColumnBlocks48(b, 0, kp * mcPad, x, i0, mc, mcPad, k, kp);
      expect(sameBits(b.subarray(0, kp * mcPad), a4), `4: ${mc}x${k}`).toBe(true);
      expect(sameBits(b.subarray(kp * mcPad), a8), `8: ${mc}x${k}`).toBe(true);
      expect(a4.some(Number.isNaN)).toBe(false);
      if (k % 8 !== 0) continue;
      // column ranges, last first (as the Gram packs them): the same packs, piece by piece
      const c = new Float32Array(2 * kp * mcPad).fill(Number.NaN);
      for (let c1 = k; c1 > 0; c1 -= 8)
        packColumnBlocks48(c, 0, kp * mcPad, x, i0, mc, mcPad, k, kp, c1 - 8, c1);
      expect(sameBits(c, b), `ranges: ${mc}x${k}`).toBe(true);
    }
  });
});

describe("gramAccumulate, block-row path (k ≥ 512)", () => {
  it("equals the kernel's float32-per-chunk arithmetic bit for bit, on one thread and two (fold overlapped)", async () => {
    // m = 1102: chunks of 1024 + 78 rows (zero padded to 80); k = 520: block rows 8, 256, 256 (the
    // last first, packed column range by column range); k = 515 (not a multiple of 8): packed whole.
    // The accumulator starts non-symmetric.
    for (const [m, k, seed] of [
      [1102, 520, 41],
      [7, 515, 43],
    ] as const) {
      const x = uniform(m * k, seed);
      const start = uniform(k * k, seed + 1);
      const want = Float64Array.from(start);
      emulatedGram(x, m, k, want);
      for (const b of [single, threaded]) {
        const acc = Float64Array.from(start);
        await b.gramAccumulate(x, m, k, acc);
        expect(sameBits(acc, want), `${b.name} ${m}x${k}`).toBe(true);
      }
    }
    const [m, k] = [1102, 520];
    const x = uniform(m * k, 41);
    const start = uniform(k * k, 42);
    const want = Float64Array.from(start);
    emulatedGram(x, m, k, want);
    // and it is not the float64 Gram (the float32 partial sums are what is pinned here)
    let exact = start[0] as number;
    for (let i = 0; i < m; i++) exact += (x[i * k] as number) ** 2;
    expect(want[0]).not.toBe(exact);
    expect(Math.abs((want[0] as number) - exact)).toBeLessThan(1e-5 * exact);
  });
});

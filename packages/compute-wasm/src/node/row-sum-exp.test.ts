// The backend's row max / Σ exp(y − max) against the JavaScript loops it replaces, bit for bit.
import { createRng } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWasmBackend, isWasmSimdSupported, type WasmBackend } from "../index.ts";
import { createWasmBackendNode } from "./node-backend.ts";

/** The loops of a perplexity's log-sum-exp (pipeline's streamed head). */
function reference(y: Float32Array, rows: number, n: number): { max: Float64Array; sum: Float64Array } {
  const max = new Float64Array(rows);
  const sum = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) if (y[o + j]! > m) m = y[o + j]!;
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(y[o + j]! - m);
    max[r] = m;
    sum[r] = s;
  }
  return { max, sum };
}

function mismatches(a: Float64Array, b: Float64Array): number {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) bad++;
  return bad;
}

describe.skipIf(!isWasmSimdSupported())("wasm rowMaxSumExp", () => {
  let one: WasmBackend;
  let two: WasmBackend;
  beforeAll(async () => {
    one = await createWasmBackend();
    two = await createWasmBackendNode({ threads: 2 });
  });
  afterAll(async () => {
    await one.dispose();
    await two.dispose();
  });

  it("equals the loops bit for bit: logit-like rows, odd and even widths, several call chunks, 1 and 2 threads", async () => {
    const rng = createRng(31);
    for (const [rows, n] of [
      [300, 4096], // > one 4 MiB chunk
      [7, 4097],
      [33, 1],
      [5, 2],
      [3, 128257],
    ] as const) {
      const y = Float32Array.from({ length: rows * n }, () => 4 * rng.normal());
      const want = reference(y, rows, n);
      for (const b of [one, two]) {
        const max = new Float64Array(rows).fill(Number.NaN);
        const sum = new Float64Array(rows).fill(Number.NaN);
        await b.rowMaxSumExp(y, rows, n, max, sum);
        expect(mismatches(max, want.max), `${b.name} ${rows} × ${n} max`).toBe(0);
        expect(mismatches(sum, want.sum), `${b.name} ${rows} × ${n} sum`).toBe(0);
      }
    }
  });

  it("the edge values as the loops treat them: NaN never the max, ±∞, ±0, underflow, a row of −∞, a row of NaN", async () => {
    const n = 9;
    const rowsOf = [
      [0, -0, 1, -1, 2, 3, -800, 700, 88.5],
      [Number.NaN, 1, Number.NaN, 2, 0.5, Number.NaN, -3, -2, 1.5],
      [Number.NEGATIVE_INFINITY, 0, 1, 2, 3, 4, 5, 6, 7],
      [Number.POSITIVE_INFINITY, 0, 1, 2, 3, 4, 5, 6, Number.POSITIVE_INFINITY],
      new Array(n).fill(Number.NEGATIVE_INFINITY),
      new Array(n).fill(Number.NaN),
      [-0, -0, -0, 0, 0, -0, 0, -0, -0],
      [1e-40, -1e-40, 3.4e38, -3.4e38, 1e-45, 0, 0, 0, 0],
    ];
    const rows = rowsOf.length;
    const y = Float32Array.from(rowsOf.flat());
    const want = reference(y, rows, n);
    for (const b of [one, two]) {
      const max = new Float64Array(rows);
      const sum = new Float64Array(rows);
      await b.rowMaxSumExp(y, rows, n, max, sum);
      expect(mismatches(max, want.max), `${b.name} max`).toBe(0);
      expect(mismatches(sum, want.sum), `${b.name} sum`).toBe(0);
    }
    expect(want.max[4]).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(want.sum[4])).toBe(true); // −∞ − (−∞): the loops' NaN, kept
  });

  it("refuses operands of the wrong size or type, naming them; zero rows or columns", async () => {
    await expect(
      one.rowMaxSumExp(new Float32Array(5), 2, 3, new Float64Array(2), new Float64Array(2)),
    ).rejects.toThrow(/y has 5 values, expected rows·n = 6/);
    await expect(
      one.rowMaxSumExp(new Float32Array(6), 2, 3, new Float64Array(1), new Float64Array(2)),
    ).rejects.toThrow(/max has 1 values, expected rows = 2/);
    await expect(
      one.rowMaxSumExp(
        new Float32Array(6),
        2,
        3,
        new Float64Array(2),
        new Float32Array(2) as unknown as Float64Array,
      ),
    ).rejects.toThrow(/sum must be a Float64Array/);
    const max = new Float64Array(2);
    const sum = new Float64Array(2).fill(5);
    await one.rowMaxSumExp(new Float32Array(0), 2, 0, max, sum);
    expect(Array.from(max)).toEqual([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(Array.from(sum)).toEqual([0, 0]);
  });
});

// SparseGPT's per-row block selection against the comparator sort it replaced.
import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { selectPerRow } from "./sparsegpt-kernels.ts";

/** The previous implementation: per row, sort column indices by (score, column), prune the first `count`. */
function bySort(
  scores: Float64Array,
  mask: Uint8Array,
  rows: number,
  cols: number,
  i1: number,
  bw: number,
  count: number,
) {
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: bw }, (_, c) => c);
    order.sort((a, b) => scores[r * bw + a]! - scores[r * bw + b]! || a - b);
    for (let t = 0; t < count && t < bw; t++) mask[r * cols + i1 + order[t]!] = 0;
  }
}

describe("selectPerRow", () => {
  it("prunes the set a sort by (score, column) prunes: ties, ±0, Infinity, count 0 … bw + 1", () => {
    const rng = createRng(12);
    const [rows, cols, i1, bw] = [23, 50, 9, 37];
    const pool = [0, -0, 1, 1, 2, 3, Number.POSITIVE_INFINITY, 0.5];
    for (const kind of ["ties", "random"] as const) {
      const scores = Float64Array.from({ length: rows * bw }, () =>
        kind === "ties" ? pool[Math.floor(rng.next() * pool.length)]! : rng.next(),
      );
      for (const count of [0, 1, 5, 18, 36, 37, 38]) {
        const got = new Uint8Array(rows * cols).fill(1);
        const want = new Uint8Array(rows * cols).fill(1);
        selectPerRow(scores, got, rows, cols, i1, bw, count, new Float64Array(bw));
        bySort(scores, want, rows, cols, i1, bw, count);
        expect(Array.from(got), `${kind}, count ${count}`).toEqual(Array.from(want));
        let zeros = 0;
        for (const v of got) zeros += 1 - v;
        expect(zeros).toBe(rows * Math.min(count, bw));
      }
    }
  });
});

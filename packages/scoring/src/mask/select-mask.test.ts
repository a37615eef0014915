import { createRng, isPruneError } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isNmMask, type SelectMaskOptions, selectMask } from "./select-mask.ts";

/** Independent reference: list each group's flat indices, sort by (score, index), prune the first k. */
function bruteForce(scores: Float32Array, rows: number, cols: number, opts: SelectMaskOptions): Uint8Array {
  const groups: number[][] = [];
  const ks: number[] = [];
  if (opts.group === "n:m") {
    const { n, m } = opts.sparsity as { n: number; m: number };
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < cols; c += m) {
        groups.push(Array.from({ length: m }, (_, q) => i * cols + c + q));
        ks.push(n);
      }
  } else {
    const s = opts.sparsity as number;
    if (opts.group === "matrix") groups.push(Array.from({ length: rows * cols }, (_, p) => p));
    if (opts.group === "row")
      for (let i = 0; i < rows; i++) groups.push(Array.from({ length: cols }, (_, j) => i * cols + j));
    if (opts.group === "block") {
      const bs = opts.blockSize ?? 128;
      for (let c0 = 0; c0 < cols; c0 += bs) {
        const g: number[] = [];
        for (let i = 0; i < rows; i++)
          for (let j = c0; j < Math.min(cols, c0 + bs); j++) g.push(i * cols + j);
        groups.push(g);
      }
    }
    for (const g of groups) ks.push(Math.floor(s * g.length));
  }
  const mask = new Uint8Array(rows * cols).fill(1);
  groups.forEach((g, gi) => {
    const order = [...g].sort((a, b) => scores[a]! - scores[b]! || a - b);
    for (let t = 0; t < ks[gi]!; t++) mask[order[t]!] = 0;
  });
  return mask;
}

function randomScores(n: number, seed: number, ties: boolean): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (ties ? rng.int(4) - 1 : rng.normal()));
}

const zeros = (m: Uint8Array): number => m.reduce((a, b) => a + (b === 0 ? 1 : 0), 0);

describe("selectMask", () => {
  it("prunes exactly floor(s·numel) per matrix on ragged shapes", () => {
    for (const [r, c] of [
      [1, 1],
      [3, 7],
      [13, 5],
      [1, 31],
    ] as const) {
      for (const s of [0, 0.1, 0.33, 0.5, 0.9, 0.99]) {
        const mask = selectMask(randomScores(r * c, r * 31 + c, false), r, c, {
          sparsity: s,
          group: "matrix",
        });
        expect(zeros(mask)).toBe(Math.floor(s * r * c));
      }
    }
  });

  it("prunes exactly floor(s·cols) in every row", () => {
    const [r, c] = [9, 13];
    const mask = selectMask(randomScores(r * c, 5, true), r, c, { sparsity: 0.7, group: "row" });
    for (let i = 0; i < r; i++) expect(zeros(mask.subarray(i * c, (i + 1) * c))).toBe(Math.floor(0.7 * c));
  });

  it("prunes exactly floor(s·rows·width) in every column block, including a narrower last block", () => {
    const [r, c, bs] = [5, 23, 8];
    const mask = selectMask(randomScores(r * c, 6, false), r, c, {
      sparsity: 0.45,
      group: "block",
      blockSize: bs,
    });
    for (let c0 = 0; c0 < c; c0 += bs) {
      const w = Math.min(bs, c - c0);
      let z = 0;
      for (let i = 0; i < r; i++) for (let j = c0; j < c0 + w; j++) z += mask[i * c + j] === 0 ? 1 : 0;
      expect(z).toBe(Math.floor(0.45 * r * w));
    }
  });

  it("matches the sort-based brute force on random inputs, with and without ties", () => {
    let seed = 100;
    for (const ties of [false, true]) {
      for (const [r, c] of [
        [4, 8],
        [7, 12],
        [3, 20],
      ] as const) {
        const scores = randomScores(r * c, seed++, ties);
        const cases: SelectMaskOptions[] = [
          { sparsity: 0.5, group: "matrix" },
          { sparsity: 0.3, group: "row" },
          { sparsity: 0.6, group: "block", blockSize: 5 },
          { sparsity: 0.25, group: "block" },
          { sparsity: { n: 2, m: 4 }, group: "n:m" },
        ];
        for (const opts of cases) {
          expect(Array.from(selectMask(scores, r, c, opts))).toEqual(
            Array.from(bruteForce(scores, r, c, opts)),
          );
        }
      }
    }
  });

  it("equals the brute force for arbitrary shapes, scores and sparsities (property)", () => {
    const group = fc.constantFrom("matrix", "row", "block") as fc.Arbitrary<"matrix" | "row" | "block">;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        group,
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        (r, c, s, g, bs, seed) => {
          const scores = randomScores(r * c, seed, seed % 2 === 0);
          const opts: SelectMaskOptions = { sparsity: s, group: g, blockSize: bs };
          const got = selectMask(scores, r, c, opts);
          const want = bruteForce(scores, r, c, opts);
          return got.every((v, i) => v === want[i]);
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });

  it("prunes the lower index first among equal scores", () => {
    const mask = selectMask(new Float32Array([1, 0, 1, 1, 0, 1]), 1, 6, { sparsity: 0.5, group: "matrix" });
    // two zeros pruned, then the first of the tied 1s
    expect(Array.from(mask)).toEqual([0, 0, 1, 1, 0, 1]);
    const nm = selectMask(new Float32Array([2, 2, 2, 2, -1, 3, 3, 3]), 1, 8, {
      sparsity: { n: 2, m: 4 },
      group: "n:m",
    });
    expect(Array.from(nm)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
  });

  it("treats -0 and +0 as equal scores and accepts ±Infinity", () => {
    const mask = selectMask(new Float32Array([0, -0, Infinity, -Infinity]), 1, 4, {
      sparsity: 0.5,
      group: "row",
    });
    expect(Array.from(mask)).toEqual([0, 1, 1, 0]);
  });

  it("keeps exactly M−N of every M consecutive weights in each row for N:M", () => {
    const [r, c] = [6, 24];
    for (const [n, m] of [
      [2, 4],
      [4, 8],
      [1, 3],
      [3, 4], // (0:4 was here: it prunes nothing and is now refused, see "rejects bad options")
    ] as const) {
      const mask = selectMask(randomScores(r * c, n * 10 + m, true), r, c, {
        sparsity: { n, m },
        group: "n:m",
      });
      expect(isNmMask(mask, r, c, n, m, true)).toBe(true);
      expect(zeros(mask)).toBe((r * c * n) / m);
    }
  });

  it("prunes floor(N·t/M) of a tail group of t < M columns (hand-checked 1×11 rows)", () => {
    const scores = new Float32Array([5, 1, 4, 2, 3, 8, 7, 6, 0.5, 9, 10]); // (1, 11)
    // 2:4: [5 1 4 2] loses 1, 2; [3 8 7 6] loses 3, 6; the tail [0.5 9 10] (t = 3) loses floor(2·3/4) = 1.
    const m24 = selectMask(scores, 1, 11, { sparsity: { n: 2, m: 4 }, group: "n:m" });
    expect(Array.from(m24)).toEqual([1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1]);
    // 4:8: [5 1 4 2 3 8 7 6] loses 1, 2, 3, 4; the tail [0.5 9 10] (t = 3) loses floor(4·3/8) = 1.
    const m48 = selectMask(scores, 1, 11, { sparsity: { n: 4, m: 8 }, group: "n:m" });
    expect(Array.from(m48)).toEqual([1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1]);
    expect(isNmMask(m24, 1, 11, 2, 4, true)).toBe(true);
    expect(isNmMask(m48, 1, 11, 4, 8, true)).toBe(true);
    // A tail of one column under 2:4 loses floor(2/4) = 0, even with the smallest score of the row.
    const m5 = selectMask(new Float32Array([3, 1, 2, 4, 0]), 1, 5, {
      sparsity: { n: 2, m: 4 },
      group: "n:m",
    });
    expect(Array.from(m5)).toEqual([1, 0, 0, 1, 1]);
    // Two rows of 11: the groups restart at each row (no group spans two rows).
    const two = selectMask(new Float32Array([...scores, ...scores]), 2, 11, {
      sparsity: { n: 4, m: 8 },
      group: "n:m",
    });
    expect(Array.from(two)).toEqual([...m48, ...m48]);
  });

  it("gives every row of width 172 under 4:8 exactly 21·4 + 2 zeros, every group its count", () => {
    const [r, c] = [5, 172];
    const mask = selectMask(randomScores(r * c, 48, true), r, c, { sparsity: { n: 4, m: 8 }, group: "n:m" });
    for (let i = 0; i < r; i++) {
      let z = 0;
      for (let j = 0; j < c; j++) z += mask[i * c + j] === 0 ? 1 : 0;
      expect(z).toBe(86);
      let tail = 0;
      for (let j = 168; j < 172; j++) tail += mask[i * c + j] === 0 ? 1 : 0;
      expect(tail).toBe(2);
    }
    expect(isNmMask(mask, r, c, 4, 8, true)).toBe(true);
  });

  it("keeps everything at sparsity 0 and handles empty matrices", () => {
    expect(zeros(selectMask(randomScores(12, 1, false), 3, 4, { sparsity: 0, group: "matrix" }))).toBe(0);
    expect(selectMask(new Float32Array(0), 0, 5, { sparsity: 0.5, group: "row" }).length).toBe(0);
  });

  it("rejects bad options with SPARSITY_INVALID naming the option", () => {
    const s = new Float32Array(8);
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return isPruneError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      return "no error";
    };
    expect(
      code(() => selectMask(s, 2, 4, { sparsity: 1, group: "matrix", name: "q_proj" })),
    ).toMatchInlineSnapshot(
      `"SPARSITY_INVALID: selectMask(q_proj): option sparsity is out of range. Expected a number in [0, 1), got 1."`,
    );
    expect(code(() => selectMask(s, 2, 4, { sparsity: -0.1, group: "row" }))).toMatch(/^SPARSITY_INVALID/);
    expect(code(() => selectMask(s, 2, 4, { sparsity: Number.NaN, group: "row" }))).toMatch(
      /^SPARSITY_INVALID/,
    );
    expect(code(() => selectMask(s, 2, 4, { sparsity: { n: 4, m: 4 }, group: "n:m" }))).toMatch(
      /^SPARSITY_INVALID.*1 <= n < m.*n=4, m=4/,
    );
    // 0:M prunes nothing: refused by core's one validation.
    expect(code(() => selectMask(s, 2, 4, { sparsity: { n: 0, m: 4 }, group: "n:m" }))).toMatch(
      /^SPARSITY_INVALID: selectMask: option sparsity is an invalid N:M pattern\. Expected integers 1 <= n < m .*got n=0, m=4\./,
    );
    expect(code(() => selectMask(s, 2, 4, { sparsity: 0.5, group: "n:m" }))).toMatch(/^SPARSITY_INVALID/);
    expect(code(() => selectMask(s, 2, 4, { sparsity: { n: 2, m: 4 }, group: "row" }))).toMatch(
      /^SPARSITY_INVALID/,
    );
    expect(code(() => selectMask(s, 2, 4, { sparsity: 0.5, group: "block", blockSize: 0 }))).toMatch(
      /^SPARSITY_INVALID.*blockSize/,
    );
    expect(code(() => selectMask(s, 2, 4, { sparsity: 0.5, group: "cols" as "row" }))).toMatch(
      /^SPARSITY_INVALID.*group/,
    );
    expect(code(() => selectMask(s, 3, 4, { sparsity: 0.5, group: "row" }))).toMatch(
      /^SHAPE_MISMATCH.*Expected.*12, got 8/,
    );
    expect(
      code(() => selectMask(new Float32Array([0, Number.NaN]), 1, 2, { sparsity: 0.5, group: "row" })),
    ).toMatch(/^SCORER_OUTPUT_INVALID.*score 1 is NaN/);
    expect(() => selectMask(s, 2.5, 4, { sparsity: 0.5, group: "row" })).toThrow(RangeError);
    expect(() => selectMask(s, 2, 4, undefined as never)).toThrow(TypeError);
    expect(() => selectMask([1, 2] as never, 1, 2, { sparsity: 0.5, group: "row" })).toThrow(TypeError);
  });
});

describe("isNmMask", () => {
  it("distinguishes at-least from exactly N zeros", () => {
    const m = new Uint8Array([0, 0, 0, 1, 0, 1, 0, 1]);
    expect(isNmMask(m, 1, 8, 2, 4)).toBe(true);
    expect(isNmMask(m, 1, 8, 2, 4, true)).toBe(false);
    expect(isNmMask(m, 1, 8, 3, 4)).toBe(false);
  });

  it("checks a tail group against floor(N·t/M)", () => {
    // 1×6 under 2:4: a full group and a tail of 2 that needs floor(2·2/4) = 1 zero.
    expect(isNmMask(new Uint8Array([0, 0, 1, 1, 0, 1]), 1, 6, 2, 4, true)).toBe(true);
    expect(isNmMask(new Uint8Array([0, 0, 1, 1, 1, 1]), 1, 6, 2, 4)).toBe(false);
    expect(isNmMask(new Uint8Array([0, 0, 1, 1, 0, 0]), 1, 6, 2, 4)).toBe(true);
    expect(isNmMask(new Uint8Array([0, 0, 1, 1, 0, 0]), 1, 6, 2, 4, true)).toBe(false);
  });
});

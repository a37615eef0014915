import { createRng, isPruneError } from "@mama-prune/core";
import { encodeSparse24, encodeSparseBitmask } from "@mama-prune/tensor-io";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type SparseWeight,
  sliceSparseRows,
  sparseFromDense,
  sparseMaxBufferBytes,
  sparseNnz,
  sparseToDense,
  validateSparseWeight,
} from "./sparse-weight.ts";

function sparseMatrix(rows: number, cols: number, density: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const w = new Float32Array(rows * cols); // (rows, cols)
  for (let i = 0; i < w.length; i++) if (rng.next() < density) w[i] = rng.normal();
  return w;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isPruneError(e) ? e.code : `${(e as Error).name}`;
  }
  return undefined;
}

describe("sparseFromDense", () => {
  it("builds the exact bytes of tensor-io's encodeSparseBitmask and encodeSparse24", () => {
    for (const [rows, cols] of [
      [3, 13],
      [5, 36],
      [1, 8],
    ] as const) {
      const w = sparseMatrix(rows, cols, 0.4, rows * cols);
      const mine = sparseFromDense(w, rows, cols, "sparse-bitmask");
      const theirs = encodeSparseBitmask(w, rows, cols);
      if (mine.format !== "sparse-bitmask") throw new Error("format");
      expect(Array.from(mine.bitmask)).toEqual(Array.from(theirs.bitmask));
      expect(Array.from(mine.compressed)).toEqual(Array.from(theirs.compressed));
      expect(Array.from(mine.rowOffsets)).toEqual(Array.from(theirs.rowOffsets));
    }
    const w24 = new Float32Array([0, 5, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0]); // (1, 12)
    const mine = sparseFromDense(w24, 1, 12, "sparse-24-bitmask");
    const theirs = encodeSparse24(w24, 1, 12);
    if (mine.format !== "sparse-24-bitmask") throw new Error("format");
    expect(Array.from(mine.bitmask)).toEqual(Array.from(theirs.bitmask));
    expect(Array.from(mine.compressed)).toEqual(Array.from(theirs.compressed));
  });

  it("builds CSR by hand-checked example", () => {
    const sw = sparseFromDense(new Float32Array([0, 2, 3, 0, 0, 0, 0, -1]), 2, 4, "csr");
    if (sw.format !== "csr") throw new Error("format");
    expect(Array.from(sw.rowPtr)).toEqual([0, 2, 3]);
    expect(Array.from(sw.colIdx)).toEqual([1, 2, 3]);
    expect(Array.from(sw.values)).toEqual([2, 3, -1]);
  });

  it("round-trips through sparseToDense for every format (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        (rows, groups, seed) => {
          const cols = 4 * groups;
          const rng = createRng(seed);
          const w = new Float32Array(rows * cols); // (rows, cols): at most 2 non-zeros per group of 4
          for (let i = 0; i < w.length; i += 4) {
            w[i + rng.int(4)] = rng.normal();
            if (rng.next() < 0.5) w[i + rng.int(4)] = rng.normal();
          }
          for (const f of ["csr", "sparse-bitmask", "sparse-24-bitmask"] as const) {
            expect(Array.from(sparseToDense(sparseFromDense(w, rows, cols, f)))).toEqual(Array.from(w));
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("refuses a group with three non-zeros for 2:4 (MASK_INVALID) and cols not divisible by 4", () => {
    expect(codeOf(() => sparseFromDense(new Float32Array([1, 1, 1, 0]), 1, 4, "sparse-24-bitmask"))).toBe(
      "MASK_INVALID",
    );
    expect(codeOf(() => sparseFromDense(new Float32Array(6), 1, 6, "sparse-24-bitmask"))).toBe(
      "SHAPE_MISMATCH",
    );
    expect(codeOf(() => sparseFromDense(new Float32Array(5), 2, 3, "csr"))).toBe("RangeError");
  });
});

describe("validateSparseWeight", () => {
  const w = sparseMatrix(4, 12, 0.5, 7);
  const bm = sparseFromDense(w, 4, 12, "sparse-bitmask") as Extract<
    SparseWeight,
    { format: "sparse-bitmask" }
  >;
  const csr = sparseFromDense(w, 4, 12, "csr") as Extract<SparseWeight, { format: "csr" }>;

  it("accepts consistent layouts", () => {
    expect(() => validateSparseWeight(bm)).not.toThrow();
    expect(() => validateSparseWeight(csr)).not.toThrow();
  });

  it("names the weight and the inconsistency for every kind of corruption", () => {
    const cases: [string, SparseWeight][] = [
      ["Expected 4 values|Expected", { ...bm, compressed: bm.compressed.subarray(1) }],
      ["padding", { ...bm, bitmask: bm.bitmask.map((b, i) => (i % 2 === 1 ? b | 0x80 : b)) }],
      ["row_offsets", { ...bm, rowOffsets: Array.from(bm.rowOffsets, (v, i) => (i === 2 ? v + 1 : v)) }],
      ["bitmask has the wrong size", { ...bm, bitmask: bm.bitmask.subarray(1) }],
      ["colIdx", { ...csr, colIdx: csr.colIdx.map(() => 12) }],
      ["rowPtr", { ...csr, rowPtr: csr.rowPtr.map((v, i) => (i === 0 ? 1 : v)) }],
      [
        "not 2:4",
        {
          format: "sparse-24-bitmask",
          shape: [1, 4],
          compressed: new Float32Array(2),
          bitmask: new Uint8Array([7]),
        },
      ],
    ];
    for (const [fragment, sw] of cases) {
      let err: unknown;
      try {
        validateSparseWeight(sw, "model.layers.0.mlp.up_proj");
      } catch (e) {
        err = e;
      }
      expect(isPruneError(err, "TENSOR_IO_MALFORMED")).toBe(true);
      expect(String(err)).toContain("model.layers.0.mlp.up_proj");
      expect(String(err)).toMatch(new RegExp(fragment));
    }
  });
});

describe("sliceSparseRows", () => {
  it("gives the rows of the dense matrix for every format", () => {
    const w = new Float32Array(6 * 8); // (6, 8), 2:4 pattern
    const rng = createRng(3);
    for (let i = 0; i < w.length; i += 4) w[i + rng.int(2)] = rng.normal();
    for (const f of ["csr", "sparse-bitmask", "sparse-24-bitmask"] as const) {
      const sw = sparseFromDense(w, 6, 8, f);
      const part = sliceSparseRows(sw, 2, 5);
      expect(part.shape).toEqual([3, 8]);
      expect(Array.from(sparseToDense(part))).toEqual(Array.from(w.subarray(16, 40)));
      expect(sparseNnz(part)).toBeLessThanOrEqual(sparseNnz(sw));
      expect(sparseMaxBufferBytes(part)).toBeLessThanOrEqual(sparseMaxBufferBytes(sw));
    }
    expect(() => sliceSparseRows(sparseFromDense(w, 6, 8, "csr"), 4, 7)).toThrow(RangeError);
  });
});

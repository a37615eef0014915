import { isPruneError, PruneError } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToF32, f32ToBytes } from "./dtype.ts";
import {
  compressWeight,
  decodeSparse24,
  decodeSparseBitmask,
  decodeSparseRaw,
  decompressSparseReader,
  encodeSparse24,
  encodeSparseBitmask,
  encodeSparseRaw,
  type RawTensorEntry,
  sparseFormatOf,
  sparsityConfig,
} from "./sparse.ts";
import type { TensorInfo, TensorReader } from "./types.ts";

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as PruneError).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

async function codeOfAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as PruneError).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

/** Bits of each float32, with ±0 mapped to +0 (what decoding promises). */
function expectedBits(a: Float32Array): number[] {
  const u = new Uint32Array(Float32Array.from(a, (x) => (x === 0 ? 0 : x)).buffer);
  return [...u];
}
const bitsOf = (a: Float32Array): number[] => [...new Uint32Array(a.slice().buffer)];

/** A dense matrix whose rows are all-zero, all-dense or random-sparse. */
const matrixArb = fc
  .record({ rows: fc.integer({ min: 0, max: 6 }), cols: fc.integer({ min: 0, max: 21 }) })
  .chain(({ rows, cols }) =>
    fc
      .array(
        fc.tuple(
          fc.constantFrom("zero", "dense", "mixed"),
          fc.array(fc.float({ noDefaultInfinity: false }), { minLength: cols, maxLength: cols }),
          fc.array(fc.boolean(), { minLength: cols, maxLength: cols }),
        ),
        { minLength: rows, maxLength: rows },
      )
      .map((rs) => {
        const out = new Float32Array(rows * cols); // (rows, cols)
        rs.forEach(([mode, vals, keep], r) => {
          for (let c = 0; c < cols; c++) {
            const v = vals[c]!;
            const dense = v === 0 || Number.isNaN(v) ? 1.5 : v;
            out[r * cols + c] = mode === "zero" ? 0 : mode === "dense" ? dense : keep[c] ? v : 0;
          }
        });
        return { rows, cols, dense: out };
      }),
  );

/** A matrix with at most two non-zeros in each group of four columns. */
const matrix24Arb = fc
  .record({ rows: fc.integer({ min: 0, max: 5 }), groups: fc.integer({ min: 0, max: 5 }) })
  .chain(({ rows, groups }) =>
    fc
      .array(
        fc.tuple(
          fc.subarray([0, 1, 2, 3], { maxLength: 2 }),
          fc.tuple(fc.float({ noNaN: true }), fc.float({ noNaN: true })),
        ),
        { minLength: rows * groups, maxLength: rows * groups },
      )
      .map((gs) => {
        const cols = groups * 4;
        const out = new Float32Array(rows * cols); // (rows, cols)
        gs.forEach(([pos, [a, b]], i) => {
          if (pos[0] !== undefined) out[i * 4 + pos[0]] = a;
          if (pos[1] !== undefined) out[i * 4 + pos[1]] = b;
        });
        return { rows, cols, dense: out };
      }),
  );

describe("encodeSparseBitmask", () => {
  it("packs bits little-endian per row on a hand-computed case with ragged columns", () => {
    // row 0: non-zeros at columns 1, 2, 9; row 1: all zero; row 2: columns 0 and 8
    const d = new Float32Array(3 * 10);
    d[1] = 1;
    d[2] = -2;
    d[9] = 3;
    d[20] = 4;
    d[28] = 5;
    const t = encodeSparseBitmask(d, 3, 10);
    expect([...t.bitmask]).toEqual([0b0000_0110, 0b10, 0, 0, 1, 1]);
    expect([...t.compressed]).toEqual([1, -2, 3, 4, 5]);
    expect([...t.rowOffsets]).toEqual([0, 3, 3]);
    expect(t.shape).toEqual([3, 10]);
    expect(decodeSparseBitmask(t)).toEqual(d);
  });

  it("round-trips exactly (bit for bit, −0 → +0) for ragged, all-zero and all-dense rows", () => {
    fc.assert(
      fc.property(matrixArb, ({ rows, cols, dense }) => {
        const t = encodeSparseBitmask(dense, rows, cols);
        expect(t.bitmask.length).toBe(rows * Math.ceil(cols / 8));
        expect(t.compressed.length).toBe(dense.filter((x) => x !== 0).length);
        expect(bitsOf(decodeSparseBitmask(t))).toEqual(expectedBits(dense));
      }),
      { numRuns: 200 },
    );
  });

  it("rejects a length that does not match the shape", () => {
    expect(codeOf(() => encodeSparseBitmask(new Float32Array(5), 2, 3, "w"))).toMatch(/^SHAPE_MISMATCH: w:/);
  });
});

describe("decodeSparseBitmask", () => {
  const t = encodeSparseBitmask(Float32Array.from([0, 1, 0, 2, 3, 0, 0, 0, 0, 4]), 2, 5);
  it("rejects inconsistent row offsets, set padding bits and value-count mismatches", () => {
    expect(codeOf(() => decodeSparseBitmask({ ...t, rowOffsets: Float64Array.from([0, 1]) }, "w"))).toMatch(
      /^TENSOR_IO_MALFORMED: w: row_offsets\[1\] is inconsistent/,
    );
    const mask = t.bitmask.slice();
    mask[0]! |= 0x80;
    expect(codeOf(() => decodeSparseBitmask({ ...t, bitmask: mask }, "w"))).toMatch(/bits set past column 4/);
    expect(codeOf(() => decodeSparseBitmask({ ...t, compressed: t.compressed.subarray(1) }, "w"))).toMatch(
      /Expected 4 values \(set bits\), got 3/,
    );
    expect(codeOf(() => decodeSparseBitmask({ ...t, bitmask: t.bitmask.subarray(1) }, "w"))).toMatch(
      /bitmask has the wrong size/,
    );
  });
});

describe("encodeSparse24", () => {
  it("keeps two values per group, padding with the earliest zeros", () => {
    const t = encodeSparse24(Float32Array.from([0, 0, 0, 7, 1, 0, 2, 0]), 1, 8);
    expect([...t.compressed]).toEqual([0, 7, 1, 2]);
    expect([...t.bitmask]).toEqual([0b0101_1001]);
    expect(decodeSparse24(t)).toEqual(Float32Array.from([0, 0, 0, 7, 1, 0, 2, 0]));
  });

  it("round-trips exactly and stores R × C/2 values", () => {
    fc.assert(
      fc.property(matrix24Arb, ({ rows, cols, dense }) => {
        const t = encodeSparse24(dense, rows, cols);
        expect(t.compressed.length).toBe((rows * cols) / 2);
        // a −0 kept as one of the two padding zeros keeps its sign; compare with ±0 identified
        expect(expectedBits(decodeSparse24(t))).toEqual(expectedBits(dense));
      }),
      { numRuns: 200 },
    );
  });

  it("rejects a group with three non-zeros naming the tensor, row and columns", () => {
    const d = new Float32Array(16);
    d[12] = 1;
    d[13] = 1;
    d[15] = 1;
    expect(codeOf(() => encodeSparse24(d, 2, 8, "layers.0.q_proj.weight"))).toBe(
      "MASK_INVALID: layers.0.q_proj.weight: row 1, columns 4..7 have 3 non-zeros. Expected at most 2 per group of 4 for sparse-24-bitmask, got 3.",
    );
    expect(codeOf(() => encodeSparse24(new Float32Array(6), 1, 6, "w"))).toMatch(/^SHAPE_MISMATCH: w: 2:4/);
  });

  it("rejects a bitmask group that does not keep exactly two values on decode", () => {
    const t = encodeSparse24(Float32Array.from([1, 2, 0, 0]), 1, 4);
    expect(codeOf(() => decodeSparse24({ ...t, bitmask: Uint8Array.from([0b0111]) }, "w"))).toMatch(
      /^TENSOR_IO_MALFORMED: w: row 0, columns 0..3 keep 3 values/,
    );
  });
});

describe("encodeSparseRaw", () => {
  it("compresses BF16 bytes in their own dtype, treating −0 as zero", () => {
    const vals = Float32Array.from([0, -0, 1.5, 0, -2, 0, 0, 3]);
    const bytes = f32ToBytes(vals, "BF16");
    const raw = encodeSparseRaw(bytes, "BF16", 2, 4, "unstructured", "w");
    expect([...raw.rowCounts]).toEqual([1, 2]);
    expect([...bytesToF32(raw.values, "BF16")]).toEqual([1.5, -2, 3]);
    const back = decodeSparseRaw(raw.values, raw.bitmask, "BF16", 2, 4, "unstructured", "w");
    expect([...bytesToF32(back, "BF16")]).toEqual([0, 0, 1.5, 0, -2, 0, 0, 3]);
  });
});

describe("compressWeight", () => {
  const w = Float32Array.from([0, 1, 0, 2, 3, 0, 0, 0]);
  it("produces the compressed-tensors names, dtypes and shapes for sparse-bitmask", () => {
    const es = compressWeight("m.q_proj.weight", "F32", [2, 4], new Uint8Array(w.buffer), "sparse-bitmask");
    expect(es.map((e) => [e.name, e.dtype, e.shape])).toEqual([
      ["m.q_proj.shape", "I64", [2]],
      ["m.q_proj.compressed", "F32", [3]],
      ["m.q_proj.bitmask", "U8", [2, 1]],
      ["m.q_proj.row_offsets", "I64", [2]],
    ]);
    const dv = new DataView(es[3]!.data.buffer);
    expect([dv.getBigInt64(0, true), dv.getBigInt64(8, true)]).toEqual([0n, 2n]);
  });

  it("produces a [2, 1] shape tensor and [R, C/2] values for sparse-24-bitmask", () => {
    const es = compressWeight(
      "m.q_proj.weight",
      "F32",
      [2, 4],
      new Uint8Array(w.buffer),
      "sparse-24-bitmask",
    );
    expect(es.map((e) => [e.name, e.dtype, e.shape])).toEqual([
      ["m.q_proj.shape", "I64", [2, 1]],
      ["m.q_proj.compressed", "F32", [2, 2]],
      ["m.q_proj.bitmask", "U8", [2, 1]],
    ]);
  });

  it("refuses tensors that are not 2-D", () => {
    expect(
      codeOf(() => compressWeight("n.weight", "F32", [4], new Uint8Array(16), "sparse-bitmask")),
    ).toMatch(/^TENSOR_IO_UNSUPPORTED: n\.weight/);
  });
});

describe("sparsityConfig", () => {
  it("builds the compressed-tensors sparsity_config", () => {
    expect(sparsityConfig({ format: "sparse-24-bitmask", globalSparsity: 0.5 })).toEqual({
      format: "sparse-24-bitmask",
      global_sparsity: 0.5,
      sparsity_structure: "2:4",
      targets: ["Linear"],
      ignore: ["lm_head"],
    });
    expect(() => sparsityConfig({ format: "sparse-bitmask", globalSparsity: 1.5 })).toThrow(RangeError);
  });

  it("is read back by sparseFormatOf, which refuses unknown formats and quantization", () => {
    const sc = sparsityConfig({ format: "sparse-bitmask", globalSparsity: 0.3 });
    expect(sparseFormatOf({ quantization_config: { sparsity_config: sc } })).toBe("sparse-bitmask");
    expect(sparseFormatOf({})).toBe("dense");
    expect(
      codeOf(() => sparseFormatOf({ quantization_config: { sparsity_config: { format: "x" } } })),
    ).toMatch(/^TENSOR_IO_UNSUPPORTED/);
    expect(codeOf(() => sparseFormatOf({ quantization_config: { config_groups: { g: {} } } }))).toMatch(
      /^TENSOR_IO_UNSUPPORTED/,
    );
  });
});

/** A TensorReader over raw entries (test double independent of safetensors). */
function memoryReader(entries: RawTensorEntry[]): TensorReader {
  const map = new Map(entries.map((e) => [e.name, e]));
  const get = (n: string): RawTensorEntry => {
    const e = map.get(n);
    if (e === undefined) throw new PruneError("TENSOR_IO_NOT_FOUND", `mem: ${n}`);
    return e;
  };
  const info = (n: string): TensorInfo => {
    const e = get(n);
    return { name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.data.byteLength };
  };
  return {
    source: "mem",
    list: () => entries.map((e) => info(e.name)),
    has: (n) => map.has(n),
    info,
    readRaw: async (n) => get(n).data,
    readF32: async (n) => bytesToF32(get(n).data, get(n).dtype),
    close: async () => {},
  };
}

describe("decompressSparseReader", () => {
  const q = Float32Array.from({ length: 4 * 12 }, (_, i) => (i % 3 === 0 ? i - 7 : 0)); // (4, 12)
  const norm: RawTensorEntry = {
    name: "n.weight",
    dtype: "F32",
    shape: [3],
    data: new Uint8Array(Float32Array.from([1, 2, 3]).buffer),
  };

  it("lists and reads sparse groups as dense weights, passing other tensors through", async () => {
    for (const format of ["sparse-bitmask", "sparse-24-bitmask"] as const) {
      const d = format === "sparse-bitmask" ? q : Float32Array.from(q, (x, i) => (i % 4 < 2 ? x : 0));
      const parts = compressWeight("l.q_proj.weight", "F32", [4, 12], new Uint8Array(d.buffer), format);
      const r = await decompressSparseReader(memoryReader([norm, ...parts]), format);
      expect(r.list().map((t) => t.name)).toEqual(["n.weight", "l.q_proj.weight"]);
      expect(r.info("l.q_proj.weight")).toEqual({
        name: "l.q_proj.weight",
        dtype: "F32",
        shape: [4, 12],
        byteLength: 192,
      });
      expect(await r.readF32("l.q_proj.weight")).toEqual(d);
      expect(await r.readF32("n.weight")).toEqual(Float32Array.from([1, 2, 3]));
      expect(r.has("l.q_proj.bitmask")).toBe(false);
      expect(await codeOfAsync(r.readRaw("l.q_proj.bitmask"))).toMatch(/^TENSOR_IO_NOT_FOUND/);
    }
  });

  it("rejects incomplete groups and corrupted parts with TENSOR_IO_MALFORMED naming the tensor", async () => {
    const parts = compressWeight(
      "l.q_proj.weight",
      "F32",
      [4, 12],
      new Uint8Array(q.buffer),
      "sparse-bitmask",
    );
    const noOffsets = parts.filter((p) => !p.name.endsWith("row_offsets"));
    expect(await codeOfAsync(decompressSparseReader(memoryReader(noOffsets), "sparse-bitmask"))).toMatch(
      /^TENSOR_IO_MALFORMED: mem: sparse weight "l.q_proj" is incomplete/,
    );
    const badMask = parts.map((p) =>
      p.name.endsWith("bitmask") ? { ...p, shape: [4, 1], data: p.data.subarray(0, 4) } : p,
    );
    expect(await codeOfAsync(decompressSparseReader(memoryReader(badMask), "sparse-bitmask"))).toMatch(
      /"l.q_proj.bitmask" does not fit shape \[4, 12\]/,
    );
    const flipped = parts.map((p) => {
      if (!p.name.endsWith("bitmask")) return p;
      const data = p.data.slice();
      data[0]! ^= 0b10; // column 1 is zero in q: now one more set bit than values
      return { ...p, data };
    });
    const r = await decompressSparseReader(memoryReader(flipped), "sparse-bitmask");
    expect(await codeOfAsync(r.readF32("l.q_proj.weight"))).toMatch(
      /^TENSOR_IO_MALFORMED: mem: "l.q_proj.weight":/,
    );
  });
});

describe("decompressSparseReader (fuzz)", () => {
  it("either decodes or throws a PruneError for corrupted groups, never anything else", async () => {
    const q = Float32Array.from({ length: 6 * 10 }, (_, i) => (i % 4 === 0 ? i + 1 : 0)); // (6, 10)
    const base = compressWeight("l.weight", "F32", [6, 10], new Uint8Array(q.buffer), "sparse-bitmask");
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        async (part, flips, cut) => {
          const parts = base.map((p, i) => {
            if (i !== part) return p;
            const data = p.data.slice();
            for (const [at, v] of flips) if (data.length > 0) data[at % data.length] = v;
            const keep = cut % 3 === 0 ? data.length - (cut % 9) : data.length;
            const size = p.dtype === "U8" ? 1 : p.dtype === "F32" ? 4 : 8;
            const n = Math.max(0, Math.floor(keep / size));
            const shape = p.shape.length === 1 ? [n] : p.shape[0]! * p.shape[1]! === n ? p.shape : [n];
            return { ...p, shape, data: data.subarray(0, n * size) };
          });
          try {
            const r = await decompressSparseReader(memoryReader(parts), "sparse-bitmask");
            const w = await r.readF32("l.weight");
            expect(w.length).toBe(r.info("l.weight").shape.reduce((a, b) => a * b, 1));
          } catch (e) {
            expect(isPruneError(e), String(e)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

import { describe, expect, it } from "vitest";
import { mirrorUpperToLower, transposeInto } from "./transpose.ts";

/** The definition, element by element. */
function reference(src: ArrayLike<number>, offset: number, stride: number, h: number, w: number): number[] {
  const out: number[] = new Array(h * w);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[j * h + i] = src[offset + i * stride + j]!;
  return out;
}

describe("transposeInto", () => {
  it("the hand-computed 2 × 3 case", () => {
    const t = new Float32Array(6);
    transposeInto(new Float32Array([1, 2, 3, 4, 5, 6]), 0, 3, 2, 3, t);
    expect(Array.from(t)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  // h with and without a tail of < 8 rows, w across strips of 256, a block inside a wider matrix.
  for (const [h, w, offset, stride] of [
    [8, 5, 0, 5],
    [13, 300, 7, 310],
    [67, 513, 2, 520],
    [1, 9, 4, 9],
    [5, 1, 0, 3],
  ] as const) {
    it(`a ${h} × ${w} block at offset ${offset}, stride ${stride}: every element where the definition puts it`, () => {
      const n = offset + (h - 1) * stride + w;
      const src64 = Float64Array.from({ length: n }, (_, i) => i * 1.000000001 - 3);
      const src32 = Float32Array.from(src64);
      const want64 = reference(src64, offset, stride, h, w);
      const d64 = new Float64Array(h * w + 3).fill(Number.NaN);
      transposeInto(src64, offset, stride, h, w, d64);
      expect(Array.from(d64.subarray(0, h * w))).toEqual(want64);
      expect(Number.isNaN(d64[h * w])).toBe(true); // nothing written past h·w
      // float64 → float32: the typed array's rounding
      const d32 = new Float32Array(h * w);
      transposeInto(src64, offset, stride, h, w, d32);
      expect(Array.from(d32)).toEqual(Array.from(Float32Array.from(want64)));
      const e32 = new Float32Array(h * w);
      transposeInto(src32, offset, stride, h, w, e32);
      expect(Array.from(e32)).toEqual(reference(src32, offset, stride, h, w));
    });
  }

  it("refuses a block that does not fit, naming the sizes", () => {
    expect(() => transposeInto(new Float32Array(10), 0, 3, 4, 3, new Float32Array(12))).toThrow(
      /a 4 × 3 block at offset 0, row stride 3 does not fit in a source of 10 elements/,
    );
    expect(() => transposeInto(new Float32Array(12), 0, 2, 4, 3, new Float32Array(12))).toThrow(
      /does not fit/,
    );
    expect(() => transposeInto(new Float32Array(12), 0, 3, 4, 3, new Float32Array(11))).toThrow(
      /a 3 × 4 result at dstOffset 0, row stride 4 does not fit in a dst of 11 elements/,
    );
    expect(() =>
      transposeInto(new Float32Array(12), 0, 3, 4, 3, new Float32Array(20), { dstOffset: 2, dstStride: 3 }),
    ).toThrow(/row stride 3 does not fit/);
    expect(() =>
      transposeInto(new Float32Array(12), 0, 3, 4, 3, new Float32Array(12), {
        rowScale: new Float64Array(3),
      }),
    ).toThrow(/rowScale has 3 elements, expected at least h = 4/);
    expect(() => transposeInto(new Float32Array(12), 0, 3, 1.5, 3, new Float32Array(12))).toThrow(
      /h must be a non-negative integer, got 1.5/,
    );
  });
});

describe("transposeInto with options", () => {
  // dst[dstOffset + j·dstStride + i] = rowScale[i]·src[offset + i·stride + j], element by element.
  for (const [h, w, dstOffset, dstStride, scaled] of [
    [13, 300, 5, 20, true],
    [16, 9, 0, 16, true],
    [67, 513, 3, 70, false],
    [3, 4, 1, 3, true],
  ] as const) {
    it(`${h} × ${w} into dst at ${dstOffset}, stride ${dstStride}${scaled ? ", rows scaled" : ""}: the definition, nothing else written`, () => {
      const stride = w + 3;
      const n = 2 + (h - 1) * stride + w;
      const src = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3 + 0.1);
      const scale = scaled ? Float32Array.from({ length: h }, (_, i) => 0.3 + i / 7) : undefined;
      const len = dstOffset + (w - 1) * dstStride + h + 4;
      const want = new Float32Array(len).fill(Number.NaN);
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          want[dstOffset + j * dstStride + i] =
            (scale === undefined ? 1 : scale[i]!) * src[2 + i * stride + j]!;
      const got = new Float32Array(len).fill(Number.NaN);
      transposeInto(
        src,
        2,
        stride,
        h,
        w,
        got,
        scale === undefined ? { dstOffset, dstStride } : { dstOffset, dstStride, rowScale: scale },
      );
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }
});

describe("mirrorUpperToLower", () => {
  it("copies the strict upper triangle onto the lower one, tile edges included (brute force)", () => {
    for (const k of [0, 1, 2, 63, 64, 65, 130]) {
      const a = Float64Array.from({ length: k * k }, (_, i) => i * 0.5 - 7);
      const want = a.slice();
      for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) want[i * k + j] = a[j * k + i]!;
      mirrorUpperToLower(a, k);
      expect(a).toEqual(want);
      if (k > 1) expect(a[k]).toBe(a[1]); // a[1, 0] = a[0, 1]
    }
    const f = new Float32Array([1, 2, 3, 4]);
    mirrorUpperToLower(f, 2);
    expect([...f]).toEqual([1, 2, 2, 4]);
  });

  it("rejects a wrong size or k", () => {
    expect(() => mirrorUpperToLower(new Float64Array(5), 2)).toThrow(/has 5 elements, expected k·k = 4/);
    expect(() => mirrorUpperToLower(new Float64Array(4), -1)).toThrow(/k must be a non-negative integer/);
  });
});

import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import {
  bytesToF32,
  bytesToF32Into,
  DTYPES,
  dtypeByteSize,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBytes,
  f32ToBytesInto,
  isDType,
} from "./dtype.ts";
import type { DType } from "./types.ts";

// ---- Independent references ----

// f32 bit pattern ↔ number through a DataView (no typed-array aliasing tricks).
const dv = new DataView(new ArrayBuffer(8));
function bitsToF32(bits: number): number {
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}
function f32ToBits(x: number): number {
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}

// F16 decoding from the IEEE definition, computed in float64 arithmetic.
function refF16(bits: number): number {
  const s = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  if (e === 0) return s * (m / 1024) * 2 ** -14;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// Every non-negative finite F16 value with its bits, ascending; plus 65536 standing for +inf
// (it is where the next binade would start, and 0x7c00 has an even mantissa, like a real value).
const F16_POS: { v: number; bits: number }[] = [];
for (let b = 0; b < 0x7c00; b++) F16_POS.push({ v: refF16(b), bits: b });
F16_POS.push({ v: 65536, bits: 0x7c00 });

// Nearest F16 by binary search over all values, ties to the even bit pattern.
function refF32ToF16(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = F16_POS.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (F16_POS[mid]!.v <= a) lo = mid;
    else hi = mid;
  }
  const L = F16_POS[lo]!;
  const H = F16_POS[hi]!;
  if (a === L.v) return sign | L.bits;
  const dl = a - L.v;
  const dh = H.v - a;
  if (dl < dh) return sign | L.bits;
  if (dh < dl) return sign | H.bits;
  return sign | ((L.bits & 1) === 0 ? L.bits : H.bits);
}

// Nearest BF16 by comparing the two truncation neighbours in float64, ties to even.
function refF32ToBf16(bits: number): number {
  const x = bitsToF32(bits);
  const lo = (bits >>> 16) & 0xffff;
  const hi = (lo + 1) & 0xffff;
  const vl = bitsToF32(lo << 16);
  // Rounding up past the largest finite value lands on inf; for the tie rule it sits at 2^128.
  const vh = (hi & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : bitsToF32(hi << 16);
  if (x === vl) return lo;
  const dl = Math.abs(x - vl);
  const dh = Math.abs(vh - x);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) === 0 ? lo : hi;
}

function u16le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    out[2 * i] = v & 0xff;
    out[2 * i + 1] = v >> 8;
  });
  return out;
}

describe("dtypeByteSize", () => {
  it("gives the element size of every dtype", () => {
    expect(Object.fromEntries(DTYPES.map((d) => [d, dtypeByteSize(d)]))).toEqual({
      F64: 8,
      F32: 4,
      F16: 2,
      BF16: 2,
      I64: 8,
      I32: 4,
      I16: 2,
      I8: 1,
      U64: 8,
      U32: 4,
      U16: 2,
      U8: 1,
      BOOL: 1,
    });
  });
  it("rejects unknown dtypes with a TypeError", () => {
    expect(() => dtypeByteSize("F8_E4M3" as DType)).toThrow(TypeError);
    expect(isDType("toString")).toBe(false);
    expect(isDType("BOOL")).toBe(true);
  });
});

describe("F16 conversion", () => {
  it("decodes all 65536 bit patterns like the IEEE definition", () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const f = bytesToF32(u16le(all), "F16");
    for (let b = 0; b < 65536; b++) {
      const ref = refF16(b);
      if (Number.isNaN(ref)) expect(Number.isNaN(f[b]!)).toBe(true);
      else if (f[b] !== ref || Object.is(f[b], -0) !== Object.is(ref, -0))
        expect([b, f[b]]).toEqual([b, ref]);
    }
  });
  it("round-trips every bit pattern F16 → F32 → F16 exactly (NaN stays NaN)", () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const back = new Uint16Array(f32ToBytes(bytesToF32(u16le(all), "F16"), "F16").buffer);
    let mismatches = 0;
    for (let b = 0; b < 65536; b++) {
      const isNan = (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
      if (isNan) {
        if (!((back[b]! & 0x7c00) === 0x7c00 && (back[b]! & 0x3ff) !== 0)) mismatches++;
      } else if (back[b] !== b) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
  it("rounds float32 to nearest-even F16 like a brute-force search, including subnormals and overflow", () => {
    const xs: number[] = [];
    // Every midpoint between neighbouring F16 values, and the float32 values just around it.
    for (let i = 0; i + 1 < F16_POS.length; i++) {
      const m = (F16_POS[i]!.v + F16_POS[i + 1]!.v) / 2;
      const mb = f32ToBits(m);
      for (const b of [mb - 1, mb, mb + 1]) xs.push(bitsToF32(b), -bitsToF32(b));
    }
    const rng = createRng(7);
    for (let i = 0; i < 50_000; i++) xs.push(bitsToF32(Math.floor(rng.next() * 2 ** 32)));
    xs.push(0, -0, 2 ** -25, 2 ** -26, 65504, 65519.99, 65520, 1e30, -1e30, Number.POSITIVE_INFINITY, 1e-45);
    const values = Float32Array.from(xs);
    const got = new Uint16Array(f32ToBytes(values, "F16").buffer);
    let bad = 0;
    for (let i = 0; i < values.length; i++) {
      const ref = refF32ToF16(values[i]!);
      if (ref === -1) {
        if ((got[i]! & 0x7c00) !== 0x7c00 || (got[i]! & 0x3ff) === 0) bad++;
      } else if (got[i] !== ref) {
        bad++;
      }
    }
    expect(bad).toBe(0);
    expect(f32BitsToF16Bits(f32ToBits(65520))).toBe(0x7c00); // tie at the top rounds to inf (even)
    expect(f32BitsToF16Bits(f32ToBits(2 ** -25))).toBe(0); // tie with 0 rounds to even 0
    expect(f32BitsToF16Bits(f32ToBits(1.5 * 2 ** -25))).toBe(1);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
  });
});

describe("BF16 conversion", () => {
  it("widens by placing the 16 bits in the top half of a float32", () => {
    const rng = createRng(3);
    const bits = Array.from({ length: 4096 }, () => rng.int(65536));
    const f = bytesToF32(u16le(bits), "BF16");
    bits.forEach((b, i) => {
      const ref = bitsToF32(b << 16);
      if (Number.isNaN(ref)) expect(Number.isNaN(f[i]!)).toBe(true);
      else expect(Object.is(f[i], ref)).toBe(true);
    });
  });
  it("rounds float32 to nearest-even BF16 like comparing both neighbours", () => {
    const rng = createRng(11);
    const bits: number[] = [];
    for (let i = 0; i < 50_000; i++) bits.push(Math.floor(rng.next() * 2 ** 32));
    for (let i = 0; i < 5000; i++) {
      const top = rng.int(65536) << 16;
      bits.push((top | 0x8000) >>> 0, (top | 0x7fff) >>> 0, (top | 0x8001) >>> 0); // ties and near-ties
    }
    let bad = 0;
    for (const b of bits) {
      const x = bitsToF32(b);
      const got = f32BitsToBf16Bits(b >>> 0);
      if (Number.isNaN(x)) {
        if (!Number.isNaN(bitsToF32(got << 16))) bad++;
      } else if (got !== refF32ToBf16(b >>> 0)) bad++;
    }
    expect(bad).toBe(0);
    expect(f32BitsToBf16Bits(0x3f808000)).toBe(0x3f80);
    expect(f32BitsToBf16Bits(0x3f818000)).toBe(0x3f82);
    expect(f32BitsToBf16Bits(0x7f7fffff)).toBe(0x7f80); // max float rounds to inf
  });
});

describe("bytesToF32 / f32ToBytes", () => {
  const samples: Record<DType, number[]> = {
    F64: [0, -1.5, 3.25, 1e30, -0],
    F32: [0, -1.5, 3.25, 1e30, 2 ** -149],
    F16: [0, -1.5, 3.25, 65504, 2 ** -24],
    BF16: [0, -1.5, 3.25, 2 ** 100, -(2 ** -100)],
    I64: [0, -1, 2 ** 40, -(2 ** 63), 2 ** 62],
    I32: [0, -1, 2147483520, -2147483648, 7],
    I16: [0, -1, 32767, -32768, 7],
    I8: [0, -1, 127, -128, 7],
    U64: [0, 1, 2 ** 63, 2 ** 64 - 2 ** 40, 7],
    U32: [0, 1, 4294967040, 65536, 7],
    U16: [0, 1, 65535, 256, 7],
    U8: [0, 1, 255, 128, 7],
    BOOL: [0, 1, 1, 0, 1],
  };
  it.each(DTYPES)("round-trips exactly representable %s values", (dtype) => {
    const values = Float32Array.from(samples[dtype]);
    const bytes = f32ToBytes(values, dtype);
    expect(bytes.byteLength).toBe(values.length * dtypeByteSize(dtype));
    expect(Array.from(bytesToF32(bytes, dtype))).toEqual(Array.from(values));
  });
  it("writes little-endian bytes that match a DataView reference for every dtype", () => {
    const v = Float32Array.from([1, 2, 100]);
    const ref = (dtype: DType): number[] => {
      const size = dtypeByteSize(dtype);
      const d = new DataView(new ArrayBuffer(3 * size));
      v.forEach((x, i) => {
        const o = i * size;
        if (dtype === "F64") d.setFloat64(o, x, true);
        else if (dtype === "F32") d.setFloat32(o, x, true);
        else if (dtype === "F16") d.setUint16(o, [0x3c00, 0x4000, 0x5640][i]!, true);
        else if (dtype === "BF16") d.setUint16(o, f32ToBits(x) >>> 16, true);
        else if (dtype === "I64" || dtype === "U64") d.setBigInt64(o, BigInt(x), true);
        else if (size === 4) d.setInt32(o, x, true);
        else if (size === 2) d.setInt16(o, x, true);
        else d.setInt8(o, dtype === "BOOL" ? 1 : x);
      });
      return Array.from(new Uint8Array(d.buffer));
    };
    for (const dtype of DTYPES) {
      const vals = dtype === "BOOL" ? Float32Array.from([1, 1, 1]) : v;
      expect([dtype, Array.from(f32ToBytes(vals, dtype))]).toEqual([dtype, ref(dtype)]);
    }
  });
  it("reads 64-bit integers like BigInt, rounding to the nearest float32", () => {
    const d = new DataView(new ArrayBuffer(24));
    d.setBigInt64(0, -(2n ** 63n), true);
    d.setBigInt64(8, 2n ** 53n + 1n, true);
    d.setBigInt64(16, -123456789n, true);
    expect(Array.from(bytesToF32(new Uint8Array(d.buffer), "I64"))).toEqual([
      Math.fround(-(2 ** 63)),
      Math.fround(2 ** 53),
      Math.fround(-123456789),
    ]);
    d.setBigUint64(0, 2n ** 64n - 1n, true);
    expect(bytesToF32(new Uint8Array(d.buffer, 0, 8), "U64")[0]).toBe(2 ** 64);
  });
  it("reads any non-zero BOOL byte as 1", () => {
    expect(Array.from(bytesToF32(Uint8Array.from([0, 1, 2, 255]), "BOOL"))).toEqual([0, 1, 1, 1]);
  });
  it.each(DTYPES)("gives the same %s values from an unaligned byte offset", (dtype) => {
    const rng = createRng(5);
    const size = dtypeByteSize(dtype);
    const raw = new Uint8Array(64 * size);
    for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
    const shifted = new Uint8Array(raw.length + 3);
    shifted.set(raw, 1);
    const view = shifted.subarray(1, 1 + raw.length); // byteOffset 1: misaligned for every size > 1
    const a = bytesToF32(raw, dtype);
    const b = bytesToF32(view, dtype);
    expect(Array.from(b).map(String)).toEqual(Array.from(a).map(String));
  });
  it("rejects a byte length that is not a multiple of the element size", () => {
    const err = (() => {
      try {
        bytesToF32(new Uint8Array(3), "F16", "m.safetensors: tensor w");
      } catch (e) {
        return e;
      }
    })();
    expect(isPruneError(err, "TENSOR_IO_MALFORMED")).toBe(true);
    expect((err as Error).message).toMatch(/^m\.safetensors: tensor w: F16 data length/);
  });
  const outOfRange: [DType, number][] = [
    ["U8", 256],
    ["U8", -1],
    ["I8", 128],
    ["I8", 0.5],
    ["I16", -32769],
    ["U16", 65536],
    ["I32", 2 ** 31],
    ["U32", 2 ** 32],
    ["I64", 2 ** 63],
    ["U64", 2 ** 64],
    ["U64", -1],
    ["BOOL", 2],
    ["I32", Number.NaN],
    ["I64", Number.POSITIVE_INFINITY],
  ];
  it.each(outOfRange)("refuses to store %s value %s instead of wrapping", (dtype, value) => {
    let err: unknown;
    try {
      f32ToBytes(Float32Array.from([0, value]), dtype, "out.safetensors: tensor t");
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "DTYPE_OUT_OF_RANGE")).toBe(true);
    expect((err as Error).message).toContain("out.safetensors: tensor t: value at index 1");
  });
  it("maps F16 overflow to infinity and keeps NaN a NaN in every float dtype", () => {
    const v = Float32Array.from([1e6, -1e6, Number.NaN]);
    expect(Array.from(bytesToF32(f32ToBytes(v, "F16"), "F16"))).toEqual([
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ]);
    expect(Number.isNaN(bytesToF32(f32ToBytes(v, "BF16"), "BF16")[2]!)).toBe(true);
    expect(Number.isNaN(bytesToF32(f32ToBytes(v, "F64"), "F64")[2]!)).toBe(true);
  });
  it("reads a subarray view with a non-zero, aligned offset without touching bytes outside it", () => {
    const all = f32ToBytes(Float32Array.from([9, 1, 2, 9]), "F32");
    expect(Array.from(bytesToF32(all.subarray(4, 12), "F32"))).toEqual([1, 2]);
    const f = new Float32Array(new ArrayBuffer(24), 8, 2);
    f.set([3, 4]);
    expect(Array.from(f32ToBytes(f, "F16"))).toEqual([0x00, 0x42, 0x00, 0x44]);
  });
  it("decodes and encodes into views at any offset (chunked use), unaligned targets included", () => {
    const values = Float32Array.from([1.5, -2, 3.25, 0.1]);
    for (const dtype of ["F64", "F32", "F16", "BF16"] as const) {
      const whole = f32ToBytes(values, dtype);
      const size = dtypeByteSize(dtype);
      const backing = new Uint8Array(whole.byteLength + 3);
      const target = backing.subarray(1, 1 + whole.byteLength); // misaligned
      expect(Array.from(f32ToBytesInto(values, dtype, target))).toEqual(Array.from(whole));
      const out = new Float32Array(6);
      bytesToF32Into(whole.subarray(2 * size), dtype, out.subarray(3, 5));
      expect(Array.from(out.subarray(3, 5))).toEqual(Array.from(bytesToF32(whole, dtype).subarray(2)));
      expect(out[2]).toBe(0);
      expect(out[5]).toBe(0);
    }
    expect(() => f32ToBytesInto(values, "F16", new Uint8Array(7))).toThrow(RangeError);
    expect(() => bytesToF32Into(new Uint8Array(8), "F16", new Float32Array(3))).toThrow(RangeError);
  });
});

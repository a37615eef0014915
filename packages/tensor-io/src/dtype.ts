// Element types of safetensors: sizes, and conversion between little-endian stored bytes and float32.
// Conversions are exact bit-level code (no lookup tables, no module-level state), so they run the
// same in Node, Deno and browsers. Integer targets refuse values they cannot hold instead of wrapping.

import { PruneError } from "@mama-prune/core";
import type { DType } from "./types.ts";

/** Every dtype this package reads and writes, in the order of the safetensors spec. */
export const DTYPES: readonly DType[] = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
];

const BYTE_SIZES: Readonly<Record<DType, number>> = {
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
};

/**
 * True when `value` is one of the supported dtype strings.
 *
 * @example
 * isDType("BF16"); // true
 * isDType("F8_E4M3"); // false (a safetensors dtype this package does not convert)
 */
export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(BYTE_SIZES, value);
}

/**
 * Size in bytes of one element of `dtype`.
 *
 * @throws TypeError when `dtype` is not a supported dtype string.
 * @example
 * dtypeByteSize("BF16"); // 2
 */
export function dtypeByteSize(dtype: DType): number {
  if (!isDType(dtype)) throw new TypeError(`dtypeByteSize: unknown dtype ${String(dtype)}`);
  return BYTE_SIZES[dtype];
}

// Typed arrays use the platform byte order; the file format is little-endian. Every platform that
// runs JS today is little-endian, but the DataView path keeps big-endian hosts correct.
const IS_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- Scalar bit conversions ----

/**
 * Decode IEEE 754 half-precision bits (0..65535) to a number (exact: every F16 value is a float32).
 *
 * @example
 * f16BitsToF32(0x3c00); // 1
 * f16BitsToF32(0x0001); // 5.960464477539063e-8 (smallest subnormal, 2^-24)
 */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/**
 * Float32 bit pattern (as an unsigned 32-bit integer) to F16 bits, rounding to nearest, ties to
 * even; overflow gives ±Infinity, values below half the smallest subnormal give ±0, NaN stays a
 * (quiet) NaN keeping the top payload bits.
 *
 * @example
 * f32BitsToF16Bits(0x3f800000); // 0x3c00 (1.0)
 */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below 2^-25: rounds to zero
    const full = mant | 0x800000; // 24-bit significand
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rem = full & ((1 << shift) - 1);
    let r = full >>> shift;
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r; // r may reach 0x400: the smallest normal, which is the right bit pattern
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++; // a carry into the exponent is correct, up to inf
  return sign | r;
}

// Float32 bits → F16 bits for a whole array: values in the F16 normal range (the common case) are
// rounded inline; everything else (subnormals, overflow, inf, NaN, zero) goes through the scalar path.
function f32ToF16Array(src: Int32Array, dst: Uint16Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    const e = (x >>> 23) & 0xff;
    if (e > 112 && e < 143) {
      // Rebias 127 → 15 and keep the top 10 mantissa bits; round to nearest, ties to even. A carry
      // out of the mantissa bumps the exponent, up to 0x7c00 (inf), which is the correct result.
      // Branch-free rounding (a 50/50 branch here costs 4× in mispredictions): adding 0xfff plus the
      // result's low bit to the 13 dropped bits carries into bit 13 exactly when rounding up.
      const r = ((x >>> 16) & 0x8000) | ((e - 112) << 10) | ((x >>> 13) & 0x3ff);
      dst[i] = r + (((x & 0x1fff) + 0xfff + (r & 1)) >>> 13);
    } else {
      dst[i] = f32BitsToF16Bits(x);
    }
  }
}

/**
 * Float32 bit pattern to BF16 bits, rounding to nearest, ties to even; NaN stays a quiet NaN.
 *
 * @example
 * f32BitsToBf16Bits(0x3f808000); // 0x3f80 (tie, rounds to even)
 */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- Bytes → float32 ----

function aligned(bytes: Uint8Array, size: number): boolean {
  return bytes.byteOffset % size === 0;
}

function checkLength(bytes: Uint8Array, size: number, dtype: DType, where: string): number {
  if (bytes.byteLength % size !== 0) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${where}: ${dtype} data length is not a multiple of the element size. Expected a multiple of ${size} bytes, got ${bytes.byteLength}.`,
    );
  }
  return bytes.byteLength / size;
}

const F16_SUBNORMAL_STEP = 2 ** -24;

// F16 bits → float32 written through `u32` (a bit view of `out`): normals, inf and NaN (payload kept)
// by bit surgery; only subnormals need arithmetic.
function f16ToF32Bits(h: Uint16Array, u32: Uint32Array, out: Float32Array): void {
  const n = h.length;
  for (let i = 0; i < n; i++) {
    const b = h[i]!;
    const exp = b & 0x7c00;
    if (exp === 0x7c00) u32[i] = ((b & 0x8000) << 16) | 0x7f800000 | ((b & 0x3ff) << 13);
    else if (exp !== 0)
      u32[i] = ((b & 0x8000) << 16) | (((b & 0x7fff) + 0x1c000) << 13); // rebias 15 → 127
    else out[i] = (b & 0x8000 ? -1 : 1) * (b & 0x3ff) * F16_SUBNORMAL_STEP; // subnormal: m × 2^-24
  }
}

/**
 * Convert stored little-endian bytes of `dtype` to a new Float32Array (F64 and 64-bit integers are
 * rounded to the nearest float32; BOOL gives 0/1, any non-zero byte counting as true). Works at any
 * byte offset: unaligned input goes through a DataView.
 *
 * @param where Name used in error messages (file and tensor).
 * @throws PruneError TENSOR_IO_MALFORMED when the length is not a multiple of the element size.
 * @throws TypeError when `dtype` is not supported.
 * @example
 * bytesToF32(new Uint8Array([0x80, 0x3f]), "BF16"); // Float32Array [1]
 */
export function bytesToF32(bytes: Uint8Array, dtype: DType, where = "bytesToF32"): Float32Array {
  const n = checkLength(bytes, dtypeByteSize(dtype), dtype, where);
  return bytesToF32Into(bytes, dtype, new Float32Array(n), where);
}

/**
 * Like {@link bytesToF32}, but decodes into `target` (which must hold exactly the decoded element
 * count) and returns it. Lets a reader decode a large tensor chunk by chunk into one output array.
 *
 * @throws PruneError TENSOR_IO_MALFORMED when the length is not a multiple of the element size.
 * @throws RangeError when `target.length` differs from the element count.
 * @example
 * const out = new Float32Array(4);
 * bytesToF32Into(new Uint8Array([0x80, 0x3f, 0, 0x40]), "BF16", out.subarray(2, 4)); // out = [0, 0, 1, 2]
 */
export function bytesToF32Into(
  bytes: Uint8Array,
  dtype: DType,
  target: Float32Array,
  where = "bytesToF32Into",
): Float32Array {
  const size = dtypeByteSize(dtype);
  const n = checkLength(bytes, size, dtype, where);
  if (target.length !== n) {
    throw new RangeError(
      `${where}: target holds ${target.length} values, but the bytes hold ${n} ${dtype} values`,
    );
  }
  const out = target; // (n,)
  if (n === 0) return out;
  const le = IS_LITTLE_ENDIAN && aligned(bytes, size);
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  switch (dtype) {
    case "F32": {
      if (le) out.set(new Float32Array(buf, off, n));
      else if (IS_LITTLE_ENDIAN)
        new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes); // same bits; byte copy handles misalignment
      else {
        const dv = new DataView(buf, off, bytes.byteLength);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      }
      return out;
    }
    case "BF16": {
      const u32 = new Uint32Array(out.buffer, out.byteOffset, n); // (n,) bit view of out
      if (le) {
        const h = new Uint16Array(buf, off, n);
        for (let i = 0; i < n; i++) u32[i] = h[i]! << 16;
      } else {
        for (let i = 0; i < n; i++) u32[i] = ((bytes[2 * i + 1]! << 8) | bytes[2 * i]!) << 16;
      }
      return out;
    }
    case "F16": {
      // Build the float32 bit pattern directly (normals, inf, NaN with payload); only subnormals
      // need arithmetic. Several times faster than decoding through Math.pow.
      const u32 = new Uint32Array(out.buffer, out.byteOffset, n); // (n,) bit view of out
      if (le) f16ToF32Bits(new Uint16Array(buf, off, n), u32, out);
      else {
        const h = new Uint16Array(n); // (n,) little-endian bytes assembled
        for (let i = 0; i < n; i++) h[i] = (bytes[2 * i + 1]! << 8) | bytes[2 * i]!;
        f16ToF32Bits(h, u32, out);
      }
      return out;
    }
    case "U8":
      out.set(bytes);
      return out;
    case "BOOL":
      for (let i = 0; i < n; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return out;
    case "I8":
      out.set(new Int8Array(buf, off, n));
      return out;
    default:
      break;
  }
  if (le) {
    switch (dtype) {
      case "F64":
        out.set(new Float64Array(buf, off, n));
        return out;
      case "I32":
        out.set(new Int32Array(buf, off, n));
        return out;
      case "U32":
        out.set(new Uint32Array(buf, off, n));
        return out;
      case "I16":
        out.set(new Int16Array(buf, off, n));
        return out;
      case "U16":
        out.set(new Uint16Array(buf, off, n));
        return out;
      case "I64": {
        const v = new BigInt64Array(buf, off, n);
        for (let i = 0; i < n; i++) out[i] = Number(v[i]!);
        return out;
      }
      case "U64": {
        const v = new BigUint64Array(buf, off, n);
        for (let i = 0; i < n; i++) out[i] = Number(v[i]!);
        return out;
      }
      default:
        break;
    }
  }
  const dv = new DataView(buf, off, bytes.byteLength);
  switch (dtype) {
    case "F64":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      return out;
    case "U32":
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      return out;
    case "I16":
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      return out;
    case "U16":
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      return out;
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      return out;
    case "U64":
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
      return out;
    default:
      throw new TypeError(`bytesToF32: unhandled dtype ${dtype}`);
  }
}

// ---- float32 → bytes ----

const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  I8: [-128, 127],
  U8: [0, 255],
  I16: [-32768, 32767],
  U16: [0, 65535],
  I32: [-2147483648, 2147483647],
  U32: [0, 4294967295],
  // Exclusive upper bounds for 64-bit: 2^63 and 2^64 are float32 values but out of range.
  I64: [-(2 ** 63), 2 ** 63 - 1],
  U64: [0, 2 ** 64 - 1],
  BOOL: [0, 1],
};

function checkIntegers(values: Float32Array, dtype: DType, where: string): void {
  const range = INT_RANGES[dtype]!;
  const lo = range[0];
  // For 64-bit types `hi` is not exactly representable; `< 2^k` is the exact test.
  const hiExclusive = dtype === "I64" ? 2 ** 63 : dtype === "U64" ? 2 ** 64 : range[1] + 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= lo && v < hiExclusive) || !Number.isInteger(v)) {
      throw new PruneError(
        "DTYPE_OUT_OF_RANGE",
        `${where}: value at index ${i} cannot be stored as ${dtype} without changing it. Expected an integer in [${lo}, ${range[1]}], got ${v}.`,
      );
    }
  }
}

/**
 * Convert float32 values to the little-endian stored bytes of `dtype`. F16 and BF16 round to
 * nearest, ties to even (F16 overflow gives ±Infinity, as IEEE casts do); F64 is exact. Integer
 * dtypes and BOOL (0/1) accept only integral values in range: anything else is an error, never a
 * silent wrap or truncation.
 *
 * @param where Name used in error messages (file and tensor).
 * @throws PruneError DTYPE_OUT_OF_RANGE when a value is non-integral, NaN or out of range for an integer dtype.
 * @throws TypeError when `dtype` is not supported.
 * @example
 * f32ToBytes(new Float32Array([1]), "BF16"); // Uint8Array [0x80, 0x3f]
 */
export function f32ToBytes(values: Float32Array, dtype: DType, where = "f32ToBytes"): Uint8Array {
  return f32ToBytesInto(values, dtype, new Uint8Array(values.length * dtypeByteSize(dtype)), where);
}

/**
 * Like {@link f32ToBytes}, but encodes into `target` (exactly `values.length × dtype size` bytes)
 * and returns it. Lets a writer convert a large tensor chunk by chunk through one scratch buffer.
 *
 * @throws PruneError DTYPE_OUT_OF_RANGE as {@link f32ToBytes}; nothing is written to `target` then.
 * @throws RangeError when `target` has the wrong length.
 * @example
 * const scratch = new Uint8Array(4);
 * f32ToBytesInto(new Float32Array([1, 2]), "BF16", scratch); // Uint8Array [0x80, 0x3f, 0x00, 0x40]
 */
export function f32ToBytesInto(
  values: Float32Array,
  dtype: DType,
  target: Uint8Array,
  where = "f32ToBytesInto",
): Uint8Array {
  const size = dtypeByteSize(dtype);
  const n = values.length;
  if (target.byteLength !== n * size) {
    throw new RangeError(
      `${where}: target has ${target.byteLength} bytes, expected ${n * size} (${n} × ${dtype})`,
    );
  }
  const out = target; // (n * size,)
  if (n === 0) return out;
  if (dtype !== "F32" && dtype !== "F64" && dtype !== "F16" && dtype !== "BF16") {
    checkIntegers(values, dtype, where);
  }
  if (!IS_LITTLE_ENDIAN || out.byteOffset % size !== 0) return f32ToBytesDataView(values, dtype, out);
  switch (dtype) {
    case "F32":
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return out;
    case "F64":
      new Float64Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "F16":
    case "BF16": {
      const src = new Uint32Array(values.buffer, values.byteOffset, n); // (n,) bits of values
      const dst = new Uint16Array(out.buffer, out.byteOffset, n); // (n,)
      if (dtype === "F16") f32ToF16Array(new Int32Array(src.buffer, src.byteOffset, n), dst);
      else for (let i = 0; i < n; i++) dst[i] = f32BitsToBf16Bits(src[i]!);
      return out;
    }
    case "I8":
      new Int8Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "U8":
    case "BOOL":
      out.set(values);
      return out;
    case "I16":
      new Int16Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "U16":
      new Uint16Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "I32":
      new Int32Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "U32":
      new Uint32Array(out.buffer, out.byteOffset, n).set(values);
      return out;
    case "I64": {
      const v = new BigInt64Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) v[i] = BigInt(values[i]!);
      return out;
    }
    case "U64": {
      const v = new BigUint64Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) v[i] = BigInt(values[i]!);
      return out;
    }
    default:
      throw new TypeError(`f32ToBytes: unhandled dtype ${String(dtype)}`);
  }
}

function f32ToBytesDataView(values: Float32Array, dtype: DType, out: Uint8Array): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const bits = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case "F32":
        dv.setFloat32(i * 4, v, true);
        break;
      case "F64":
        dv.setFloat64(i * 8, v, true);
        break;
      case "F16":
        dv.setUint16(i * 2, f32BitsToF16Bits(bits.getUint32(i * 4, IS_LITTLE_ENDIAN)), true);
        break;
      case "BF16":
        dv.setUint16(i * 2, f32BitsToBf16Bits(bits.getUint32(i * 4, IS_LITTLE_ENDIAN)), true);
        break;
      case "I8":
        dv.setInt8(i, v);
        break;
      case "U8":
      case "BOOL":
        dv.setUint8(i, v);
        break;
      case "I16":
        dv.setInt16(i * 2, v, true);
        break;
      case "U16":
        dv.setUint16(i * 2, v, true);
        break;
      case "I32":
        dv.setInt32(i * 4, v, true);
        break;
      case "U32":
        dv.setUint32(i * 4, v, true);
        break;
      case "I64":
        dv.setBigInt64(i * 8, BigInt(v), true);
        break;
      case "U64":
        dv.setBigUint64(i * 8, BigInt(v), true);
        break;
    }
  }
  return out;
}

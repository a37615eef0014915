// float32 → float16 storage conversion for the f16 weight path (round to nearest, ties to even;
// overflow → ±Infinity; NaN stays NaN). Float16Array is not available on Node 20.

/**
 * IEEE binary16 bits of each float32 value.
 *
 * @example
 * Array.from(f32ToF16Bits(new Float32Array([1, -2, 65504]))); // [0x3c00, 0xc000, 0x7bff]
 */
export function f32ToF16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length); // (n,)
  const out = new Uint16Array(values.length); // (n,)
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) {
      h = mant === 0 ? 0x7c00 : 0x7e00; // Inf / NaN
    } else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) {
        h = 0x7c00; // overflow
      } else if (e <= 0) {
        if (e < -10) {
          h = 0; // underflow to zero
        } else {
          const m = mant | 0x800000; // implicit bit
          const shift = 14 - e; // 14..24
          const half = 1 << (shift - 1);
          const rest = m & ((1 << shift) - 1);
          let r = m >>> shift;
          if (rest > half || (rest === half && (r & 1) === 1)) r++;
          h = r;
        }
      } else {
        let r = (e << 10) | (mant >>> 13);
        const rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r++; // may carry into Inf: correct
        h = r;
      }
    }
    out[i] = sign | h;
  }
  return out;
}

/**
 * float32 values of binary16 bits (for references and tests).
 *
 * @example
 * Array.from(f16BitsToF32(new Uint16Array([0x3c00, 0x0001]))); // [1, 5.960464477539063e-8]
 */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length); // (n,)
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const s = b & 0x8000 ? -1 : 1;
    const e = (b >>> 10) & 0x1f;
    const m = b & 0x3ff;
    out[i] =
      e === 0
        ? s * m * 2 ** -24
        : e === 0x1f
          ? m === 0
            ? s * Number.POSITIVE_INFINITY
            : Number.NaN
          : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

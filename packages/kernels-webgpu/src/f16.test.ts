import { createRng } from "@mama-prune/core";
import { f32BitsToF16Bits } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { f16BitsToF32, f32ToF16Bits } from "./f16.ts";

describe("f32ToF16Bits", () => {
  it("converts hand-checked values (normals, subnormals, ties to even, overflow, Inf, NaN)", () => {
    const v = new Float32Array([
      1,
      -2,
      65504,
      65520,
      1e6,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -25,
      1 + 2 ** -11,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
      0,
    ]);
    expect(Array.from(f32ToF16Bits(v))).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x7c00, 0x7c00, 0x0001, 0x0000, 0x0002, 0x3c00, 0xfc00, 0x7e00, 0,
    ]);
  });

  it("agrees with tensor-io's converter and round-trips within half an f16 ulp", () => {
    const rng = createRng(5);
    const v = Float32Array.from({ length: 2000 }, () => rng.normal() * 2 ** (rng.int(40) - 20));
    const mine = f32ToF16Bits(v);
    const bits = new Uint32Array(v.buffer);
    for (let i = 0; i < v.length; i++) expect(mine[i]).toBe(f32BitsToF16Bits(bits[i]!));
    const back = f16BitsToF32(mine);
    for (let i = 0; i < v.length; i++) {
      const a = Math.abs(v[i]!);
      if (a > 2 ** -14 && a < 65000) expect(Math.abs(back[i]! - v[i]!)).toBeLessThanOrEqual(a * 2 ** -11);
    }
  });
});

import { describe, expect, it } from "vitest";
import { encodeI32, encodeModule, encodeU32, I32, op } from "./wasm-encoder.ts";

describe("encodeU32", () => {
  it("encodes the specification's examples", () => {
    expect(encodeU32(0)).toEqual([0]);
    expect(encodeU32(127)).toEqual([0x7f]);
    expect(encodeU32(128)).toEqual([0x80, 0x01]);
    expect(encodeU32(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(encodeU32(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
  });
  it("rejects negative and fractional values", () => {
    expect(() => encodeU32(-1)).toThrow(RangeError);
    expect(() => encodeU32(1.5)).toThrow(RangeError);
  });
});

describe("encodeI32", () => {
  it("encodes signed values", () => {
    expect(encodeI32(0)).toEqual([0]);
    expect(encodeI32(-1)).toEqual([0x7f]);
    expect(encodeI32(63)).toEqual([0x3f]);
    expect(encodeI32(64)).toEqual([0xc0, 0x00]);
    expect(encodeI32(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(encodeI32(-0x80000000)).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
  });
});

describe("encodeModule", () => {
  it("produces a module that runs: add(a, b) through memory", () => {
    const bytes = encodeModule({
      memory: { minPages: 1, maxPages: 2, shared: false },
      functions: [
        {
          name: "add",
          params: [I32, I32],
          results: [I32],
          locals: [I32],
          body: [
            ...op.localGet(0),
            ...op.localGet(1),
            ...op.i32Add(),
            ...op.localTee(2),
            ...op.localGet(2),
            ...op.i32Mul(),
          ],
        },
      ],
    });
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const add = inst.exports.add as (a: number, b: number) => number;
    expect(add(3, 4)).toBe(49);
  });

  it("rejects impossible memory limits", () => {
    expect(() =>
      encodeModule({ memory: { minPages: 2, maxPages: 1, shared: false }, functions: [] }),
    ).toThrow(RangeError);
  });
});

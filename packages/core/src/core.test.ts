import { describe, expect, it } from "vitest";
import {
  createMemoryLogger,
  createRng,
  isPruneError,
  matrix,
  PruneError,
  randomNormal,
  sha256Hex,
} from "./index.ts";

describe("PruneError", () => {
  it("carries a stable code and is recognised by isPruneError across copies", () => {
    const e = new PruneError("SHAPE_MISMATCH", "w: expected [2, 2], got [2, 3]");
    expect(isPruneError(e)).toBe(true);
    expect(isPruneError(e, "SHAPE_MISMATCH")).toBe(true);
    expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(false);
    const lookalike = Object.assign(new Error("x"), { name: "PruneError", code: "SHAPE_MISMATCH" });
    expect(isPruneError(lookalike, "SHAPE_MISMATCH")).toBe(true);
    expect(isPruneError(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(false);
  });
});

describe("createRng", () => {
  it("is deterministic for a seed and differs across seeds", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
  it("draws normals with mean ≈ 0 and variance ≈ 1", () => {
    const v = randomNormal(20000, 7);
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / v.length)).toBeLessThan(0.03);
    expect(Math.abs(s2 / v.length - 1)).toBeLessThan(0.05);
  });
});

describe("matrix", () => {
  it("rejects a data length that does not match the shape", () => {
    expect(() => matrix(2, 3, new Float32Array(5))).toThrow(RangeError);
    expect(matrix(2, 3).data.length).toBe(6);
  });
});

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 test vector for 'abc'", async () => {
    expect(await sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});

describe("createMemoryLogger", () => {
  it("records warnings with their data", () => {
    const log = createMemoryLogger();
    log.warn("damping raised", { lambda: 0.1 });
    expect(log.records).toEqual([{ level: "warn", message: "damping raised", data: { lambda: 0.1 } }]);
  });
});

import { describe, expect, it } from "vitest";
import { checkDims, checkGramShapes } from "./compute.ts";

describe("checkGramShapes", () => {
  const x = new Float32Array(6); // [3, 2]
  it("accepts x [m, k] with acc [k, k]", () => {
    expect(() => checkGramShapes("b gramAccumulate", x, 3, 2, new Float64Array(4))).not.toThrow();
    expect(() =>
      checkGramShapes("b gramAccumulate", new Float32Array(0), 0, 0, new Float64Array(0)),
    ).not.toThrow();
  });
  it("names the operand and the expected size", () => {
    expect(() => checkGramShapes("b gramAccumulate", x, 2, 2, new Float64Array(4))).toThrow(
      "b gramAccumulate: x has 6 elements, expected m·k = 4",
    );
    expect(() => checkGramShapes("b gramAccumulate", x, 3, 2, new Float64Array(5))).toThrow(
      "b gramAccumulate: acc has 5 elements, expected k·k = 4",
    );
    expect(() => checkGramShapes("b gramAccumulate", x, 1.5, 2, new Float64Array(4))).toThrow(
      "b gramAccumulate: m must be a non-negative integer, got 1.5",
    );
    expect(() => checkGramShapes("b gramAccumulate", x, 3, -2, new Float64Array(4))).toThrow(RangeError);
  });
});

describe("checkDims", () => {
  it("names the first dimension that is not a non-negative integer, in the order given", () => {
    expect(() => checkDims("op", { m: 0, k: 3 })).not.toThrow();
    expect(() => checkDims("op", { m: 2, k: -1, n: 0.5 })).toThrow(
      "op: k must be a non-negative integer, got -1",
    );
    expect(() => checkDims("op", { m: Number.NaN })).toThrow("op: m must be a non-negative integer, got NaN");
  });
});

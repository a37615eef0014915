import { describe, expect, it } from "vitest";
import { checkGramShapes } from "./compute.ts";

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

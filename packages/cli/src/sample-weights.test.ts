import { describe, expect, it } from "vitest";
import { parseSampleWeights } from "./sample-weights.ts";

describe("parseSampleWeights", () => {
  it("reads JSON arrays and whitespace/comma/newline lists with comments", () => {
    expect(Array.from(parseSampleWeights("[1, 0.5, 2e-1]", "w.json", 3))).toEqual([1, 0.5, Math.fround(0.2)]);
    expect(Array.from(parseSampleWeights("# rewards\n1, 0\n 3 # last\n", "w.txt"))).toEqual([1, 0, 3]);
  });
  it("rejects a wrong count, negative / non-finite / non-numeric weights and all zeros, naming the file", () => {
    expect(() => parseSampleWeights("1 2", "w.txt", 3)).toThrow(
      /w\.txt: wrong number of weights\. Expected one per calibration window \(3\), got 2/,
    );
    expect(() => parseSampleWeights("1 -2", "w.txt")).toThrow(/weight 1 is invalid.*got -2/);
    expect(() => parseSampleWeights("[1, null]", "w.json")).toThrow(/weight 1 is invalid.*got null/);
    expect(() => parseSampleWeights("1 abc", "w.txt")).toThrow(/weight 1 is invalid.*got "abc"/);
    expect(() => parseSampleWeights("0 0", "w.txt")).toThrow(/every weight is zero/);
    expect(() => parseSampleWeights("[1,", "w.json")).toThrow(/not valid JSON/);
    expect(() => parseSampleWeights("", "w.txt")).toThrow(/every weight is zero/);
  });
});

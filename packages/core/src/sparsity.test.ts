import { describe, expect, it } from "vitest";
import {
  isNmPattern,
  isPruneError,
  PRUNE_ERROR_CODES,
  PRUNE_ERROR_KINDS,
  parseSparsity,
  pruneErrorKind,
  sparsityFraction,
  sparsityLabel,
  validateSparsity,
} from "./index.ts";

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : `not a PruneError: ${String(e)}`;
  }
  return "no error";
}

describe("validateSparsity", () => {
  it("accepts fractions in [0, 1) and N:M with 1 <= N < M", () => {
    expect(validateSparsity(0, "x")).toBe(0);
    expect(validateSparsity(0.5, "x")).toBe(0.5);
    const below1 = 1 - Number.EPSILON / 2;
    expect(validateSparsity(below1, "x")).toBe(below1);
    expect(validateSparsity({ n: 1, m: 2 }, "x")).toEqual({ n: 1, m: 2 });
    expect(validateSparsity({ n: 3, m: 4 }, "x")).toEqual({ n: 3, m: 4 });
    // Extra keys are dropped.
    expect(validateSparsity({ n: 2, m: 4, k: 1 }, "x")).toEqual({ n: 2, m: 4 });
  });

  it.each([1, -0.1, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    "refuses the fraction %s outside [0, 1) (except -0 = 0) naming where and the option",
    (s) => {
      const msg = errorOf(() => validateSparsity(s, "prune", { option: "sparsity" }));
      if (Object.is(s, -0)) expect(msg).toBe("no error");
      else {
        expect(msg).toMatch(
          /^SPARSITY_INVALID: prune: option sparsity is out of range\. Expected a number in \[0, 1\), got /,
        );
      }
    },
  );

  it("refuses 0:4 (prunes nothing), N >= M, non-integers and M = 0", () => {
    expect(errorOf(() => validateSparsity({ n: 0, m: 4 }, "--sparsity"))).toBe(
      "SPARSITY_INVALID: --sparsity: sparsity is an invalid N:M pattern. Expected integers 1 <= n < m (n zeros in every m consecutive weights), got n=0, m=4.",
    );
    for (const nm of [
      { n: 4, m: 4 },
      { n: 5, m: 4 },
      { n: 1.5, m: 4 },
      { n: 1, m: 0 },
      { n: -1, m: 4 },
      { n: 1, m: Number.NaN },
    ]) {
      expect(errorOf(() => validateSparsity(nm, "w"))).toMatch(/^SPARSITY_INVALID: w: .*1 <= n < m/);
    }
  });

  it("refuses the wrong kind and the wrong type", () => {
    expect(errorOf(() => validateSparsity({ n: 2, m: 4 }, "f", { accept: "fraction" }))).toMatch(
      /^SPARSITY_INVALID: f: sparsity has the wrong type\. Expected a number in \[0, 1\), got \{"n":2,"m":4\}\./,
    );
    expect(errorOf(() => validateSparsity(0.5, "g", { accept: "n:m" }))).toMatch(
      /Expected an N:M pattern \{ n, m \}, got 0\.5\./,
    );
    expect(errorOf(() => validateSparsity("0.5", "h"))).toMatch(/^SPARSITY_INVALID: h: .*wrong type/);
    expect(errorOf(() => validateSparsity(null, "h"))).toMatch(/got null\./);
    expect(errorOf(() => validateSparsity({ n: "2", m: 4 }, "h"))).toMatch(/wrong type/);
  });

  it("the closed range of primitives accepts 1, 0:M and M:M but nothing beyond", () => {
    expect(validateSparsity(1, "p", { range: "closed" })).toBe(1);
    expect(validateSparsity({ n: 0, m: 4 }, "p", { range: "closed" })).toEqual({ n: 0, m: 4 });
    expect(validateSparsity({ n: 4, m: 4 }, "p", { range: "closed" })).toEqual({ n: 4, m: 4 });
    expect(errorOf(() => validateSparsity(1.01, "p", { range: "closed" }))).toMatch(/\[0, 1\]/);
    expect(errorOf(() => validateSparsity({ n: 5, m: 4 }, "p", { range: "closed" }))).toMatch(/0 <= n <= m/);
  });
});

describe("parseSparsity", () => {
  it("parses fractions, percentages and N:M", () => {
    expect(parseSparsity("0.5")).toBe(0.5);
    expect(parseSparsity(" .25 ")).toBe(0.25);
    expect(parseSparsity("0")).toBe(0);
    expect(parseSparsity("70%")).toBeCloseTo(0.7, 15);
    expect(parseSparsity(" 2 : 4 ")).toEqual({ n: 2, m: 4 });
    expect(parseSparsity(0.3)).toBe(0.3);
  });

  it.each(["0:4", "4:4", "5:4", "1", "100%", "-0.1", "", "abc", "0x0", "2:", "0.5.1"])(
    "refuses %j naming where",
    (s) => {
      expect(errorOf(() => parseSparsity(s, "--sparsity"))).toMatch(/^SPARSITY_INVALID: --sparsity: /);
    },
  );
});

describe("sparsity labels", () => {
  it("labels and fractions", () => {
    expect(sparsityLabel(0.5)).toBe("0.5");
    expect(sparsityLabel({ n: 2, m: 4 })).toBe("2:4");
    expect(sparsityFraction({ n: 1, m: 4 })).toBe(0.25);
    expect(sparsityFraction(0.7)).toBe(0.7);
    expect(isNmPattern({ n: 2, m: 4 })).toBe(true);
    expect(isNmPattern(0.5)).toBe(false);
    expect(isNmPattern(null)).toBe(false);
  });
});

describe("error codes", () => {
  it("has one table: codes and kinds derive from it", () => {
    expect(PRUNE_ERROR_CODES).toEqual(Object.keys(PRUNE_ERROR_KINDS));
    expect(new Set(PRUNE_ERROR_CODES).size).toBe(PRUNE_ERROR_CODES.length);
    expect(pruneErrorKind("RECIPE_INVALID")).toBe("input");
    expect(pruneErrorKind("NUMERIC_FAILURE")).toBe("failure");
    expect(pruneErrorKind("ABORTED")).toBe("aborted");
    expect(PRUNE_ERROR_CODES.filter((c) => pruneErrorKind(c) === "aborted")).toEqual(["ABORTED"]);
  });
});

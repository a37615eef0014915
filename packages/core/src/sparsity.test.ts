import { describe, expect, it } from "vitest";
import {
  countZeros,
  isNmPattern,
  isPruneError,
  nmGroupPruned,
  nmRowPruned,
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

describe("N:M tail groups", () => {
  it("prunes floor(N·t/M) of a tail of t < M columns, N of a full group", () => {
    // Hand table: 2:4 tails of 0..3 → 0, 0, 1, 1; 4:8 tails of 0..7 → 0, 0, 1, 1, 2, 2, 3, 3.
    expect([0, 1, 2, 3, 4].map((t) => nmGroupPruned({ n: 2, m: 4 }, t))).toEqual([0, 0, 1, 1, 2]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((t) => nmGroupPruned({ n: 4, m: 8 }, t))).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3, 4,
    ]);
    expect([1, 2, 3].map((t) => nmGroupPruned({ n: 1, m: 4 }, t))).toEqual([0, 0, 0]);
    expect([1, 2, 3].map((t) => nmGroupPruned({ n: 3, m: 4 }, t))).toEqual([0, 1, 2]);
    // Never above N/M, and the closest such fraction: floor(N·t/M)/t ≤ N/M < (floor(N·t/M)+1)/t.
    for (const [n, m] of [
      [1, 2],
      [2, 4],
      [4, 8],
      [3, 7],
      [5, 16],
    ] as const) {
      for (let t = 1; t <= m; t++) {
        const k = nmGroupPruned({ n, m }, t);
        expect(k / t).toBeLessThanOrEqual(n / m);
        expect((k + 1) / t).toBeGreaterThan(n / m);
      }
    }
    expect(() => nmGroupPruned({ n: 2, m: 4 }, 5)).toThrow(RangeError);
    expect(() => nmGroupPruned({ n: 2, m: 4 }, 1.5)).toThrow(RangeError);
  });

  it("counts a row's zeros: full groups plus the tail", () => {
    expect(nmRowPruned({ n: 4, m: 8 }, 172)).toBe(21 * 4 + 2);
    expect(nmRowPruned({ n: 4, m: 8 }, 64)).toBe(32);
    expect(nmRowPruned({ n: 2, m: 4 }, 11)).toBe(5);
    expect(nmRowPruned({ n: 4, m: 8 }, 11)).toBe(5);
    expect(nmRowPruned({ n: 2, m: 4 }, 3)).toBe(1);
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

describe("countZeros", () => {
  it("counts +0 and −0 like w[i] === 0 (NaN, subnormals and ±Infinity are not zero), at a byteOffset", () => {
    const values = [0, -0, 1, -1, Number.NaN, 1e-45, -1e-45, Number.POSITIVE_INFINITY, -3.5, 0];
    const big = new Float32Array(3 + 1000);
    for (let i = 0; i < 1000; i++) big[3 + i] = values[(i * 7) % values.length]!;
    const w = big.subarray(3);
    let want = 0;
    for (let i = 0; i < w.length; i++) if (w[i] === 0) want++;
    expect(want).toBeGreaterThan(0);
    expect(countZeros(w)).toBe(want);
    expect(countZeros(new Float32Array([0, -0, 1, Number.NaN]))).toBe(2);
    expect(countZeros(new Float32Array(0))).toBe(0);
  });
});

import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { checkHessian, checkMask } from "./common.ts";

function codeOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    if (isPruneError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return undefined;
}

describe("checkMask", () => {
  it("accepts every 0/1 mask, aligned or not, whatever its length", () => {
    for (const n of [0, 1, 3, 4, 7, 64, 67]) {
      const base = new Uint8Array(n + 3);
      for (let i = 0; i < base.length; i++) base[i] = (i * 7) % 3 === 0 ? 0 : 1;
      for (const off of [0, 1, 3])
        expect(codeOf(() => checkMask("t", base.subarray(off, off + n), 1, n))).toBe(undefined);
    }
  });

  it("names the first entry that is not 0/1, wherever it sits (words, tail, unaligned views)", () => {
    const rows = 3;
    const cols = 23; // 69 bytes: 17 words and a tail of 1
    for (const off of [0, 1, 2]) {
      for (const at of [0, 5, 31, 64, 68]) {
        for (const v of [2, 128, 255, 3]) {
          const buf = new Uint8Array(rows * cols + off).fill(1);
          const mask = buf.subarray(off, off + rows * cols);
          mask[at] = v;
          if (at + 1 < mask.length) mask[mask.length - 1] = 7; // a later stray: the first is named
          const got = codeOf(() => checkMask("layer.q", mask, rows, cols));
          expect(got).toBe(
            `MASK_INVALID: layer.q: mask entry [${Math.floor(at / cols)}, ${at % cols}] is not 0 or 1. Expected 0 (prune) or 1 (keep), got ${v}.`,
          );
        }
      }
    }
  });

  it("checks the length first", () => {
    expect(codeOf(() => checkMask("t", new Uint8Array(5), 2, 3))).toMatch(
      /^SHAPE_MISMATCH: .*Expected 2·3 = 6, got 5/,
    );
  });
});

describe("checkHessian", () => {
  const n = 70; // two symmetry tiles and a bit
  function spd(): Float64Array {
    const h = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        const v = i === j ? n + i : Math.sin(i * 31 + j) / 4;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
    return h;
  }

  it("a finite, exactly symmetric matrix: exactly symmetric, dead inputs and the mean diagonal", () => {
    const h = spd();
    h[5 * n + 5] = 0; // a dead input
    const info = checkHessian("t", h, n);
    expect(info.exactlySymmetric).toBe(true);
    expect(info.deadCount).toBe(1);
    expect(info.dead[5]).toBe(1);
    let sum = 1;
    for (let j = 0; j < n; j++) if (j !== 5) sum += n + j;
    expect(info.meanDiag).toBe(sum / n);
  });

  it("symmetric within round-off: accepted, not exactly symmetric", () => {
    const h = spd();
    h[66 * n + 3] = h[66 * n + 3]! * (1 + 1e-12);
    expect(checkHessian("t", h, n).exactlySymmetric).toBe(false);
  });

  it("names the first non-finite entry in row-major order, on or off the diagonal, symmetric or not", () => {
    for (const [i, j, v, first] of [
      [40, 3, Number.POSITIVE_INFINITY, "[3, 40]"], // symmetric pair: the upper one comes first
      [69, 69, Number.NaN, "[69, 69]"],
      [0, 0, Number.NEGATIVE_INFINITY, "[0, 0]"],
      [12, 65, Number.NaN, "[12, 65]"],
    ] as const) {
      const h = spd();
      h[i * n + j] = v;
      if (i !== j && first === "[3, 40]") h[j * n + i] = v;
      expect(() => checkHessian("layer.k", h, n)).toThrow(
        `layer.k: hessian has a non-finite entry at ${first}`,
      );
    }
  });

  it("a real asymmetry is refused, naming it", () => {
    const h = spd();
    h[50 * n + 10] = h[50 * n + 10]! + 1;
    expect(() => checkHessian("t", h, n)).toThrow(/hessian is not symmetric at \[50, 10\]/);
  });
});

import { isPruneError, matrix } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { errorThroughInputs, randomInputs, randomWeight } from "../test/helpers.ts";
import { reconstructionError } from "./reconstruction-error.ts";

describe("reconstructionError", () => {
  it("computes trace((W − W')H(W − W')ᵀ) on a hand-computed case", () => {
    const w = matrix(1, 2, new Float32Array([1, 2]));
    // Δ = [0, 2]; ΔᵀHΔ = 2·3·2 = 12
    expect(reconstructionError(w, new Float32Array([1, 0]), new Float64Array([1, 0, 0, 3]))).toBe(12);
    // Δ = [1, 2], H = [[2, 1], [1, 3]]: 2 + 2·1·2 + 3·4 = 18
    expect(reconstructionError(w, new Float32Array([0, 0]), new Float64Array([2, 1, 1, 3]))).toBe(18);
  });

  it("equals ‖X(W − W')ᵀ‖² computed through the inputs", () => {
    const rows = 5;
    const n = 9;
    const tokens = 40;
    const w = randomWeight(rows, n, 1);
    const w2 = randomWeight(rows, n, 2).data;
    const { x, h } = randomInputs(tokens, n, 3);
    const direct = errorThroughInputs(w.data, w2, x, rows, n, tokens);
    expect(Math.abs(reconstructionError(w, w2, h) - direct)).toBeLessThan(1e-9 * direct);
  });

  it("is zero for identical weights", () => {
    const w = randomWeight(3, 4, 5);
    expect(reconstructionError(w, new Float32Array(w.data), randomInputs(10, 4, 6).h)).toBe(0);
  });

  it("rejects mismatched shapes", () => {
    const w = randomWeight(3, 4, 5);
    for (const f of [
      () => reconstructionError(w, new Float32Array(5), new Float64Array(16)),
      () => reconstructionError(w, new Float32Array(12), new Float64Array(15)),
    ]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isPruneError(err, "SHAPE_MISMATCH")).toBe(true);
    }
  });
});

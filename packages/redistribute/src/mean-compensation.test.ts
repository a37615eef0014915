import { isPruneError, matrix } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { gaussSolve, randomInputs, randomMask, randomWeight } from "../test/helpers.ts";
import { meanCompensation } from "./mean-compensation.ts";
import { leastSquaresRefit } from "./refit.ts";

function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isPruneError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

const rows = 6;
const cols = 10;
const tokens = 300;
const w = randomWeight(rows, cols, 31);
const { x, h, mean } = randomInputs(tokens, cols, 32, 0.5, 2);
const mean32 = new Float32Array(mean);
const bias = new Float32Array(rows).map((_, i) => 0.1 * i - 0.2);

/** Mean over tokens of W·x_t + b, in float64. */
function meanOutput(weight: ArrayLike<number>, b: ArrayLike<number> | undefined): Float64Array {
  const out = new Float64Array(rows);
  for (let t = 0; t < tokens; t++)
    for (let r = 0; r < rows; r++) {
      let s = b?.[r] ?? 0;
      for (let j = 0; j < cols; j++) s += weight[r * cols + j]! * x[t * cols + j]!;
      out[r]! += s / tokens;
    }
  return out;
}

describe("meanCompensation", () => {
  it("adds Σ_P w·E[x] to the bias (hand-computed)", () => {
    const r = meanCompensation(
      matrix(1, 2, new Float32Array([2, 3])),
      new Uint8Array([1, 0]),
      new Float32Array([1, 0.5]),
      new Float32Array([0.25]),
    );
    expect(Array.from(r.bias!)).toEqual([1.75]);
    expect(Array.from(r.shift)).toEqual([1.5]);
    expect(Array.from(r.weight)).toEqual([2, 0]);
    expect(r.applied).toBe(true);
  });

  it("keeps the mean output over the calibration tokens unchanged", () => {
    const mask = randomMask(rows, cols, 0.5, 3);
    const r = meanCompensation(w, mask, mean32, bias);
    const before = meanOutput(w.data, bias);
    const after = meanOutput(r.weight, r.bias);
    const masked = meanOutput(r.weight, bias);
    for (let i = 0; i < rows; i++) {
      expect(after[i]).toBeCloseTo(before[i]!, 4);
      expect(Math.abs(masked[i]! - before[i]!)).toBeGreaterThan(1e-3); // the shift was real
    }
  });

  it("with a refit on the centred Gram matrix gives the joint least-squares optimum over (w'_K, b')", async () => {
    // min Σ_t ‖(W x_t + b) − (W' x_t + b')‖² over W' on the mask and b': brute force on [x_K, 1].
    const mask = randomMask(rows, cols, 0.5, 4);
    const centred = new Float64Array(h);
    for (let a = 0; a < cols; a++)
      for (let b = 0; b < cols; b++) centred[a * cols + b]! -= tokens * mean[a]! * mean[b]!;
    const refit = await leastSquaresRefit(w, centred, mask, { damping: 0 });
    const r = meanCompensation(w, mask, mean32, bias, { updatedWeight: refit.weight });
    for (let i = 0; i < rows; i++) {
      const kept: number[] = [];
      for (let j = 0; j < cols; j++) if (mask[i * cols + j] === 1) kept.push(j);
      const d = kept.length + 1;
      const a = new Float64Array(d * d);
      const rhs = new Float64Array(d);
      for (let t = 0; t < tokens; t++) {
        const feat = [...kept.map((j) => x[t * cols + j]!), 1];
        let y = bias[i]!;
        for (let j = 0; j < cols; j++) y += w.data[i * cols + j]! * x[t * cols + j]!;
        for (let p = 0; p < d; p++) {
          rhs[p]! += feat[p]! * y;
          for (let q = 0; q < d; q++) a[p * d + q]! += feat[p]! * feat[q]!;
        }
      }
      const sol = gaussSolve(a, rhs, d);
      kept.forEach((j, p) => {
        expect(r.weight[i * cols + j]).toBeCloseTo(sol[p]!, 3);
      });
      expect(r.bias![i]).toBeCloseTo(sol[d - 1]!, 3);
    }
  });

  it("reports that it cannot be applied to a layer without a bias, with the shift it would add", () => {
    const mask = randomMask(rows, cols, 0.5, 5);
    const r = meanCompensation(w, mask, mean32);
    expect(r.applied).toBe(false);
    expect(r.bias).toBeUndefined();
    expect(r.reason).toMatch(/no bias/);
    const withBias = meanCompensation(w, mask, mean32, bias);
    expect(Array.from(r.shift)).toEqual(Array.from(withBias.shift));
  });

  it("never modifies its inputs", () => {
    const mask = randomMask(rows, cols, 0.5, 6);
    const wCopy = Array.from(w.data);
    const bCopy = Array.from(bias);
    meanCompensation(w, mask, mean32, bias);
    expect(Array.from(w.data)).toEqual(wCopy);
    expect(Array.from(bias)).toEqual(bCopy);
  });

  it("rejects bad input with typed errors", () => {
    const mask = randomMask(rows, cols, 0.5, 7);
    expectCode(() => meanCompensation(w, mask, new Float32Array(3)), "SHAPE_MISMATCH");
    expectCode(() => meanCompensation(w, mask, mean32, new Float32Array(2)), "SHAPE_MISMATCH");
    expectCode(() => meanCompensation(w, mask.subarray(2), mean32), "SHAPE_MISMATCH");
    expectCode(
      () => meanCompensation(w, mask, mean32, bias, { updatedWeight: new Float32Array(4) }),
      "SHAPE_MISMATCH",
    );
    expectCode(
      () => meanCompensation(w, mask, new Float32Array(cols).fill(Number.NaN)),
      "CALIBRATION_INVALID",
    );
    expectCode(() => meanCompensation(w, new Uint8Array(rows * cols).fill(7), mean32), "MASK_INVALID");
  });
});

import { createMemoryLogger, createRng, isPruneError, type Matrix, matrix } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  errorThroughInputs,
  gaussSolve,
  randomInputs,
  randomMask,
  randomWeight,
  referenceSparseGpt,
} from "../test/helpers.ts";
import { reconstructionError } from "./reconstruction-error.ts";
import { leastSquaresRefit } from "./refit.ts";
import { sparsegpt } from "./sparsegpt.ts";

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isPruneError(e), String(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

/** Per-row brute force: solve (H_KK + λI)·δ = H_KP·w_P by Gaussian elimination. */
function bruteForceRefit(w: Matrix, h: Float64Array, mask: Uint8Array, lambda: number): Float64Array {
  const { rows, cols: n } = w;
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const kept: number[] = [];
    const pruned: number[] = [];
    for (let j = 0; j < n; j++) (mask[r * n + j] === 1 ? kept : pruned).push(j);
    const k = kept.length;
    const a = new Float64Array(k * k);
    const b = new Float64Array(k);
    kept.forEach((ka, i) => {
      kept.forEach((kb, j) => {
        a[i * k + j] = h[ka * n + kb]! + (i === j ? lambda : 0);
      });
      b[i] = pruned.reduce((s, p) => s + h[ka * n + p]! * w.data[r * n + p]!, 0);
    });
    const d = k > 0 ? gaussSolve(a, b, k) : new Float64Array(0);
    kept.forEach((j, i) => {
      out[r * n + j] = w.data[r * n + j]! + d[i]!;
    });
  }
  return out;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return m / Math.max(s, 1e-30);
}

const rows = 10;
const cols = 24;
const tokens = 200;
const w = randomWeight(rows, cols, 21);
const { h, x } = randomInputs(tokens, cols, 22, 0.6);

describe("leastSquaresRefit", () => {
  it("matches brute-force normal equations per row, for both solve forms and with ridge damping", async () => {
    for (const [s, damping] of [
      [0.1, 0],
      [0.5, 0],
      [0.9, 0],
      [0.3, 0.05],
      [0.8, 0.05],
    ] as const) {
      const mask = randomMask(rows, cols, s, 100 + s * 10);
      const r = await leastSquaresRefit(w, h, mask, { damping });
      let mean = 0;
      for (let j = 0; j < cols; j++) mean += h[j * cols + j]! / cols;
      expect(r.dampingUsed).toBeCloseTo(damping * mean, 9);
      expect(relDiff(r.weight, bruteForceRefit(w, h, mask, damping * mean))).toBeLessThan(1e-5);
      if (s <= 0.3) expect(r.prunedSolves).toBeGreaterThan(0);
      if (s >= 0.8) expect(r.keptSolves).toBeGreaterThan(0);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) expect(r.weight[i]).toBe(0);
    }
  });

  it("is never worse than no update or SparseGPT, and SparseGPT matches the direct reference (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        async (r, c, s, blockSize, seed) => {
          const pw = randomWeight(r, c, seed);
          const { h: ph } = randomInputs(2 * c + 1, c, seed + 1, 0.8);
          const mask = randomMask(r, c, s, seed + 2);
          const rf = await leastSquaresRefit(pw, ph, mask, { damping: 0.01 });
          const sg = await sparsegpt(pw, ph, { mask, percdamp: 0.01, blockSize });
          const ref = referenceSparseGpt(pw, ph, { mask, percdamp: 0.01, blockSize });
          expect(relDiff(sg.weight, ref.weight)).toBeLessThan(1e-5);
          const hd = new Float64Array(ph);
          for (let j = 0; j < c; j++) hd[j * c + j]! += rf.dampingUsed;
          const masked = pw.data.map((v, i) => (mask[i] === 1 ? v : 0));
          const eRefit = reconstructionError(pw, rf.weight, hd);
          const tol = 1e-6 * reconstructionError(pw, new Float32Array(r * c), hd) + 1e-12;
          expect(eRefit).toBeLessThanOrEqual(reconstructionError(pw, masked, hd) + tol);
          expect(eRefit).toBeLessThanOrEqual(reconstructionError(pw, sg.weight, hd) + tol);
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });

  it("has zero Hessian-weighted gradient on the kept set (damping 0)", async () => {
    const mask = randomMask(rows, cols, 0.5, 5);
    const r = await leastSquaresRefit(w, h, mask, { damping: 0 });
    // ∂/∂w'_K ‖X(w − w')‖² = 2·(H·(w' − w))_K, compared with the size of its terms
    for (let i = 0; i < rows; i++) {
      for (let a = 0; a < cols; a++) {
        if (mask[i * cols + a] === 0) continue;
        let g = 0;
        let scale = 0;
        for (let b = 0; b < cols; b++) {
          const t = h[a * cols + b]! * (r.weight[i * cols + b]! - w.data[i * cols + b]!);
          g += t;
          scale += Math.abs(t);
        }
        expect(Math.abs(g)).toBeLessThan(1e-5 * scale);
      }
    }
  });

  it("is never beaten by other weights with the same mask: no update, SparseGPT's OBS, random perturbations", async () => {
    for (let seed = 0; seed < 5; seed++) {
      const mask = randomMask(rows, cols, 0.3 + 0.1 * seed, seed);
      const r = await leastSquaresRefit(w, h, mask, { damping: 0 });
      const eRefit = errorThroughInputs(w.data, r.weight, x, rows, cols, tokens);
      const masked = w.data.map((v, i) => (mask[i] === 1 ? v : 0));
      const sg = await sparsegpt(w, h, { mask, percdamp: 0 });
      const eNone = errorThroughInputs(w.data, masked, x, rows, cols, tokens);
      const eSg = errorThroughInputs(w.data, sg.weight, x, rows, cols, tokens);
      expect(eRefit).toBeLessThanOrEqual(eNone * (1 + 1e-6));
      expect(eRefit).toBeLessThanOrEqual(eSg * (1 + 1e-6));
      expect(eRefit).toBeLessThan(eNone); // correlated inputs: a strict gain
      const rng = createRng(seed);
      for (let t = 0; t < 5; t++) {
        const p = r.weight.map((v, i) => (mask[i] === 1 ? v + 1e-2 * rng.normal() : 0));
        expect(eRefit).toBeLessThan(errorThroughInputs(w.data, p, x, rows, cols, tokens));
      }
    }
  });

  it("with equal damping beats SparseGPT under the damped Hessian both use", async () => {
    const mask = randomMask(rows, cols, 0.5, 14);
    const rf = await leastSquaresRefit(w, h, mask, { damping: 0.05 });
    const sg = await sparsegpt(w, h, { mask, percdamp: 0.05 });
    expect(rf.dampingUsed).toBeCloseTo(sg.dampingUsed, 9);
    const hd = new Float64Array(h);
    for (let j = 0; j < cols; j++) hd[j * cols + j]! += rf.dampingUsed;
    expect(reconstructionError(w, rf.weight, hd)).toBeLessThanOrEqual(
      reconstructionError(w, sg.weight, hd) * (1 + 1e-9),
    );
  });

  it("leaves the kept weights unchanged when H = I (and any diagonal H): no correlations, no redistribution", async () => {
    const mask = randomMask(rows, cols, 0.5, 8);
    for (const diag of [1, 3.5]) {
      const eye = new Float64Array(cols * cols);
      for (let j = 0; j < cols; j++) eye[j * cols + j] = diag * (1 + (j % 4));
      for (const damping of [0, 0.01]) {
        const r = await leastSquaresRefit(w, eye, mask, { damping });
        for (let i = 0; i < mask.length; i++) expect(r.weight[i]).toBe(mask[i] === 1 ? w.data[i] : 0);
      }
    }
  });

  it("factorises once per distinct row mask (column masks share one factorisation)", async () => {
    const colMask = randomMask(1, cols, 0.5, 9);
    const mask = new Uint8Array(rows * cols);
    for (let i = 0; i < rows; i++) mask.set(colMask, i * cols);
    const r = await leastSquaresRefit(w, h, mask, { damping: 0 });
    expect(r.maskGroups).toBe(1);
    expect(r.keptSolves + r.prunedSolves).toBe(1);
    expect(relDiff(r.weight, bruteForceRefit(w, h, mask, 0))).toBeLessThan(1e-5);
  });

  it("handles rows with nothing pruned (unchanged) and nothing kept (all zero)", async () => {
    const mask = randomMask(rows, cols, 0.5, 10);
    mask.fill(1, 0, cols);
    mask.fill(0, cols, 2 * cols);
    const r = await leastSquaresRefit(w, h, mask);
    expect(Array.from(r.weight.subarray(0, cols))).toEqual(Array.from(w.data.subarray(0, cols)));
    expect(r.weight.subarray(cols, 2 * cols).every((v) => v === 0)).toBe(true);
  });

  it("keeps dead inputs (H_jj = 0) unchanged and needs no damping for them", async () => {
    const hd = new Float64Array(h);
    for (let k = 0; k < cols; k++) hd[4 * cols + k] = hd[k * cols + 4] = 0;
    const mask = randomMask(rows, cols, 0.5, 12);
    const log = createMemoryLogger();
    const r = await leastSquaresRefit(w, hd, mask, { damping: 0, log });
    expect(r.warnings).toHaveLength(0);
    for (let i = 0; i < rows; i++) {
      if (mask[i * cols + 4] === 1) expect(r.weight[i * cols + 4]).toBe(w.data[i * cols + 4]);
    }
    const ref = bruteForceRefit(w, new Float64Array(hd).fill(1, 4 * cols + 4, 4 * cols + 5), mask, 0);
    expect(relDiff(r.weight, ref)).toBeLessThan(1e-5);
  });

  it("escalates damping with a warning when H is singular and no damping was asked for", async () => {
    const few = randomInputs(cols - 6, cols, 30, 0.5); // fewer tokens than inputs: rank-deficient H
    const mask = randomMask(rows, cols, 0.3, 13);
    const log = createMemoryLogger();
    const r = await leastSquaresRefit(w, few.h, mask, { damping: 0, log });
    expect(r.warnings.length).toBeGreaterThan(0);
    expect(log.records.some((x) => x.level === "warn" && /Cholesky failed/.test(x.message))).toBe(true);
    expect(r.dampingUsed).toBeGreaterThan(0);
    expect(r.weight.every(Number.isFinite)).toBe(true);
    // still far better than no update on the calibration inputs
    const masked = w.data.map((v, i) => (mask[i] === 1 ? v : 0));
    expect(reconstructionError(w, r.weight, few.h)).toBeLessThan(reconstructionError(w, masked, few.h));
  });

  it("throws NUMERIC_FAILURE when the damping attempts are used up", async () => {
    const bad = new Float64Array([1, 2, 2, 1]);
    const w2 = matrix(1, 2, new Float32Array([1, 1]));
    await expectCode(
      leastSquaresRefit(w2, bad, new Uint8Array([1, 0]), { damping: 0, maxDampingAttempts: 2 }),
      "NUMERIC_FAILURE",
    );
  });

  it("stops with ABORTED when the signal fires while it runs", async () => {
    const controller = new AbortController();
    const running = leastSquaresRefit(w, h, randomMask(rows, cols, 0.5, 2), { signal: controller.signal });
    controller.abort();
    await expectCode(running, "ABORTED");
  });

  it("rejects bad input with typed errors", async () => {
    const mask = randomMask(rows, cols, 0.5, 1);
    await expectCode(leastSquaresRefit(w, h, mask.subarray(1)), "SHAPE_MISMATCH");
    await expectCode(leastSquaresRefit(w, h.subarray(1), mask), "SHAPE_MISMATCH");
    await expectCode(leastSquaresRefit(w, h, new Uint8Array(rows * cols).fill(3)), "MASK_INVALID");
    const nan = new Float64Array(h);
    nan[3] = Number.NaN;
    await expectCode(leastSquaresRefit(w, nan, mask), "CALIBRATION_INVALID");
    await expectCode(leastSquaresRefit(w, h, mask, { signal: AbortSignal.abort() }), "ABORTED");
    await expect(leastSquaresRefit(w, h, mask, { damping: -1 })).rejects.toThrow(RangeError);
    const e = await leastSquaresRefit(w, h, mask.subarray(1), { name: "blk.0.wq" }).catch(
      (x: unknown) => x as Error,
    );
    expect((e as Error).message).toMatchInlineSnapshot(
      `"blk.0.wq: mask length does not match the weight. Expected 10·24 = 240, got 239."`,
    );
  });
});

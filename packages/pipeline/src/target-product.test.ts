import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng, matrix } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { permuteStats } from "./channel-permutation.ts";
import { crossGramAccumulate } from "./dense-stream.ts";
import { denseTargetWeight } from "./dense-target.ts";
import { prune } from "./prune.ts";
import type { LinearInputStats } from "./stats.ts";
import { targetProductAccumulate, useTargetProduct } from "./target-product.ts";

/** A dense-stream input X and a pruned-stream input X̃ = X + a smaller perturbation; `dead` columns 0 in X̃. */
function streams(
  rows: number,
  cols: number,
  seed: number,
  dead: readonly number[] = [],
): { xp: Float32Array; xd: Float32Array } {
  const rng = createRng(seed);
  const scale = Float32Array.from({ length: cols }, () => 0.5 + rng.next());
  const xd = Float32Array.from({ length: rows * cols }, (_, k) => scale[k % cols]! * rng.normal());
  const xp = Float32Array.from(xd, (v) => v + 0.2 * rng.normal());
  for (let t = 0; t < rows; t++) for (const j of dead) xp[t * cols + j] = 0;
  return { xp, xd };
}

/** Independent float64 reference: Σ_t w_t·(W(x_t − x̃_t))·x̃_tᵀ, one token at a time. */
function productReference(
  xp: Float32Array,
  xd: Float32Array,
  w: Float32Array,
  rows: number,
  cols: number,
  out: number,
  rowWeights?: Float32Array,
): Float64Array {
  const acc = new Float64Array(out * cols);
  const e = new Float64Array(out);
  for (let t = 0; t < rows; t++) {
    const s = rowWeights?.[t] ?? 1;
    for (let o = 0; o < out; o++) {
      let v = 0;
      for (let c = 0; c < cols; c++) v += w[o * cols + c]! * (xd[t * cols + c]! - xp[t * cols + c]!);
      e[o] = s * v;
    }
    for (let o = 0; o < out; o++)
      for (let c = 0; c < cols; c++) acc[o * cols + c] = acc[o * cols + c]! + e[o]! * xp[t * cols + c]!;
  }
  return acc;
}

/** H̃ = X̃ᵀ·diag(w)·X̃ in float64 (full square). */
function gramOf(x: Float32Array, rows: number, cols: number, rowWeights?: Float32Array): Float64Array {
  const g = new Float64Array(cols * cols);
  for (let t = 0; t < rows; t++) {
    const s = rowWeights?.[t] ?? 1;
    for (let a = 0; a < cols; a++) {
      const xa = s * x[t * cols + a]!;
      if (xa === 0) continue;
      for (let b = 0; b < cols; b++) g[a * cols + b] = g[a * cols + b]! + xa * x[t * cols + b]!;
    }
  }
  return g;
}

const relMax = (got: ArrayLike<number>, want: ArrayLike<number>, scale?: number): number => {
  let err = 0;
  let s = 0;
  for (let k = 0; k < want.length; k++) {
    err = Math.max(err, Math.abs(got[k]! - want[k]!));
    s = Math.max(s, Math.abs(want[k]!));
  }
  return err / (scale ?? s);
};

describe("useTargetProduct", () => {
  it("picks the product only for one consumer, cols ≥ 512 and 2·out < cols", () => {
    expect(useTargetProduct(2048, 8192, 1)).toBe(true); // 1B down_proj
    expect(useTargetProduct(4096, 11008, 1)).toBe(true); // 7B down_proj
    expect(useTargetProduct(2048, 2048, 1)).toBe(false); // o_proj
    expect(useTargetProduct(8192, 2048, 2)).toBe(false); // gate/up
    expect(useTargetProduct(256, 512, 1)).toBe(false); // 2·out = cols: not cheaper
    expect(useTargetProduct(255, 512, 1)).toBe(true);
    expect(useTargetProduct(100, 511, 1)).toBe(false); // the JS path's width: the cross-Gram, bit for bit
    expect(useTargetProduct(100, 4096, 3)).toBe(false); // several consumers
  });
});

describe("targetProductAccumulate", () => {
  it("equals the float64 Σ_t w_t·W(x_t − x̃_t)·x̃_tᵀ and W·(C − H̃)ᵀ (chunks, sample weights, row blocks, accumulating)", async () => {
    const rows = 2300; // two chunks of 2048 rows, the second ragged
    const cols = 520;
    const out = 60;
    const { xp, xd } = streams(rows, cols, 3);
    const rng = createRng(4);
    const w = Float32Array.from({ length: out * cols }, () => rng.normal() / Math.sqrt(cols));
    const sw = Float32Array.from({ length: rows }, (_, t) => (t % 7 === 0 ? 0 : 0.5 + (t % 3) / 2));
    const want = productReference(xp, xd, w, rows, cols, out, sw);
    for (let k = 0; k < want.length; k++) want[k] = want[k]! + 0.75;
    const backend = await createWasmBackend();
    const got = new Float64Array(out * cols).fill(0.75);
    const blocked = new Float64Array(out * cols).fill(0.75);
    try {
      const scratch = {};
      await targetProductAccumulate(backend, xp, xd, w, rows, cols, out, got, sw, scratch);
      // Blocks of 8 rows of M per GEMM (8 ragged blocks at out = 60), reused scratch: the same sums.
      await targetProductAccumulate(backend, xp, xd, w, rows, cols, out, blocked, sw, scratch, 8 * cols);
    } finally {
      await backend.dispose?.();
    }
    expect(Array.from(blocked)).toEqual(Array.from(got));
    // Float32 operands and products, float64 accumulation.
    expect(relMax(got, want)).toBeLessThan(2e-5);
    // The identity the dense target relies on: M = W·(C − H̃)ᵀ with C = X̃ᵀ·diag(w)·X (float64 C, H̃).
    const c = new Float64Array(cols * cols);
    crossGramAccumulate(xp, xd, rows, cols, c, sw);
    const h = gramOf(xp, rows, cols, sw);
    const viaC = new Float64Array(out * cols).fill(0.75);
    for (let o = 0; o < out; o++)
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let a = 0; a < cols; a++) s += w[o * cols + a]! * (c[j * cols + a]! - h[j * cols + a]!);
        viaC[o * cols + j] = viaC[o * cols + j]! + s;
      }
    expect(relMax(viaC, want)).toBeLessThan(1e-9);
    // Not the transposed product (C is not symmetric): W·(C − H̃) is far off.
    let far = 0;
    for (let j = 0; j < 8; j++) {
      let s = 0.75;
      for (let a = 0; a < cols; a++) s += w[a]! * (c[a * cols + j]! - h[a * cols + j]!);
      far = Math.max(far, Math.abs(s - want[j]!));
    }
    expect(far).toBeGreaterThan(1e-2 * relMax(want, new Float64Array(want.length), 1));
  });

  it("names the wrong length", async () => {
    const backend = await createWasmBackend();
    try {
      await expect(
        targetProductAccumulate(
          backend,
          new Float32Array(4 * 600),
          new Float32Array(4 * 600),
          new Float32Array(3 * 600),
          4,
          600,
          2,
          new Float64Array(2 * 600),
        ),
      ).rejects.toThrow(
        /the weight and the accumulator \[out, cols\] = \[2, 600\].*got 2400, 2400, 1800, 1200/,
      );
    } finally {
      await backend.dispose?.();
    }
  });
});

describe("dense target from the product statistic", () => {
  it("gives the cross-Gram path's V (backend and float64 JS paths), dead inputs and the blend included", async () => {
    const rows = 96;
    const cols = 520;
    const tokens = 1400;
    const dead = [3, 77, 519];
    const { xp, xd } = streams(tokens, cols, 11, dead);
    const rng = createRng(12);
    const data = Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols));
    const W = matrix(rows, cols, data);
    const gram = gramOf(xp, tokens, cols);
    for (const j of dead) expect(gram[j * cols + j]).toBe(0);
    const cross = new Float64Array(cols * cols);
    crossGramAccumulate(xp, xd, tokens, cols, cross);
    const product = productReference(xp, xd, data, tokens, cols, rows);
    const backend = await createWasmBackend();
    try {
      for (const blend of [1, 0.35]) {
        const js = (await denseTargetWeight(W, gram, cross, 0.01, "t", blend)).target.data;
        const jsProduct = (await denseTargetWeight(W, gram, { targetProduct: product }, 0.01, "t", blend))
          .target.data;
        const viaC = (await denseTargetWeight(W, gram, cross, 0.01, "t", blend, backend)).target.data;
        const viaM = (await denseTargetWeight(W, gram, { targetProduct: product }, 0.01, "t", blend, backend))
          .target.data;
        // The correction V − W sets the scale of the float32 round-off (V = W + correction).
        let corr = 0;
        for (let k = 0; k < js.length; k++) corr = Math.max(corr, Math.abs(js[k]! - data[k]!));
        expect(corr).toBeGreaterThan(1e-2 * relMax(data, new Float32Array(data.length), 1));
        // float64 both ways: the same V to float32 rounding of V itself.
        expect(relMax(jsProduct, js)).toBeLessThan(1e-6);
        expect(relMax(viaM, js, corr)).toBeLessThan(2e-4);
        expect(relMax(viaC, js, corr)).toBeLessThan(2e-4);
        expect(relMax(viaM, viaC, corr)).toBeLessThan(2e-4);
        // The dead columns carry the fix H̃_jj → 1 (−α·W[:, j] in W·Dᵀ): there V − W ≈ −α·W/(1 + λ), so
        // a missing fix would be off by several % of the correction, far beyond the tolerance above.
        for (const j of dead) expect(Math.abs(viaM[j]! - data[j]!)).toBeGreaterThan(0);
      }
    } finally {
      await backend.dispose?.();
    }
  });

  it("a product statistic without the dead-input fix would be off in those columns (the fix is exercised)", async () => {
    const rows = 40;
    const cols = 520;
    const tokens = 900;
    const dead = [10, 200];
    const { xp, xd } = streams(tokens, cols, 21, dead);
    const rng = createRng(22);
    const data = Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols));
    const W = matrix(rows, cols, data);
    const gram = gramOf(xp, tokens, cols);
    const cross = new Float64Array(cols * cols);
    crossGramAccumulate(xp, xd, tokens, cols, cross);
    const product = productReference(xp, xd, data, tokens, cols, rows);
    const js = (await denseTargetWeight(W, gram, cross, 0.01, "t", 1)).target.data;
    const viaM = (await denseTargetWeight(W, gram, { targetProduct: product }, 0.01, "t", 1)).target.data;
    expect(relMax(viaM, js)).toBeLessThan(1e-6);
    // Same computation with the dead columns' H̃_jj = 0 kept (λ alone on them): V moves in those columns.
    const g1 = new Float64Array(gram);
    for (const j of dead) g1[j * cols + j] = 1e-30;
    const noFix = (await denseTargetWeight(W, g1, { targetProduct: product }, 0.01, "t", 1)).target.data;
    let moved = 0;
    for (let i = 0; i < rows; i++)
      moved = Math.max(moved, Math.abs(noFix[i * cols + 10]! - js[i * cols + 10]!));
    expect(moved).toBeGreaterThan(1e-3);
  });

  it("names a product of the wrong size", async () => {
    const W = matrix(2, 4, new Float32Array(8));
    await expect(
      denseTargetWeight(W, new Float64Array(16), { targetProduct: new Float64Array(4) }, 0.01, "q"),
    ).rejects.toThrow(/stats.targetProduct \[rows, cols\].*Expected 16 and 8 values, got 16 and 4/);
  });
});

describe("permuteStats with the product statistic", () => {
  it("permutes M's columns (copy and in place alike) as the input channels move", () => {
    const rows = 3;
    const cols = 8;
    const rng = createRng(31);
    const m = Float64Array.from({ length: rows * cols }, () => rng.normal());
    const perm = Int32Array.from([3, 0, 1, 2, 7, 5, 6, 4]);
    const stats: LinearInputStats = { cols, tokens: 1, weightSum: 1, targetProduct: m };
    const copy = permuteStats(stats, perm).targetProduct!;
    expect(copy).not.toBe(m);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < cols; j++) expect(copy[r * cols + j]).toBe(m[r * cols + perm[j]!]);
    const inPlace = permuteStats({ ...stats, targetProduct: new Float64Array(m) }, perm, true).targetProduct!;
    expect(Array.from(inPlace)).toEqual(Array.from(copy));
  });
});

describe("MAMA's dense target through the product statistic in a run", () => {
  it("takes it for a 520-wide down_proj only, and prunes like the cross-Gram path to round-off (0.5 and 2:4)", {
    timeout: 120_000,
  }, async () => {
    const shape = { hidden: 32, intermediate: 520, layers: 2, heads: 4, kvHeads: 2, vocab: 40 };
    const { checkpoint } = await randomModel({ ...shape, seed: 41 });
    const cal = randomWindows(4, 24, shape.vocab, 43);
    const backend = await createWasmBackend();
    try {
      for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
        const run = (statistic: "auto" | "cross-gram") =>
          prune({
            checkpoint,
            backend,
            method: "mama",
            sparsity,
            calibration: cal,
            batchSize: 2,
            // The wide path (sweep solver) as on the 1B shape; the exact path is slow at 520 wide.
            methodOptions: { denseTargetStatistic: statistic, path: "wide" },
          });
        const auto = await run("auto");
        const cross = await run("cross-gram");
        for (const r of auto.report.linears) {
          expect(r.denseTarget, r.name).toBe(r.linear === "down_proj" ? "product" : "cross-gram");
        }
        expect(cross.report.linears.every((r) => r.denseTarget === "cross-gram")).toBe(true);
        expect(auto.report.overallSparsity).toBe(cross.report.overallSparsity);
        let diffNorm = 0;
        let norm = 0;
        let maskDiff = 0;
        let bitsDiffer = 0;
        let count = 0;
        for (let l = 0; l < shape.layers; l++) {
          for (const name of LINEAR_NAMES) {
            const a = auto.model.getLinearWeight(l, name);
            const b = cross.model.getLinearWeight(l, name);
            if (l === 0 && name !== "down_proj") {
              // Block 0 before down_proj: the same statistics and code, bit for bit. Everything after
              // it (block 1 reads block 0's pruned down_proj) is compared to round-off below.
              expect(Array.from(a), `${l}.${name}`).toEqual(Array.from(b));
              continue;
            }
            for (let k = 0; k < a.length; k++) {
              diffNorm += (a[k]! - b[k]!) ** 2;
              norm += b[k]! ** 2;
              if ((a[k] === 0) !== (b[k] === 0)) maskDiff++;
              if (a[k] !== b[k]) bitsDiffer++;
              count++;
            }
          }
        }
        // The two statistics give V to float32 round-off (measured 3e-6 relative, the same masks).
        expect(Math.sqrt(diffNorm / norm)).toBeLessThan(1e-4);
        expect(maskDiff / count).toBeLessThan(1e-3);
        expect(bitsDiffer).toBeGreaterThan(0); // a different path did run
      }
    } finally {
      await backend.dispose?.();
    }
  });
});

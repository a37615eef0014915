import { createRng, matrix, SILENT_LOGGER } from "@mama-prune/core";
import { LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { leastSquaresRefit } from "@mama-prune/redistribute";
import { memoryCheckpointDir, readHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { crossGramAccumulate } from "./dense-stream.ts";
import { denseTargetWeight } from "./dense-target.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { MAMA_PIPELINE_DEFAULTS } from "./mama-method.ts";
import { swapRefineMask } from "./mask-swap.ts";
import { defineMethod, type LinearProcedureInput } from "./method.ts";
import { methodNeeds, resolveMethod } from "./methods.ts";
import { prune } from "./prune.ts";
import type { LinearInputStats } from "./stats.ts";
import { pruneToCheckpoint } from "./stream.ts";

// ---- Independent references (plain float64 loops, Gaussian elimination with partial pivoting) ----

function randn(rng: ReturnType<typeof createRng>, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.next(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return out;
}

/** Solve A x = b (A n×n, copied) by Gaussian elimination with partial pivoting. */
function gaussSolve(aIn: number[][], bIn: number[]): number[] {
  const n = bIn.length;
  const a = aIn.map((r) => [...r]);
  const b = [...bIn];
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < n; k++) a[r]![k]! -= f * a[c]![k]!;
      b[r]! -= f * b[c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r]![k]! * x[k]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}

/** A small dense-target problem: pruned inputs X̃ = X + noise (tokens t, cols n), weight (rows, n). */
function problem(seed: number, t: number, n: number, rows: number) {
  const rng = createRng(seed);
  const xd = Float32Array.from(randn(rng, t * n)); // (t, n) dense input X
  const noise = randn(rng, t * n);
  const xp = new Float32Array(t * n); // (t, n) pruned input X̃
  for (let i = 0; i < t * n; i++) xp[i] = xd[i]! + 0.3 * noise[i]!;
  const w = Float32Array.from(randn(rng, rows * n)); // (rows, n)
  const gram = new Float64Array(n * n);
  const cross = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let g = 0;
      let c = 0;
      for (let s = 0; s < t; s++) {
        g += xp[s * n + a]! * xp[s * n + b]!;
        c += xp[s * n + a]! * xd[s * n + b]!;
      }
      gram[a * n + b] = g;
      cross[a * n + b] = c;
    }
  }
  return { xd, xp, w, gram, cross, rng };
}

/** ‖X̃w' − Xw‖² + λ‖w' − w‖² for one row, brute force over the tokens. */
function denseLoss(
  p: { xd: Float32Array; xp: Float32Array },
  t: number,
  n: number,
  wRow: ArrayLike<number>,
  wNew: ArrayLike<number>,
  lambda: number,
): number {
  let loss = 0;
  for (let s = 0; s < t; s++) {
    let e = 0;
    for (let j = 0; j < n; j++) e += p.xp[s * n + j]! * wNew[j]! - p.xd[s * n + j]! * wRow[j]!;
    loss += e * e;
  }
  for (let j = 0; j < n; j++) loss += lambda * (wNew[j]! - wRow[j]!) ** 2;
  return loss;
}

describe("crossGramAccumulate", () => {
  it("equals the brute-force Σ_t w_t·x̃_t x_tᵀ over several batches, with and without sample weights", () => {
    const rng = createRng(3);
    const n = 5;
    for (const weighted of [false, true]) {
      const acc = new Float64Array(n * n);
      const ref = new Float64Array(n * n);
      for (const rows of [7, 4, 9]) {
        const xp = Float32Array.from(randn(rng, rows * n));
        const xd = Float32Array.from(randn(rng, rows * n));
        const rw = weighted ? Float32Array.from({ length: rows }, () => 2 * rng.next()) : undefined;
        crossGramAccumulate(xp, xd, rows, n, acc, rw);
        for (let s = 0; s < rows; s++) {
          const ws = rw === undefined ? 1 : rw[s]!;
          for (let a = 0; a < n; a++)
            for (let b = 0; b < n; b++) ref[a * n + b]! += ws * xp[s * n + a]! * xd[s * n + b]!;
        }
      }
      for (let i = 0; i < n * n; i++) expect(acc[i]!).toBeCloseTo(ref[i]!, 10);
      // Not symmetric: C = X̃ᵀX ≠ Cᵀ for two different streams.
      expect(Math.abs(acc[1]! - acc[n]!)).toBeGreaterThan(1e-3);
    }
    expect(() =>
      crossGramAccumulate(new Float32Array(3), new Float32Array(4), 2, 2, new Float64Array(4)),
    ).toThrow(/crossGramAccumulate: inputs must be \[rows, cols\]/);
  });
});

describe("denseTargetWeight: the dense-target refit", () => {
  const t = 40;
  const n = 8;
  const rows = 3;

  it("refit toward V solves (H̃_KK + λI)·w'_K = (C·w + λw)_K (independent normal equations in float64)", async () => {
    for (const damping of [0.01, 1e-9]) {
      const p = problem(11, t, n, rows);
      const W = matrix(rows, n, p.w);
      const mask = new Uint8Array(rows * n);
      for (let i = 0; i < rows * n; i++) mask[i] = p.rng.next() < 0.5 ? 0 : 1;
      mask[0] = 1; // at least one kept per row
      mask[n] = 1;
      mask[2 * n] = 1;
      const { target, lambda } = await denseTargetWeight(W, p.gram, p.cross, damping, "t");
      let diag = 0;
      for (let j = 0; j < n; j++) diag += p.gram[j * n + j]!;
      expect(lambda).toBeCloseTo((damping * diag) / n, 12);
      const r = await leastSquaresRefit(target, p.gram, mask, { damping, name: "t" });
      for (let i = 0; i < rows; i++) {
        const K: number[] = [];
        for (let j = 0; j < n; j++) if (mask[i * n + j] === 1) K.push(j);
        const w = Array.from(p.w.subarray(i * n, (i + 1) * n));
        const A = K.map((a) => K.map((b) => p.gram[a * n + b]! + (a === b ? lambda : 0)));
        const rhs = K.map((a) => {
          let s = lambda * w[a]!;
          for (let b = 0; b < n; b++) s += p.cross[a * n + b]! * w[b]!;
          return s;
        });
        const ref = gaussSolve(A, rhs);
        const got = r.weight.subarray(i * n, (i + 1) * n);
        let scale = 0;
        for (const v of ref) scale = Math.max(scale, Math.abs(v));
        K.forEach((j, q) => {
          expect(Math.abs(got[j]! - ref[q]!)).toBeLessThan(2e-5 * scale);
        });
        for (let j = 0; j < n; j++) if (mask[i * n + j] === 0) expect(got[j]).toBe(0);
        // And it is the minimiser of the brute-force loss: ‖X̃w' − Xw‖² (+ λ‖w' − w‖²) rises when moved.
        const base = denseLoss(p, t, n, w, got, lambda);
        for (const j of K) {
          const moved = Float64Array.from(got);
          moved[j]! += 1e-2;
          expect(denseLoss(p, t, n, w, moved, lambda)).toBeGreaterThan(base);
        }
        // The layer target (refit toward W) is a different, worse answer to this loss.
        const layer = await leastSquaresRefit(W, p.gram, mask, { damping, name: "t" });
        expect(denseLoss(p, t, n, w, layer.weight.subarray(i * n, (i + 1) * n), lambda)).toBeGreaterThan(
          base,
        );
      }
    }
  });

  it("keeps the swap pass exact: its loss change equals the brute-force dense-target loss change", async () => {
    const p = problem(21, t, n, rows);
    const W = matrix(rows, n, p.w);
    const damping = 0.01;
    const { target, lambda } = await denseTargetWeight(W, p.gram, p.cross, damping, "t");
    // A deliberately poor 2:4 mask: the first two of every four kept.
    const mask = new Uint8Array(rows * n);
    for (let i = 0; i < rows * n; i++) mask[i] = i % 4 < 2 ? 1 : 0;
    const s = swapRefineMask(target, p.gram, mask, { damping, nm: { n: 2, m: 4 } });
    expect(s.swaps).toBeGreaterThan(0);
    const before = await leastSquaresRefit(target, p.gram, mask, { damping, name: "t" });
    const after = await leastSquaresRefit(target, p.gram, s.mask, { damping, name: "t" });
    let trueBefore = 0;
    let trueAfter = 0;
    for (let i = 0; i < rows; i++) {
      const w = p.w.subarray(i * n, (i + 1) * n);
      trueBefore += denseLoss(p, t, n, w, before.weight.subarray(i * n, (i + 1) * n), lambda);
      trueAfter += denseLoss(p, t, n, w, after.weight.subarray(i * n, (i + 1) * n), lambda);
    }
    expect(trueAfter).toBeLessThan(trueBefore);
    const dTrue = trueBefore - trueAfter;
    const dSwap = s.lossBefore - s.lossAfter;
    expect(Math.abs(dSwap - dTrue)).toBeLessThan(1e-4 * trueBefore);
  });

  it("with X̃ = X (C = H̃) the target is W and MAMA's dense target picks the layer target's mask", async () => {
    const p = problem(31, t, n, 4);
    const W = matrix(4, n, p.w);
    const { target } = await denseTargetWeight(W, p.gram, p.gram, 0.01, "t");
    for (let i = 0; i < W.data.length; i++) expect(Math.abs(target.data[i]! - W.data[i]!)).toBeLessThan(1e-5);
    const stats: LinearInputStats = { cols: n, tokens: t, weightSum: t, gram: p.gram, crossGram: p.gram };
    const base = MAMA_PIPELINE_DEFAULTS.scorer;
    const input = { name: "t", weight: W, sparsity: 0.5, group: "row" as const, stats, log: console };
    const layer = await mamaLinearProcedure(mamaSettings({ steps: 4 }, base))(input);
    const dense = await mamaLinearProcedure(mamaSettings({ steps: 4, target: "dense" }, base))(input);
    expect(Array.from(dense.mask)).toEqual(Array.from(layer.mask));
    for (let i = 0; i < W.data.length; i++)
      expect(Math.abs(dense.weight[i]! - layer.weight[i]!)).toBeLessThan(1e-4);
  });

  it("targetBlend α moves the target linearly from W (α = 0) to the dense target (α = 1)", async () => {
    const p = problem(51, t, n, rows);
    const W = matrix(rows, n, p.w);
    const v1 = (await denseTargetWeight(W, p.gram, p.cross, 0.01, "t")).target.data;
    const v0 = (await denseTargetWeight(W, p.gram, p.cross, 0.01, "t", 0)).target.data;
    const vh = (await denseTargetWeight(W, p.gram, p.cross, 0.01, "t", 0.5)).target.data;
    let moved = 0;
    for (let i = 0; i < W.data.length; i++) {
      expect(Math.abs(v0[i]! - W.data[i]!)).toBeLessThan(1e-5);
      expect(Math.abs(vh[i]! - 0.5 * (v1[i]! + W.data[i]!))).toBeLessThan(1e-5);
      moved = Math.max(moved, Math.abs(v1[i]! - W.data[i]!));
    }
    expect(moved).toBeGreaterThan(1e-2);
    await expect(denseTargetWeight(W, p.gram, p.cross, 0.01, "t", 1.5)).rejects.toThrow(
      /targetBlend must be in \[0, 1\]/,
    );
  });

  it("without the cross-Gram takes X = X̃ (the layer target) and says so; refuses it without the refit", async () => {
    const p = problem(41, t, n, 2);
    const W = matrix(2, n, p.w);
    const stats: LinearInputStats = { cols: n, tokens: t, weightSum: t, gram: p.gram };
    const proc = mamaLinearProcedure(mamaSettings({ target: "dense" }, MAMA_PIPELINE_DEFAULTS.scorer));
    const layer = mamaLinearProcedure(mamaSettings({ target: "layer" }, MAMA_PIPELINE_DEFAULTS.scorer));
    const input = { name: "q", weight: W, sparsity: 0.5, group: "row", stats, log: SILENT_LOGGER } as const;
    const got = await proc(input);
    const want = await layer(input);
    expect(Array.from(got.weight)).toEqual(Array.from(want.weight));
    expect(got.warnings?.join("\n")).toMatch(/option target "dense" without stats\.crossGram/);
    expect(want.warnings?.join("\n") ?? "").not.toMatch(/crossGram/);
    expect(() => mamaSettings({ target: "dense", refit: false }, MAMA_PIPELINE_DEFAULTS.scorer)).toThrow(
      /option target "dense" needs the refit/,
    );
    expect(() => mamaSettings({ target: "outputs" as "dense" }, MAMA_PIPELINE_DEFAULTS.scorer)).toThrow(
      /option target must be "layer" or "dense"/,
    );
  });
});

describe("dense target in the pipeline", () => {
  const SHAPE = { hidden: 16, intermediate: 32, layers: 3, heads: 4, kvHeads: 2, vocab: 40 };

  it("declares the cross-Gram only when asked for (other methods and MAMA with target layer need nothing new)", () => {
    for (const m of ["magnitude", "wanda", "sparsegpt", "ria"]) {
      expect(methodNeeds(resolveMethod(m)).stats.crossGram, m).toBeUndefined();
    }
    expect(
      methodNeeds(resolveMethod("mama", { methodOptions: { target: "layer" } })).stats.crossGram,
    ).toBeUndefined();
    // MAMA's default (target "dense", targetBlend 0.35) asks for it.
    expect(methodNeeds(resolveMethod("mama")).stats.crossGram).toBe(true);
    expect(methodNeeds(resolveMethod("mama", { methodOptions: { target: "dense" } })).stats).toMatchObject({
      gram: true,
      crossGram: true,
    });
    // Overriding the redistribution bypasses MAMA's procedure, and with it the dense target's needs.
    const over = resolveMethod("mama", { methodOptions: { target: "dense" }, redistribution: "refit" });
    expect(methodNeeds(over).stats.crossGram).toBeUndefined();
  });

  it("accumulates C = X̃ᵀX of the pruned and the dense stream (brute force from both models' q_proj inputs)", async () => {
    const { checkpoint } = await randomModel({ ...SHAPE, seed: 7 });
    const cal = randomWindows(3, 6, SHAPE.vocab, 2);
    const seen: { layer: number; stats: LinearInputStats }[] = [];
    const probe = defineMethod({
      name: "probe-cross",
      label: "probe",
      scorer: () => ({
        name: "probe",
        apiVersion: 1,
        granularity: "element",
        requires: ["weights"],
        score: (ctx) => new Float32Array(ctx.weight.data.length),
      }),
      group: "row",
      redistribution: "none",
      stats: () => ({ crossGram: true }),
      linear: () => async (i: LinearProcedureInput) => {
        if (i.name.endsWith("q_proj.weight")) {
          seen.push({ layer: Number(/layers\.(\d+)\./.exec(i.name)![1]), stats: i.stats! });
        }
        const w = new Float32Array(i.weight.data);
        const mask = new Uint8Array(w.length).fill(1);
        for (let k = 0; k < w.length; k += 2) {
          w[k] = 0;
          mask[k] = 0;
        }
        return { weight: w, mask, redistribution: "none" };
      },
    });
    const { model: pruned } = await prune({
      checkpoint,
      method: probe,
      sparsity: 0.5,
      calibration: cal,
      batchSize: 2,
    });
    const dense = await loadLlama(checkpoint);
    const H = SHAPE.hidden;
    const qInputs = async (m: typeof dense, layer: number): Promise<Float32Array> => {
      let h = m.embed(cal.tokens);
      let got: Float32Array | undefined;
      for (let l = 0; l <= layer; l++) {
        h = await m.runBlock(l, h, cal.nsamples, cal.seqlen, {
          onLinearInput: (name, x) => {
            if (l === layer && name === "q_proj") got = new Float32Array(x);
          },
        });
      }
      return got!;
    };
    expect(seen.map((s) => s.layer)).toEqual([0, 1, 2]);
    const tokens = cal.nsamples * cal.seqlen;
    for (const layer of [0, 2]) {
      const xp = await qInputs(pruned, layer);
      const xd = await qInputs(dense, layer);
      const c = seen[layer]!.stats.crossGram!;
      const g = seen[layer]!.stats.gram;
      expect(g).toBeUndefined(); // the probe asked for C only
      let maxDiff = 0;
      let scale = 0;
      for (let a = 0; a < H; a++) {
        for (let b = 0; b < H; b++) {
          let ref = 0;
          for (let s = 0; s < tokens; s++) ref += xp[s * H + a]! * xd[s * H + b]!;
          maxDiff = Math.max(maxDiff, Math.abs(c[a * H + b]! - ref));
          scale = Math.max(scale, Math.abs(ref));
        }
      }
      expect(maxDiff).toBeLessThan(1e-9 * scale);
      // Block 0: both streams are the embedding, C is symmetric; block 2: the streams differ.
      let asym = 0;
      for (let a = 0; a < H; a++)
        for (let b = 0; b < H; b++) asym = Math.max(asym, Math.abs(c[a * H + b]! - c[b * H + a]!));
      if (layer === 0) expect(asym).toBeLessThan(1e-9 * scale);
      else expect(asym).toBeGreaterThan(1e-3 * scale);
    }
  });

  it("MAMA target dense: runs resident and streaming alike (same weights bit for bit), and differs from target layer", async () => {
    const { checkpoint } = await randomModel({ ...SHAPE, seed: 5 });
    const cal = randomWindows(3, 10, SHAPE.vocab, 13);
    const opts = {
      method: "mama",
      sparsity: 0.5,
      calibration: cal,
      methodOptions: { target: "dense", targetBlend: 1 },
    } as const;
    const mem = await prune({ checkpoint, ...opts });
    const base = await prune({
      checkpoint,
      method: "mama",
      sparsity: 0.5,
      calibration: cal,
      methodOptions: { target: "layer" },
    });
    const out = memoryCheckpointDir("streamed-dense");
    await pruneToCheckpoint(out, { checkpoint, ...opts, format: "dense" });
    const back = await readHfCheckpoint(out);
    let differs = 0;
    for (let l = 0; l < SHAPE.layers; l++) {
      for (const name of LINEAR_NAMES) {
        const got = await back.readF32(mem.model.parameterName(l, name));
        const want = mem.model.getLinearWeight(l, name);
        expect(Array.from(got), `${l}.${name}`).toEqual(Array.from(want));
        const b = base.model.getLinearWeight(l, name);
        for (let k = 0; k < b.length; k++) if (b[k] !== want[k]) differs++;
      }
    }
    expect(mem.report.overallSparsity).toBe(base.report.overallSparsity);
    // Block 0's linears see X̃ = X: only later blocks move (and they do).
    expect(differs).toBeGreaterThan(0);
  });
});
